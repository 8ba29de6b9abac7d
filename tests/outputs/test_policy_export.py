"""The exported policy against an independent forward pass: load_policy's actions equal numpy's
Dense-ReLU MLP over the trained agent's actor params, observations normalised with the trained
statistics (clipped at ±10), tanh of the mean head, scaled affinely to the env's bounds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config
from flax import serialization

from gpu_sac import load_policy, train
from gpu_sac.envs.pendulum import State  # a Brax-style state pytree: the PRNG key rides in pipeline_state
from gpu_sac.outputs.export import export_policy

OFFSET = np.array([5.0, -3.0, 0.0], np.float32)
SCALE = np.array([2.0, 0.5, 10.0], np.float32)
LOW, HIGH = np.array([-1.0, 0.0], np.float32), np.array([3.0, 0.5], np.float32)


class ShiftedEnv:
    """Observations OFFSET + SCALE·N(0, 1) (so normalisation matters), two actions with asymmetric bounds."""

    observation_size = 3
    action_size = 2
    action_bounds = (jnp.asarray(LOW), jnp.asarray(HIGH))

    def reset(self, key):
        key, obs_key = jax.random.split(key)
        obs = OFFSET + SCALE * jax.random.normal(obs_key, (3,))
        return State(key, obs, jnp.zeros(()), jnp.zeros(()))

    def step(self, state, action):
        key, obs_key = jax.random.split(state.pipeline_state)
        obs = OFFSET + SCALE * jax.random.normal(obs_key, (3,))
        reward = -jnp.sum((action - 0.3 * state.obs[:2]) ** 2)
        return state.replace(pipeline_state=key, obs=obs, reward=reward)


def numpy_policy(actor_params, stats, obs, low=LOW, high=HIGH):
    """Deterministic action in [low, high] by hand, in float64."""
    params = jax.tree.map(lambda x: np.asarray(x, np.float64), actor_params)["params"]
    x = np.asarray(obs, np.float64)
    if stats is not None:
        mean, var = (np.asarray(v, np.float64) for v in stats)
        x = np.clip((x - mean) / np.sqrt(var + 1e-8), -10.0, 10.0)
    mlp = params["MLP_0"]
    for i in range(len(mlp)):
        x = np.maximum(x @ mlp[f"Dense_{i}"]["kernel"] + mlp[f"Dense_{i}"]["bias"], 0.0)
    mean_action = np.tanh(x @ params["mean"]["kernel"] + params["mean"]["bias"])
    return low + (mean_action + 1.0) * 0.5 * (high - low)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    config = tiny_config(num_seeds=2, normalize_observations=True, hidden_sizes=(16, 8), total_steps=128,
                         steps_per_chunk=128, eval_episodes=0)
    result = train(config, env=ShiftedEnv())
    path = tmp_path_factory.mktemp("policy")
    export_policy(path, config, result.state.agent, LOW, HIGH, 3, 2)
    return path, jax.device_get(result.state.agent)


def test_loaded_policy_acts_as_a_numpy_forward_pass_of_the_trained_actor(exported):
    path, agent = exported
    rng = np.random.default_rng(0)
    obs = (OFFSET + SCALE * rng.normal(size=(64, 3))).astype(np.float32)
    obs[0] = [1e3, -1e3, 0.0]  # beyond ±10σ: clipped after normalisation
    for i in (0, 1):
        actor = jax.tree.map(lambda x, i=i: x[i], agent.actor_params)
        stats = (agent.obs_stats.mean[i], agent.obs_stats.var[i])
        act = load_policy(path, agent=i)
        got = np.asarray(jax.jit(act)(jnp.asarray(obs)))
        np.testing.assert_allclose(got, numpy_policy(actor, stats, obs), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(act(jnp.asarray(obs[3]))), numpy_policy(actor, stats, obs[3]),
                                   rtol=1e-5, atol=1e-5)
        assert np.all(got >= LOW) and np.all(got <= HIGH)
        # The comparison can tell: skipping normalisation, or the other agent, gives other actions.
        assert np.abs(got - numpy_policy(actor, None, obs)).max() > 1e-2
        other = jax.tree.map(lambda x, i=i: x[1 - i], agent.actor_params)
        assert np.abs(got - numpy_policy(other, stats, obs)).max() > 1e-2
    # The statistics are the trained ones (not the identity), and the clip is reached.
    assert np.abs(np.asarray(agent.obs_stats.mean[0]) - OFFSET).max() < 1.5
    z = (obs[0] - np.asarray(agent.obs_stats.mean[0])) / np.sqrt(np.asarray(agent.obs_stats.var[0]) + 1e-8)
    assert np.abs(z).max() > 10


def test_exported_file_holds_the_trained_actor_params_and_statistics(exported):
    path, agent = exported
    payload = serialization.msgpack_restore((path / "policy.msgpack").read_bytes())
    for a, b in zip(jax.tree.leaves(payload["actor_params"]), jax.tree.leaves(agent.actor_params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(payload["obs_stats"]["mean"], np.asarray(agent.obs_stats.mean))
    np.testing.assert_array_equal(payload["obs_stats"]["var"], np.asarray(agent.obs_stats.var))
    np.testing.assert_array_equal(payload["low"], LOW)
    np.testing.assert_array_equal(payload["high"], HIGH)
