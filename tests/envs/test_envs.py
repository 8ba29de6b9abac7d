"""Environments: pure-JAX Pendulum matches Gymnasium's Pendulum-v1; every listed name is known to
its library."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from gpu_sac import envs
from gpu_sac.envs.pendulum import Pendulum, State


def test_pendulum_matches_gymnasium_step_for_step():
    ours = Pendulum()
    step = jax.jit(ours.step)
    theirs = gym.make("Pendulum-v1").unwrapped
    theirs.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        th, thdot = rng.uniform(-np.pi * 3, np.pi * 3), rng.uniform(-8, 8)
        u = rng.uniform(-3, 3)  # beyond the bounds too: both clip to ±2
        theirs.state = np.array([th, thdot])
        obs, reward, terminated, truncated, _ = theirs.step(np.array([u], np.float32))
        s = State(jnp.array([th, thdot], jnp.float32), jnp.zeros(3), jnp.zeros(()), jnp.zeros(()))
        out = step(s, jnp.array([u], jnp.float32))
        np.testing.assert_allclose(np.asarray(out.obs), obs, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(float(out.reward), reward, rtol=1e-4, atol=1e-4)
        assert not terminated and float(out.done) == 0.0


def test_pendulum_reset_and_bounds_match_gymnasium():
    theirs = gym.make("Pendulum-v1")
    np.testing.assert_array_equal(np.asarray(Pendulum.action_bounds[0]), theirs.action_space.low)
    np.testing.assert_array_equal(np.asarray(Pendulum.action_bounds[1]), theirs.action_space.high)
    assert theirs.spec.max_episode_steps == 200
    states = jax.vmap(Pendulum().reset)(jax.random.split(jax.random.PRNGKey(0), 2000)).pipeline_state
    assert np.all(np.abs(np.asarray(states[:, 0])) <= np.pi) and np.all(np.abs(np.asarray(states[:, 1])) <= 1.0)
    assert np.asarray(states[:, 0]).std() > 1.5  # spread over [−π, π]


def test_names_list_every_env_kind():
    names = envs.names()
    assert "pendulum" in names and "halfcheetah" in names and "CheetahRun" in names
    assert len(set(names)) == len(names)


def test_brax_and_playground_names_match_their_registries():
    from brax import envs as brax_envs
    from mujoco_playground import dm_control_suite

    assert set(envs.BRAX_ENVS) == set(brax_envs._envs) - {"fast"}
    assert set(envs.PLAYGROUND_ENVS) == set(dm_control_suite.ALL_ENVS)


def test_make_builds_brax_mjx_and_playground_jax_envs():
    cheetah = envs.make("halfcheetah")
    assert (cheetah.observation_size, cheetah.action_size) == (17, 6)
    assert cheetah.backend == "mjx"
    run = envs.make("CheetahRun")
    assert run.action_size == 6 and run._config.impl == "jax"


def test_registry_makes_each_family_from_the_config_and_has_its_preset():
    from gpu_sac import SACConfig

    assert envs.spec("halfcheetah").family == "brax" and envs.spec("CheetahRun").family == "playground"
    assert envs.preset("pendulum")["episode_length"] == 200
    assert isinstance(envs.make_env(SACConfig(env="pendulum")), Pendulum)
    with pytest.raises(ValueError, match="unknown env 'nope'.*pendulum"):
        envs.spec("nope")


def test_an_env_without_the_interface_is_refused_by_name():
    from gpu_sac import train

    with pytest.raises(ValueError, match=r"object is not a gpu_sac env: it lacks reset, step, observation_size, "
                                         r"action_size"):
        train(tiny_config(), env=object())


@pytest.mark.parametrize("wrap", ["brax_episode", "brax_autoreset", "playground"])
def test_an_env_wrapped_for_training_is_refused(wrap):
    """Through those wrappers every time limit would reach the trainer as a termination, and the final
    observation would already be replaced by the reset one."""
    from brax.envs.wrappers import training as brax_training
    from mujoco_playground._src import wrapper as playground_wrapper

    from gpu_sac import train

    env = Pendulum()
    if wrap == "brax_episode":
        env = brax_training.EpisodeWrapper(env, 100, 1)
    elif wrap == "brax_autoreset":
        env = brax_training.AutoResetWrapper(brax_training.EpisodeWrapper(brax_training.VmapWrapper(env), 100, 1))
    else:
        env = playground_wrapper.BraxAutoResetWrapper(brax_training.EpisodeWrapper(env, 100, 1))
    with pytest.raises(ValueError, match="env is wrapped for training.*Pass the raw env"):
        train(tiny_config(), env=env)


def test_custom_env_name_trains_an_env_of_your_own_and_needs_one():
    from gpu_sac import SACConfig, train

    config = tiny_config(env="custom", eval_episodes=1)
    assert SACConfig(env="custom").gamma == 0.99  # no preset: the seed's defaults
    result = train(config, env=Pendulum(g=9.81))
    assert np.isfinite(result.history[-1]["critic_loss"])
    with pytest.raises(ValueError, match="env='custom' has no maker: pass your env object"):
        train(config)
