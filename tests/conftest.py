"""Shared helpers: small configs that run in seconds on a CPU."""

from __future__ import annotations

import os
import tempfile

# Runs through run_experiment turn JAX's persistent compilation cache on (gpu_sac.run.compile_cache):
# the suite's go to a folder of its own, not the user's ~/.cache (set before jax is imported).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="gpu_sac_tests_xla_"))

import pytest  # noqa: E402

from gpu_sac import SACConfig  # noqa: E402


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
