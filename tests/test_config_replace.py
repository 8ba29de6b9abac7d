"""SACConfig's fields declared once, and `dataclasses.replace(config, env=...)`: the new env's preset for
the fields the caller never set, the caller's values for the rest."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from gpu_sac import SACConfig
from gpu_sac.cli import parse_train_args
from gpu_sac.config import FIELD_CHECKS, SEED_DEFAULTS


def test_every_field_but_env_has_one_seed_default_and_one_check():
    names = [f.name for f in dataclasses.fields(SACConfig)]
    # env and preset choose the preset; every other field has a seed default and a check.
    assert names[:2] == ["env", "preset"] and list(SEED_DEFAULTS) == names[2:] and list(FIELD_CHECKS) == names[2:]
    # A Literal field's choices are read from its annotation.
    assert FIELD_CHECKS["lr_schedule"].allowed == "must be one of constant, linear, cosine"
    assert FIELD_CHECKS["brax_backend"].allowed == "must be one of mjx, generalized, positional, spring"


def test_changing_env_gives_the_new_envs_preset_to_the_fields_the_caller_never_set():
    pendulum = SACConfig(env="pendulum")
    assert dataclasses.replace(pendulum, env="CheetahRun") == SACConfig(env="CheetahRun")
    assert dataclasses.replace(pendulum, env="halfcheetah") == SACConfig(env="halfcheetah")
    assert dataclasses.replace(dataclasses.replace(pendulum, env="CheetahRun"), env="pendulum") == pendulum


def test_changing_env_keeps_the_fields_the_caller_set():
    # Set when the config was made.
    mine = SACConfig(env="pendulum", batch_size=64, min_replay_size=128, total_steps=5_000)
    expected = SACConfig(env="CheetahRun", batch_size=64, min_replay_size=128, total_steps=5_000)
    assert dataclasses.replace(mine, env="CheetahRun") == expected
    # Set in the replace call that changes env.
    assert dataclasses.replace(SACConfig(env="pendulum"), env="CheetahRun", num_envs=16) == SACConfig(
        env="CheetahRun", num_envs=16)
    # Set in an earlier replace that kept the env.
    earlier = dataclasses.replace(SACConfig(env="pendulum"), total_steps=5_000, gamma=0.9)
    assert dataclasses.replace(earlier, env="CheetahRun") == SACConfig(env="CheetahRun", total_steps=5_000, gamma=0.9)


def test_a_config_with_every_field_set_changes_only_what_replace_is_given():
    # config.json and the command line give every field: none was filled from a preset.
    explicit = SACConfig(**SACConfig(env="pendulum").to_dict())
    moved = dataclasses.replace(explicit, env="CheetahRun")
    assert moved.to_dict() == dict(SACConfig(env="pendulum").to_dict(), env="CheetahRun")


def test_the_record_of_filled_fields_is_invisible():
    c = SACConfig(env="pendulum")
    explicit = SACConfig(**c.to_dict())  # the same values, none of them filled
    assert c == explicit and hash(c) == hash(explicit) and repr(c) == repr(explicit)
    assert list(c.to_dict()) == [f.name for f in dataclasses.fields(SACConfig)]
    assert "preset_fill" not in repr(c) and "_preset_fill" not in c.to_dict()
    for clone in (pickle.loads(pickle.dumps(c)), copy.deepcopy(c)):
        assert clone == c
        assert dataclasses.replace(clone, env="CheetahRun") == SACConfig(env="CheetahRun")


def test_the_command_line_does_not_show_the_record(capsys):
    with pytest.raises(SystemExit):
        parse_train_args(["--help"])
    text = capsys.readouterr().out
    assert "preset-fill" not in text and "preset_fill" not in text
    # (32: a value neither of CheetahRun's presets gives, so that the flag can be told from a filled value.)
    config, _ = parse_train_args(["--env", "CheetahRun", "--num-envs", "32"])
    assert config == SACConfig(env="CheetahRun", num_envs=32)
    # The flags given count as set, the rest as filled from the preset.
    assert dataclasses.replace(config, env="pendulum") == SACConfig(env="pendulum", num_envs=32)
