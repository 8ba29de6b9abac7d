"""Shared helpers: small configs that run in seconds on a CPU."""

from __future__ import annotations

import os
import tempfile

# Runs through run_experiment turn JAX's persistent compilation cache on (gpu_sac.run.compile_cache):
# the suite's go to a folder of its own, not the user's ~/.cache (set before jax is imported).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="gpu_sac_tests_xla_"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from flax import struct  # noqa: E402

from gpu_sac import RunOptions, SACConfig  # noqa: E402

# A run directory with nothing but its records and checkpoints (no bar, video or TensorBoard log).
QUIET = RunOptions(progress="none", video=False, tensorboard=False)


def tiny_config(**overrides) -> SACConfig:
    """Pendulum with small networks and a short run: compiles and runs in a few seconds."""
    fields = dict(
        env="pendulum",
        total_steps=256,
        num_envs=4,
        steps_per_chunk=128,
        hidden_sizes=(32, 32),
        batch_size=32,
        buffer_size=1024,
        min_replay_size=64,
        start_steps=64,
        eval_episodes=2,
        episode_length=50,
    )
    fields.update(overrides)
    return SACConfig(**fields)


def random_batch(key: int, size: int, obs_dim: int, act_dim: int, discount: float = 0.99):
    """A Transition of `size` random rows (gpu_sac.replay.transition.random_transitions from PRNGKey(key))."""
    import jax

    from gpu_sac.replay.transition import random_transitions

    return random_transitions(jax.random.PRNGKey(key), size, obs_dim, act_dim, discount)


@pytest.fixture
def tiny():
    return tiny_config


def assert_trees_equal(a, b):
    """Same keypaths, dtypes, shapes and bytes, leaf by leaf."""
    la, lb = jax.tree_util.tree_flatten_with_path(a)[0], jax.tree_util.tree_flatten_with_path(b)[0]
    assert [jax.tree_util.keystr(p) for p, _ in la] == [jax.tree_util.keystr(p) for p, _ in lb]
    for (path, x), (_, y) in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape, jax.tree_util.keystr(path)
        assert x.tobytes() == y.tobytes(), f"{jax.tree_util.keystr(path)} differs"


@struct.dataclass
class CounterState:
    pipeline_state: jax.Array  # (2,): [step in episode, start value drawn at reset]
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    metrics: dict = struct.field(default_factory=dict)
    info: dict = struct.field(default_factory=dict)


class CounterEnv:
    """obs = [t, start]; reward = t after the step; terminates when t reaches terminate_at.

    `start` is drawn from the reset key, so a fresh key gives a new episode start."""

    observation_size = 2
    action_size = 1

    def __init__(self, terminate_at: int = 10**9):
        self.terminate_at = terminate_at

    def reset(self, key):
        start = jax.random.uniform(key, ())
        s = jnp.stack([jnp.zeros(()), start])
        return CounterState(s, s, jnp.zeros(()), jnp.zeros(()))

    def step(self, state, action):
        t = state.pipeline_state[0] + 1
        s = jnp.stack([t, state.pipeline_state[1]])
        return state.replace(pipeline_state=s, obs=s, reward=t, done=(t >= self.terminate_at).astype(jnp.float32))
