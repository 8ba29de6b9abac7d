"""Real MuJoCo envs end to end: a Brax MJX env and a MuJoCo Playground env (MJX impl) train a few
chunks with finite metrics. Tiny configs: MJX compiles in tens of seconds on a CPU."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_sac import SACConfig, train

TINY_MJX = dict(
    num_envs=8,
    total_steps=8 * 60,
    steps_per_chunk=8 * 20,  # one 20-step episode per env per chunk
    episode_length=20,
    hidden_sizes=(32, 32),
    batch_size=32,
    buffer_size=4096,
    min_replay_size=64,
    start_steps=64,
    eval_episodes=2,
)


@pytest.mark.parametrize("env", ["halfcheetah", "CheetahRun"])
def test_mjx_env_trains_a_few_chunks_with_finite_metrics(env):
    result = train(SACConfig(env=env, **TINY_MJX))
    assert [r["env_steps"] for r in result.history] == [160, 320, 480]
    assert result.history[-1]["updates"] > 0
    for record in result.history:
        for name in ("eval_return", "train_return", "critic_loss", "actor_loss", "alpha", "q"):
            assert np.isfinite(record[name]), (name, record)
    action = result.act(np.zeros(result.program.obs_dim, np.float32))
    assert action.shape == (6,) and np.all(np.abs(np.asarray(action)) <= 1.0)
