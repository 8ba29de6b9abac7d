"""Playground's domain randomisation, drawn per episode (gpu_sac/envs/domain_randomization.py): on a pure-JAX stand-in
for a Playground env (fast), through the config, and on Go1 itself (slow)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from gpu_sac.envs.domain_randomization import INFO_KEY, RandomizedEnv


@struct.dataclass
class State:
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    info: dict


class ModelEnv:
    """A stand-in for a Playground MjxEnv: its model is `_mjx_model`, which reset and step read."""

    action_size = 1
    observation_size = 2

    def __init__(self):
        self._mjx_model = {"friction": jnp.array([1.0, 0.5]), "mass": jnp.array(2.0)}

    @property
    def unwrapped(self):
        return self

    def reset(self, key):
        m = self._mjx_model
        return State(obs=m["friction"] * m["mass"], reward=jnp.zeros(()), done=jnp.zeros(()), info={"t": 0})

    def step(self, state, action):
        m = self._mjx_model
        return state.replace(obs=state.obs + action, reward=m["friction"][0] * m["mass"], info={**state.info, "t": 1})


def randomize(model, keys):
    """As Playground's randomizers: E models (friction drawn per key), and which fields vary."""
    friction = jax.vmap(lambda k: model["friction"].at[0].set(jax.random.uniform(k, minval=0.4, maxval=1.0)))(keys)
    return {"friction": friction, "mass": model["mass"]}, {"friction": 0, "mass": None}


def test_each_reset_draws_its_model_and_step_runs_in_it():
    inner = ModelEnv()
    env = RandomizedEnv(inner, randomize)
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    state = jax.jit(jax.vmap(env.reset))(keys)
    drawn = np.asarray(state.info[INFO_KEY][0])  # the drawn friction of each env, (8, 2)
    assert drawn.shape == (8, 2) and len(set(drawn[:, 0])) == 8 and np.all((drawn[:, 0] >= 0.4) & (drawn[:, 0] <= 1.0))
    np.testing.assert_allclose(drawn[:, 1], 0.5)  # the fields the randomizer keeps are the model's
    np.testing.assert_allclose(np.asarray(state.obs), drawn * 2.0)  # reset ran in the drawn model
    state = jax.jit(jax.vmap(env.step))(state, jnp.zeros((8, 1)))
    np.testing.assert_allclose(np.asarray(state.reward), drawn[:, 0] * 2.0)  # so did step
    np.testing.assert_array_equal(np.asarray(state.info[INFO_KEY][0]), drawn)  # kept for the episode
    assert float(inner._mjx_model["friction"][0]) == 1.0  # the env's own model is left as it was
    again = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(1), 8))  # a new episode, new draws
    assert not np.allclose(np.asarray(again.info[INFO_KEY][0])[:, 0], drawn[:, 0])


def test_domain_randomization_is_refused_for_envs_without_it():
    from gpu_sac import ConfigError, SACConfig

    with pytest.raises(ConfigError, match="domain_randomization"):
        SACConfig(env="halfcheetah", domain_randomization=True)
    assert SACConfig(env="Go1JoystickFlatTerrain", domain_randomization=True).domain_randomization


@pytest.mark.slow
def test_go1_envs_each_draw_their_floor_friction():
    from gpu_sac import envs

    env = envs.make("Go1JoystickFlatTerrain", domain_randomization=True)
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 2))
    frictions = [np.asarray(leaf) for leaf in state.info[INFO_KEY] if leaf.ndim == 3]  # geom_friction (2, ngeom, 3)
    assert frictions and not np.allclose(frictions[0][0], frictions[0][1])
    assert state.obs.shape == (2, 123) and np.all(np.isfinite(np.asarray(state.obs)))
