"""Episode ends inside the scan: terminated transitions do not bootstrap, truncated ones do from
the true final observation; every new episode starts from a fresh reset with a fresh key."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from conftest import CounterEnv, tiny_config

from gpu_sac import replay
from gpu_sac.training import rollout
from gpu_sac.training.train import build, seed_keys


def run_steps(env, episode_length, steps, m=2, group_size=None):
    env_step = jax.jit(rollout.make_env_step(env, episode_length, group_size))
    carry = rollout.reset(env, jax.random.split(jax.random.PRNGKey(0), m))
    outs = []
    for i in range(steps):
        keys = jax.random.split(jax.random.PRNGKey(100 + i), m)
        carry, out = env_step(carry, jnp.zeros((m, 1)), keys)
        outs.append(jax.device_get(out))
    return carry, outs


def test_truncation_keeps_the_true_final_observation_and_resets_fresh():
    carry, outs = run_steps(CounterEnv(), episode_length=3, steps=7)
    starts = set()
    for i, out in enumerate(outs):
        t = i % 3 + 1
        np.testing.assert_array_equal(out.next_obs[:, 0], t)  # the obs after the step, before any reset
        np.testing.assert_array_equal(out.truncated, t == 3)
        assert not out.terminated.any()
        if t == 3:
            np.testing.assert_array_equal(out.episode_return, 1 + 2 + 3)
        starts.update(np.round(out.obs[:, 1], 6).tolist())
    # Episodes began at steps 0, 3, 6 in 2 envs: 6 episodes, 6 different starts (fresh keys; Brax's
    # AutoResetWrapper would restart each env from its cached first state: 2 starts).
    assert len(starts) == 6
    np.testing.assert_array_equal(np.asarray(carry.episode_step), 1)


def test_termination_is_not_truncation():
    _, outs = run_steps(CounterEnv(terminate_at=2), episode_length=5, steps=4)
    np.testing.assert_array_equal([o.terminated[0] for o in outs], [False, True, False, True])
    assert not any(o.truncated.any() for o in outs)


def test_replay_buffer_gets_zero_discount_on_termination_and_gamma_with_final_obs_on_truncation():
    # Env terminates at t = 4 and the trainer truncates at 3 or 6 depending on env: use two runs.
    for terminate_at, episode_length, term_expected in ((4, 10, True), (10**9, 4, False)):
        config = tiny_config(episode_length=episode_length, total_steps=64, steps_per_chunk=64, min_replay_size=64,
                             buffer_size=64, batch_size=8, start_steps=0, num_envs=4, eval_episodes=0)
        program = build(config, CounterEnv(terminate_at))
        state, _ = program.run_chunk(program.init(seed_keys(config)))
        rows = replay.unpack(state.buffer.data[0], 2, 1)
        t_next = np.asarray(rows.next_obs[:, 0])
        end = t_next == 4
        assert end.any() and (~end).any()
        expected_end_discount = 0.0 if term_expected else config.gamma
        np.testing.assert_allclose(np.asarray(rows.discount)[end], expected_end_discount)
        np.testing.assert_allclose(np.asarray(rows.discount)[~end], config.gamma)
        # next_obs at an episode's end is the final obs of that episode (same start value), not the reset's.
        np.testing.assert_array_equal(np.asarray(rows.next_obs[:, 1]), np.asarray(rows.obs[:, 1]))
        np.testing.assert_array_equal(t_next, np.asarray(rows.obs[:, 0]) + 1)


def test_grouped_stepping_gives_the_same_transitions_as_one_vmapped_batch():
    """env_group_size steps the flat batch as sequential groups: every env's transitions, resets
    included, are those of the single vmapped batch, in the same rows."""
    env = CounterEnv(terminate_at=5)
    carry, outs = run_steps(env, episode_length=3, steps=7, m=6)
    grouped_carry, grouped_outs = run_steps(env, episode_length=3, steps=7, m=6, group_size=2)
    for a, b in zip(outs + [carry], grouped_outs + [grouped_carry], strict=True):
        jax.tree.map(np.testing.assert_array_equal, a, b)
    # The groups really are stepped one after the other: a scan of 3 steps over groups of 2.
    state = rollout.reset(env, jax.random.split(jax.random.PRNGKey(0), 6)).state
    jaxpr = str(jax.make_jaxpr(rollout.batched_step(env, 2))(state, jnp.zeros((6, 1))))
    assert "scan" in jaxpr and "length=3" in jaxpr
    assert "scan" not in str(jax.make_jaxpr(rollout.batched_step(env, None))(state, jnp.zeros((6, 1))))


def test_termination_on_the_time_limit_step_is_a_termination_and_does_not_bootstrap():
    """The env terminates on the very step that reaches episode_length: that is a termination (not a
    truncation), and its stored transition has discount 0."""
    _, outs = run_steps(CounterEnv(terminate_at=3), episode_length=3, steps=6)
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out.terminated, i % 3 == 2)
        assert not out.truncated.any()
    config = tiny_config(episode_length=3, total_steps=64, steps_per_chunk=64, min_replay_size=64, buffer_size=64,
                         batch_size=8, start_steps=0, eval_episodes=0)
    program = build(config, CounterEnv(terminate_at=3))
    state, _ = program.run_chunk(program.init(seed_keys(config)))
    rows = replay.unpack(state.buffer.data[0], 2, 1)
    end = np.asarray(rows.next_obs[:, 0]) == 3
    assert end.sum() == 4 * 5  # 16 vectorised steps of 4 envs: episodes end at steps 3, 6, 9, 12, 15
    np.testing.assert_array_equal(np.asarray(rows.discount)[end], 0.0)
    np.testing.assert_allclose(np.asarray(rows.discount)[~end], config.gamma)


def test_trainer_starts_every_episode_from_a_fresh_reset_key():
    """Through the trainer, over two chunks: each env's episodes all start differently (the start value
    is drawn from the reset key), and no two episodes of the run share a start. An env restarted from a
    cached first state (Brax's AutoResetWrapper), or reset with the same key each time, would repeat
    its starts."""
    config = tiny_config(episode_length=4, total_steps=128, steps_per_chunk=64, min_replay_size=128,
                         buffer_size=128, batch_size=8, start_steps=0, eval_episodes=0)
    program = build(config, CounterEnv())
    state = program.init(seed_keys(config))
    for _ in range(2):
        state, _ = program.run_chunk(state)
    obs = np.asarray(replay.unpack(state.buffer.data[0], 2, 1).obs).reshape(32, 4, 2)  # (vectorised step, env)
    np.testing.assert_array_equal(obs[:, :, 0], np.tile(np.arange(4), 8)[:, None] * np.ones((1, 4)))
    starts = obs[::4, :, 1]  # (8 episodes, 4 envs): episodes begin every 4 steps
    np.testing.assert_array_equal(obs[:, :, 1], np.repeat(starts, 4, axis=0))  # one start per episode
    assert len(np.unique(starts)) == starts.size == 32
