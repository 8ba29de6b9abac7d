"""n-step returns: the window emits, per env, Σ γ^k r and γ^m bootstraps that match a brute-force
computation, across terminations (no bootstrap) and truncations (bootstrap from the final obs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gpu_sac import nstep
from gpu_sac.replay import Transition

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
