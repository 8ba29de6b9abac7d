"""n-step returns: the window emits, per env, Σ γ^k r and γ^m bootstraps that match a brute-force
computation, across terminations (no bootstrap) and truncations (bootstrap from the final obs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CounterEnv, tiny_config

from gpu_sac import replay
from gpu_sac.replay import Transition, nstep
from gpu_sac.training.train import build, seed_keys

GAMMA = 0.9


def brute_force(rewards, terminated, truncated, n):
    """For each start t of one env: (R, m, terminated_within, end index) by walking forward."""
    out = []
    for t in range(len(rewards)):
        ret, k = 0.0, 0
        term = False
        while True:
            ret += GAMMA**k * rewards[t + k]
            k += 1
            if terminated[t + k - 1]:
                term = True
                break
            if truncated[t + k - 1] or k == n:
                break
            if t + k >= len(rewards):
                k = None
                break
        out.append(None if k is None else (ret, k, term, t + k - 1))
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_window_matches_brute_force_across_episode_ends(n):
    rng = np.random.default_rng(n)
    steps, envs = 40, 3
    rewards = rng.normal(size=(steps, envs)).astype(np.float32)
    terminated = rng.random((steps, envs)) < 0.08
    truncated = (rng.random((steps, envs)) < 0.08) & ~terminated
    obs = np.arange(steps, dtype=np.float32)[:, None] * 10 + np.arange(envs)  # obs id: 10·t + env

    window = nstep.init(envs, n, 1, 1)
    push = jax.jit(nstep.push, static_argnums=4)
    emitted = []
    for t in range(steps):
        step = Transition(
            obs=jnp.asarray(obs[t])[:, None],
            action=jnp.asarray(obs[t])[:, None],
            reward=jnp.asarray(rewards[t]),
            next_obs=jnp.asarray(obs[t] + 1000)[:, None],  # the "next obs" of step t: 1000 + id
            discount=jnp.asarray(GAMMA * (1 - terminated[t])),
        )
        window, out, valid = push(window, step, jnp.asarray(terminated[t] | truncated[t]), jnp.asarray(t), GAMMA)
        assert bool(valid) == (t >= n - 1)
        if valid:
            emitted.append((t - n + 1, jax.device_get(out)))
    for e in range(envs):
        expected = brute_force(rewards[:, e], terminated[:, e], truncated[:, e], n)
        for start, out in emitted:
            ret, m, term, end = expected[start]
            assert out.obs[e, 0] == obs[start, e]  # the transition that started at `start`
            np.testing.assert_allclose(out.reward[e], ret, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(out.discount[e], 0.0 if term else GAMMA**m, rtol=1e-6)
            assert out.next_obs[e, 0] == obs[end, e] + 1000  # bootstraps from the obs after its last step


@pytest.mark.parametrize(
    "terminate_at, episode_length",
    [(10**9, 5), (4, 6), (5, 5)],
    ids=["truncated", "terminated", "terminated-at-the-time-limit"],
)
def test_trainer_stores_n_step_transitions(terminate_at, episode_length):
    """Through the trainer (n = 3, γ = 0.5, CounterEnv: obs t, reward t + 1 for the step from t): the
    first n − 1 vectorised steps insert nothing; then row j holds the transition that started at
    vectorised step j // num_envs, with the n-step discounted reward sum and γ^n, or fewer steps at an
    episode's end (discount 0 when it terminated), and the obs after its last step."""
    n, gamma, envs = 3, 0.5, 4
    config = tiny_config(n_step=n, gamma=gamma, episode_length=episode_length, num_envs=envs, total_steps=64,
                         steps_per_chunk=2 * envs, buffer_size=64, min_replay_size=64, batch_size=8, start_steps=0,
                         eval_episodes=0)
    program = build(config, CounterEnv(terminate_at))
    state = program.init(seed_keys(config))
    for chunk in range(1, 9):  # chunks of 2 vectorised steps
        state, _ = program.run_chunk(state)
        assert int(state.buffer.size[0]) == (2 * chunk - (n - 1)) * envs
    size = int(state.buffer.size[0])
    rows = jax.tree.map(np.asarray, replay.unpack(state.buffer.data[0, :size], 2, 1))
    end = min(terminate_at, episode_length)  # episodes last `end` steps; a termination wins a tie
    terminates = terminate_at <= episode_length
    t0 = np.arange(size) // envs % end
    np.testing.assert_array_equal(rows.obs[:, 0], t0)
    m = np.minimum(n, end - t0)
    expected_reward = [sum(gamma**k * (t + k + 1) for k in range(steps)) for t, steps in zip(t0, m, strict=True)]
    np.testing.assert_allclose(rows.reward, expected_reward, rtol=1e-6)
    ended = terminates & (t0 + m == end)
    np.testing.assert_allclose(rows.discount, np.where(ended, 0.0, gamma**m), rtol=1e-6)
    np.testing.assert_array_equal(rows.next_obs[:, 0], t0 + m)
    np.testing.assert_array_equal(rows.next_obs[:, 1], rows.obs[:, 1])  # the same episode's final obs
    assert set(m.tolist()) == {1, 2, 3}  # full windows and both shortened ones were checked
