"""The fused training loop end to end on pendulum: learning, history, random warm-up, tracing once,
many seeds in one program, custom envs, and stopping on divergence."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from gpu_sac import SACConfig, TrainingDiverged, replay, train
from gpu_sac.envs.pendulum import Pendulum
from gpu_sac.training.train import build, compile_stages, seed_keys


def test_pendulum_learns_within_20k_steps():
    """Deterministic eval over 10 episodes averages at least −250 after 20 000 env steps (RL Zoo's SAC:
    −157 ± 89 at 20k). The README's default command trains exactly this config."""
    result = train(SACConfig(env="pendulum", total_steps=20_000, seed=0))
    final = result.history[-1]
    assert final["env_steps"] == 20_000
    assert result.config.eval_episodes == 10
    assert final["eval_return"] >= -250, [r["eval_return"] for r in result.history]
    # It learned: the first evaluation (after 1 000 steps, mostly random data) is far worse.
    assert result.history[0]["eval_return"] < -700


def test_history_records_and_act():
    config = tiny_config(total_steps=384, grad_updates_per_step=2)
    result = train(config)
    assert [r["env_steps"] for r in result.history] == [128, 256, 384]
    # Updates start once min_replay_size = 64 transitions are in (16 vectorised steps of 4 envs).
    assert [r["updates"] for r in result.history] == [2 * (32 - 15), 2 * (64 - 15), 2 * (96 - 15)]
    for record in result.history:
        for name in ("wall_s", "sps", "eval_return", "alpha", "critic_loss", "actor_loss", "entropy"):
            assert np.isfinite(record[name]), name
    assert result.history[-1]["wall_s"] > result.history[0]["wall_s"]
    obs = jnp.array([1.0, 0.0, 0.5])
    one = result.act(obs)
    many = jax.jit(result.act)(jnp.stack([obs, obs]))
    assert one.shape == (1,) and many.shape == (2, 1)
    np.testing.assert_allclose(np.asarray(many[0]), np.asarray(one), rtol=1e-6)
    stochastic = result.act(jnp.stack([obs] * 64), key=jax.random.PRNGKey(0), deterministic=False)
    assert np.all(np.abs(np.asarray(stochastic)) <= 2.0) and np.asarray(stochastic).std() > 0


def test_random_uniform_actions_during_start_steps_then_the_stochastic_policy():
    config = tiny_config(start_steps=128, total_steps=256, steps_per_chunk=256, buffer_size=256, min_replay_size=256,
                         batch_size=32, eval_episodes=0)
    program = build(config)
    state = program.init(seed_keys(config))
    # A policy that always proposes ≈ tanh(0.5): mean head bias 0.5, no weights, σ = e^−20.
    actor = jax.tree.map(jnp.zeros_like, state.agent.actor_params)
    actor["params"]["mean"]["bias"] = jnp.full_like(actor["params"]["mean"]["bias"], 0.5)
    actor["params"]["log_std"]["bias"] = jnp.full_like(actor["params"]["log_std"]["bias"], -20.0)
    state = state.replace(agent=state.agent.replace(actor_params=actor))
    state, _ = program.run_chunk(state)
    actions = np.asarray(replay.unpack(state.buffer.data[0], 3, 1).action[:, 0])  # rows in order of steps
    warmup, policy = actions[:128], actions[128:]
    assert warmup.min() < -0.9 and warmup.max() > 0.9 and abs(warmup.std() - 1 / np.sqrt(3)) < 0.1
    np.testing.assert_allclose(policy, np.tanh(0.5), atol=1e-5)


class CountingPendulum(Pendulum):
    traces = 0

    def step(self, state, action):
        CountingPendulum.traces += 1  # Python side effect: runs once per trace, never per step
        return super().step(state, action)


@pytest.mark.parametrize("chunks", [2, 4])
def test_each_jitted_stage_is_traced_once_per_run(chunks):
    CountingPendulum.traces = 0
    train(tiny_config(total_steps=64 * chunks, steps_per_chunk=64), env=CountingPendulum())
    assert CountingPendulum.traces == 2  # the training chunk and the evaluation, whatever the chunk count


def test_concurrent_compile_gives_the_same_run_as_one_after_the_other():
    """compile_stages compiles the chunk and the evaluation in threads while init runs (train()'s
    way) or one after the other: the same programs, the same run."""
    config = tiny_config(total_steps=128, steps_per_chunk=64)
    program = build(config)
    runs = []
    for concurrent in (False, True):
        state, run_chunk, evaluate, compile_s = compile_stages(program, concurrent=concurrent)
        assert compile_s > 0
        for _ in range(2):
            state, summary = run_chunk(state)
        returns, _ = evaluate(state.agent, seed_keys(config))
        runs.append((jax.tree.leaves(state.agent), np.asarray(returns), int(summary["updates"])))
    (agent_a, returns_a, updates_a), (agent_b, returns_b, updates_b) = runs
    assert updates_a == updates_b > 0
    np.testing.assert_array_equal(returns_a, returns_b)
    for a, b in zip(agent_a, agent_b, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_many_seeds_in_one_program_match_separate_runs():
    together = train(tiny_config(seed=3, num_seeds=2))
    assert np.shape(together.params["log_alpha"]) == (2,)
    for s in range(2):
        alone = train(tiny_config(seed=3 + s))
        mine = together.for_seed(s)
        for a, b in zip(jax.tree.leaves(mine.params), jax.tree.leaves(alone.params), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-3, atol=2e-4)
        np.testing.assert_allclose(mine.history[-1]["eval_return"], alone.history[-1]["eval_return"], rtol=1e-3)
    # And the agents differ from each other.
    assert not np.allclose(np.asarray(together.params["log_alpha"][0]), np.asarray(together.params["log_alpha"][1]))


def test_grouped_env_stepping_trains_the_same_agent():
    """env_group_size changes how the envs are batched, not what they do."""
    one_batch = train(tiny_config(seed=1))
    grouped = train(tiny_config(seed=1, env_group_size=2))
    for a, b in zip(jax.tree.leaves(one_batch.params), jax.tree.leaves(grouped.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert one_batch.history[-1]["eval_return"] == grouped.history[-1]["eval_return"]


def test_train_accepts_any_brax_style_env():
    result = train(tiny_config(total_steps=128), env=Pendulum(g=9.81))
    assert np.isfinite(result.history[-1]["critic_loss"])


def test_non_finite_loss_stops_the_run_naming_the_metric_and_step():
    with pytest.raises(TrainingDiverged, match=r"(critic_loss|q|actor_loss) became non-finite by env step 128"):
        train(tiny_config(reward_scale=1e38))
