"""Property-based fuzz of SACConfig: any mix of field values, sensible, extreme or of the wrong type,
either makes a config or raises ConfigError naming a field; never another exception. Derandomised with
a fixed budget, so that it is the same test on every run and takes seconds."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gpu_sac.config import SEED_DEFAULTS, ConfigError, SACConfig  # noqa: E402

FIELDS = list(SEED_DEFAULTS)

ints = st.one_of(
    st.integers(-3, 70),
    st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63), 10**22]),
    st.integers(),
)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 1.0, -1.0, 1e308]))
scalars = st.one_of(ints, floats, st.booleans(), st.none(), st.text(max_size=6),
                    st.sampled_from(["scalar", "c51", "min", "mean", "compact", "future", "relu", "bfloat16"]))
numpy_values = st.one_of(
    ints.filter(lambda v: -(2**63) <= v < 2**63).map(np.int64),
    st.integers(0, 2**32 - 1).map(np.uint32),
    st.floats(width=32).map(np.float32),
    st.booleans().map(np.bool_),
    st.lists(st.integers(-5, 5), min_size=0, max_size=3).map(np.array),
    st.just(np.zeros((2, 2))),
)
values = st.one_of(
    scalars,
    numpy_values,
    st.lists(st.one_of(ints, floats, numpy_values), max_size=3).map(tuple),
    st.lists(ints, max_size=3),
    st.dictionaries(st.text(max_size=3), ints, max_size=2),
)


@st.composite
def field_sets(draw):
    """A few fields given values from anywhere; the rest left to the preset."""
    names = draw(st.lists(st.sampled_from(FIELDS), max_size=6, unique=True))
    fields = {name: draw(values) for name in names}
    # Some sensible values too, so that configs get past the per-field checks into the relations.
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        default = SEED_DEFAULTS[name]
        if isinstance(default, bool) or not isinstance(default, int):
            continue
        fields[name] = draw(st.one_of(st.integers(1, 4096), st.just(default)))
    env = draw(st.sampled_from(["pendulum", "point_reach", "pendulum", 3, "nope", None]))
    preset = draw(st.sampled_from(["auto", "cpu", "gpu", "tpu", 1]))
    return dict(env=env, preset=preset, **fields)


@settings(max_examples=400, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(field_sets())
def test_every_config_validates_or_raises_config_error(fields):
    try:
        config = SACConfig(**fields)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message and "=" in message.split(" ")[0], message  # one line, naming the field
        return
    # A config that validates holds plain values, a JSON record of them, and a run within int32.
    record = config.to_dict()
    for name, value in record.items():
        assert not isinstance(value, np.generic | np.ndarray), (name, value)
    assert config.seed + config.num_seeds - 1 < 2**32
    assert config.num_chunks * config.iterations_per_chunk < 2**31 and config.total_updates < 2**31
    for name in ("gamma", "tau", "actor_lr", "critic_lr", "alpha_lr", "init_alpha"):
        assert math.isfinite(getattr(config, name))
    assert dataclasses.replace(config) == config
