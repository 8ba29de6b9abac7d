"""Shared helpers: small configs that run in seconds on a CPU."""

from __future__ import annotations

import pytest

from gpu_sac import SACConfig


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


@pytest.fixture
def tiny():
    return tiny_config
