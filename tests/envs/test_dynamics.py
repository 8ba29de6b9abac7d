"""Changed dynamics as env options (mass_scale, friction_scale, actuator_scale) for Brax envs."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from gpu_sac import ConfigError, SACConfig, envs
from gpu_sac.cli import parse_train_args


def test_scales_reach_the_model_and_its_derived_constants():
    plain = envs.make_env(SACConfig(env="halfcheetah"))
    config = SACConfig(env="halfcheetah", mass_scale=1.5, friction_scale=0.5, actuator_scale=2.0)
    changed = envs.make_env(config)
    a, b = plain.sys, changed.sys
    np.testing.assert_allclose(np.asarray(b.body_mass), 1.5 * np.asarray(a.body_mass), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(b.body_inertia), 1.5 * np.asarray(a.body_inertia), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(b.body_subtreemass), 1.5 * np.asarray(a.body_subtreemass), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(b.geom_friction), 0.5 * np.asarray(a.geom_friction), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(b.actuator_gear), 2.0 * np.asarray(a.actuator_gear), rtol=1e-6)
    # Derived by mj_setConst, not scaled by hand: joint armature does not scale with mass.
    assert not np.allclose(np.asarray(b.dof_invweight0), np.asarray(a.dof_invweight0))
    np.testing.assert_allclose(np.asarray(b.mj_model.body_mass), np.asarray(b.body_mass), rtol=1e-6)
    assert config.to_dict()["mass_scale"] == 1.5  # recorded in the run's config


def test_cli_flags_and_bad_values():
    config, _ = parse_train_args(["--env", "hopper", "--mass-scale", "1.25"])
    assert config.mass_scale == 1.25
    with pytest.raises(ConfigError, match="mass_scale=2.0 is invalid: must be 1.0 for env='pendulum'"):
        SACConfig(env="pendulum", mass_scale=2.0)
    with pytest.raises(ConfigError, match="friction_scale=0.0 is invalid: must be a finite number > 0"):
        SACConfig(env="halfcheetah", friction_scale=0.0)


@pytest.mark.slow
def test_a_heavier_cheetah_moves_differently():
    """The same reset and action give another next state once the masses are doubled."""
    states = []
    for scale in (1.0, 2.0):
        env = envs.make_env(SACConfig(env="halfcheetah", mass_scale=scale))
        state = jax.jit(env.reset)(jax.random.PRNGKey(0))
        step = jax.jit(env.step)
        for _ in range(5):
            state = step(state, np.ones(env.action_size, np.float32))
        states.append(np.asarray(state.obs))
    assert np.all(np.isfinite(states[1]))
    assert not np.allclose(states[0], states[1], atol=1e-3)


def test_a_checkpoint_from_before_these_fields_still_resumes():
    """A config saved before a field existed ran with its default: resuming it with the default is fine,
    with another value it is refused."""
    from gpu_sac.store.checkpoint import ConfigMismatch, check_config

    config = SACConfig(env="halfcheetah")
    saved = {k: v for k, v in config.to_dict().items() if k not in ("mass_scale", "friction_scale", "actuator_scale")}
    check_config(saved, config)
    with pytest.raises(ConfigMismatch, match="mass_scale"):
        check_config(saved, SACConfig(env="halfcheetah", mass_scale=2.0))
