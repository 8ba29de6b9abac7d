"""Checklist: the seed's optimisation tricks and ablations as options (off by default: see
test_config), each running and doing what it says."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import tiny_config

from gpu_sac import replay, train
from gpu_sac.learner import _optimizer, init_agent, make_networks, make_update
from gpu_sac.train import build, seed_keys

SMALL = dict(total_steps=128, steps_per_chunk=128, hidden_sizes=(16, 16), eval_episodes=1)


@pytest.mark.parametrize(
    "option",
    [
        dict(grad_updates_per_step=4),
        dict(n_step=3),
        dict(prioritized_replay=True),
        dict(critic_layer_norm=True),
        dict(reward_scale=0.1),
        dict(normalize_observations=True),
        dict(max_grad_norm=1.0),
        dict(policy_delay=2),
        dict(alpha_min=0.1, alpha_max=0.3),
        dict(actor_q="mean"),
        dict(lr_schedule="cosine"),
        dict(learn_alpha=False, init_alpha=0.0),  # ablation: α = 0
        dict(learn_alpha=False),  # ablation: fixed α
        dict(n_critics=1),  # ablation: one critic
        dict(learn_alpha=False, deterministic_policy=True),  # ablation: deterministic policy
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_option_trains_with_finite_metrics(option):
    result = train(tiny_config(**SMALL, **option))
    record = result.history[-1]
    for name in ("critic_loss", "actor_loss", "alpha", "q", "eval_return"):
        assert np.isfinite(record[name]), name


def batch(n=16, seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    return replay.Transition(jax.random.normal(k[0], (n, 3)), jax.random.uniform(k[1], (n, 1), minval=-1, maxval=1),
                             jax.random.normal(k[2], (n,)), jax.random.normal(k[3], (n, 3)), jnp.full((n,), 0.99))


def one_update(index=0, **overrides):
    config = tiny_config(**overrides)
    agent = init_agent(config, 3, 1, jax.random.PRNGKey(0))
    new, metrics, _ = make_update(config, make_networks(config, 1), 1)(agent, batch(), jnp.ones(16),
                                                                       jax.random.PRNGKey(1), jnp.asarray(index))
    return agent, new, metrics


def changed(a, b) -> float:
    return float(sum(jnp.abs(x - y).sum() for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)))


def test_alpha_zero_ablation_uses_alpha_zero():
    _, _, metrics = one_update(learn_alpha=False, init_alpha=0.0)
    assert float(metrics["alpha"]) == 0.0 and float(metrics["alpha_loss"]) == 0.0


def test_deterministic_policy_ablation_has_no_entropy_or_noise():
    agent, _, metrics = one_update(learn_alpha=False, deterministic_policy=True)
    assert float(metrics["entropy"]) == 0.0
    result = train(tiny_config(**SMALL, learn_alpha=False, deterministic_policy=True))
    obs = jnp.ones((4, 3))
    a1 = result.act(obs, key=jax.random.PRNGKey(0), deterministic=False)
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(result.act(obs)))


def test_single_critic_ablation_has_one_critic():
    agent, _, _ = one_update(n_critics=1)
    assert all(leaf.shape[0] == 1 for leaf in jax.tree.leaves(agent.critic_params))


def test_delayed_actor_updates_move_the_actor_every_policy_delay_updates():
    agent, on, _ = one_update(index=4, policy_delay=2)
    _, off, _ = one_update(index=5, policy_delay=2)
    assert changed(on.actor_params, agent.actor_params) > 0 and float(on.log_alpha) != float(agent.log_alpha)
    assert changed(off.actor_params, agent.actor_params) == 0 and float(off.log_alpha) == float(agent.log_alpha)
    assert changed(off.critic_params, agent.critic_params) > 0  # critics update every time


def test_gradient_clipping_bounds_the_gradient_norm():
    agent, clipped, _ = one_update(max_grad_norm=1e-9)
    _, free, _ = one_update()
    # Adam divides by √v + ε; with the gradient clipped to norm 1e-9, ε dominates: tiny steps.
    assert changed(clipped.critic_params, agent.critic_params) < 0.05 * changed(free.critic_params, agent.critic_params)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_learning_rate_schedules_decay_to_zero(schedule):
    opt = _optimizer(tiny_config(lr_schedule=schedule), 0.1, horizon=3)
    params = jnp.ones(())
    state = opt.init(params)
    steps = []
    for _ in range(4):
        updates, state = opt.update(jnp.ones(()), state, params)
        steps.append(abs(float(updates)))
        params = optax.apply_updates(params, updates)
    assert steps[0] == pytest.approx(0.1, rel=1e-3) and steps[1] < steps[0] and steps[3] == 0.0


def test_layer_norm_option_adds_layer_norm_to_the_critics_only():
    agent, _, _ = one_update(critic_layer_norm=True)
    critic_names = str(jax.tree_util.tree_structure(agent.critic_params))
    assert "LayerNorm" in critic_names and "LayerNorm" not in str(jax.tree_util.tree_structure(agent.actor_params))


def run_chunk(**overrides):
    config = tiny_config(total_steps=128, steps_per_chunk=128, buffer_size=128, min_replay_size=128, batch_size=32,
                         start_steps=128, eval_episodes=0, **overrides)
    program = build(config)
    state, _ = program.run_chunk(program.init(seed_keys(config)))
    return state


def test_reward_scale_multiplies_the_stored_rewards():
    plain = replay.unpack(run_chunk().buffer.data[0], 3, 1)
    scaled = replay.unpack(run_chunk(reward_scale=0.1).buffer.data[0], 3, 1)
    np.testing.assert_array_equal(np.asarray(plain.obs), np.asarray(scaled.obs))  # same random-action data
    np.testing.assert_allclose(np.asarray(scaled.reward), 0.1 * np.asarray(plain.reward), rtol=1e-6)


def test_observation_normaliser_tracks_the_observed_mean_and_variance():
    state = run_chunk(normalize_observations=True)
    obs = np.asarray(replay.unpack(state.buffer.data[0], 3, 1).obs, np.float64)
    stats = state.agent.obs_stats
    np.testing.assert_allclose(np.asarray(stats.mean[0]), obs.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(stats.var[0]), obs.var(0), rtol=1e-3, atol=1e-5)
    assert float(stats.count[0]) == 128
