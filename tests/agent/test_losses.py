"""Checklist: twin critics with independent initialisation and the min for the target and the actor;
target critics only, Polyak τ, initialised equal; fresh next actions for the target; learned
temperature towards −dim(A), α fixed as an option; α detached in the actor loss, log π detached in
the α loss; each loss's gradient reaches only what it should update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_batch, tiny_config

from gpu_sac.agent.learner import AgentState, init_agent, make_update, polyak, target_entropy
from gpu_sac.agent.losses import actor_loss, alpha_loss, critic_loss
from gpu_sac.agent.networks import make_networks
from gpu_sac.replay import Transition

OBS, ACT, B = 3, 2, 16


def batch(key=0, discount=0.99) -> Transition:
    return random_batch(key, B, OBS, ACT, discount)


def setup(**overrides):
    config = tiny_config(**overrides)
    nets = make_networks(config, OBS, ACT)
    return config, init_agent(config, nets, jax.random.PRNGKey(0)), nets


def nonzero(tree) -> bool:
    return any(bool(jnp.any(leaf != 0)) for leaf in jax.tree.leaves(tree))


def test_critics_are_initialised_independently_and_targets_equal_them():
    _, agent, _ = setup()
    for leaf in jax.tree.leaves(agent.critic_params["params"]):
        if leaf.ndim == 3:  # kernels (n_critics, in, out): critic 0 and critic 1 differ
            assert leaf.shape[0] == 2 and not np.allclose(np.asarray(leaf[0]), np.asarray(leaf[1]))
    for c, t in zip(jax.tree.leaves(agent.critic_params), jax.tree.leaves(agent.target_critic_params), strict=True):
        np.testing.assert_array_equal(np.asarray(c), np.asarray(t))


def sharp_actor(agent: AgentState) -> AgentState:
    """The agent with its actor's σ ≈ e^−20: a sample is tanh(mean) to ~1e-8, whatever the key."""
    actor = jax.tree.map(jnp.asarray, agent.actor_params)
    head = actor["params"]["log_std"]
    actor["params"]["log_std"] = {"kernel": jnp.zeros_like(head["kernel"]), "bias": jnp.full_like(head["bias"], -20.0)}
    return agent.replace(actor_params=actor)


def test_critic_target_uses_the_current_actor_not_a_lagging_copy():
    """No actor target: the second update's critic target takes a' from the actor params that the
    first update produced. A lagging actor copy (the initial actor, or a Polyak average of it) gives
    another target. α = 0 and σ ≈ e^−20 make a' = tanh(mean(s')) and the target independent of keys."""
    config, agent0, nets = setup(learn_alpha=False, init_alpha=0.0, actor_lr=0.05)
    agent0 = sharp_actor(agent0)
    update = jax.jit(make_update(config, nets))
    agent1, _, _ = update(agent0, batch(0), jnp.ones(B), jax.random.PRNGKey(0), jnp.asarray(0))
    b = batch(1)
    _, metrics, td_abs = update(agent1, b, jnp.ones(B), jax.random.PRNGKey(1), jnp.asarray(1))

    def target(actor_params):
        next_action = jnp.tanh(nets.actor_apply(actor_params, b.next_obs)[0])
        return b.reward + b.discount * nets.critic_apply(agent1.target_critic_params, b.next_obs, next_action).min(0)

    y = target(agent1.actor_params)
    np.testing.assert_allclose(float(metrics["target_q"]), float(y.mean()), rtol=1e-5, atol=1e-5)
    q = nets.critic_apply(agent1.critic_params, b.obs, b.action)  # (2, B)
    np.testing.assert_allclose(np.asarray(td_abs), np.asarray(jnp.abs(q - y).mean(0)), rtol=1e-4, atol=1e-5)
    # The check can tell: the actor moved, and a lagging copy of it would give a target far off.
    for lagging in (agent0.actor_params, polyak(agent1.actor_params, agent0.actor_params, config.tau)):
        assert float(jnp.abs(target(lagging) - y).max()) > 1e-2


def test_target_uses_min_of_target_critics_and_fresh_next_action():
    config, agent, nets = setup()
    b = batch()
    alpha = jnp.asarray(0.2)
    key = jax.random.PRNGKey(7)
    _, aux = critic_loss(nets, agent.critic_params, agent.target_critic_params, agent.actor_params, alpha, b,
                         jnp.ones(B), key)
    # Recompute the target by hand: a' from the current actor with the same key, min over target critics.
    mean, log_std = nets.actor_apply(agent.actor_params, b.next_obs)
    from gpu_sac.agent.networks import sample_action

    next_a, next_logp = sample_action(mean, log_std, key)
    q_next = nets.critic_apply(agent.target_critic_params, b.next_obs, next_a)  # (2, B)
    y = b.reward + b.discount * (jnp.min(q_next, axis=0) - alpha * next_logp)
    np.testing.assert_allclose(float(aux["target_q"]), float(y.mean()), rtol=1e-5)
    assert not np.allclose(np.asarray(q_next[0]), np.asarray(q_next[1]))  # the min matters here
    # The buffer's action never enters the target; the current actor does.
    _, aux_other_action = critic_loss(nets, agent.critic_params, agent.target_critic_params, agent.actor_params,
                                      alpha, b._replace(action=-b.action), jnp.ones(B), key)
    np.testing.assert_allclose(float(aux_other_action["target_q"]), float(aux["target_q"]), rtol=1e-6)
    other_actor = init_agent(config, nets, jax.random.PRNGKey(99)).actor_params
    _, aux_other_actor = critic_loss(nets, agent.critic_params, agent.target_critic_params, other_actor, alpha, b,
                                     jnp.ones(B), key)
    assert abs(float(aux_other_actor["target_q"]) - float(aux["target_q"])) > 1e-4


def test_terminated_transitions_do_not_bootstrap():
    _, agent, nets = setup()
    b = batch()._replace(discount=jnp.zeros(B))
    _, aux = critic_loss(nets, agent.critic_params, agent.target_critic_params, agent.actor_params, jnp.asarray(0.2),
                         b, jnp.ones(B), jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(aux["target_q"]), float(b.reward.mean()), rtol=1e-6)


def test_importance_weights_scale_each_rows_critic_loss_and_a_zero_weight_removes_its_gradient():
    config, agent, nets = setup()
    b = batch()
    key = jax.random.PRNGKey(3)

    def loss(weight, data=b):
        return critic_loss(nets, agent.critic_params, agent.target_critic_params, agent.actor_params,
                           jnp.asarray(0.2), data, weight, key)[0]

    # The loss is Σ_rows w_row · ℓ_row / B: linear in the weights, row by row.
    w1 = jax.random.uniform(jax.random.PRNGKey(1), (B,))
    w2 = jax.random.uniform(jax.random.PRNGKey(2), (B,))
    np.testing.assert_allclose(float(loss(w1 + 2 * w2)), float(loss(w1) + 2 * loss(w2)), rtol=1e-5)
    rows = jax.vmap(lambda i: loss(jnp.zeros(B).at[i].set(1.0)))(jnp.arange(B))
    np.testing.assert_allclose(float(loss(w1)), float(rows @ w1), rtol=1e-5)
    assert float(rows.min()) > 0

    # Through one fused update: with weight 0 on row 0, row 0's critic data changes nothing; with
    # weight 1 it does. (Only the critic's fields of the row change: the actor loss reads obs.)
    other = b._replace(action=b.action.at[0].set(-b.action[0]), reward=b.reward.at[0].add(50.0),
                       next_obs=b.next_obs.at[0].add(3.0), discount=b.discount.at[0].set(0.0))
    update = jax.jit(make_update(config, nets))
    zero_first = jnp.ones(B).at[0].set(0.0)
    for weight, same in ((zero_first, True), (jnp.ones(B), False)):
        new, _, _ = update(agent, b, weight, key, jnp.asarray(0))
        new_other, _, _ = update(agent, other, weight, key, jnp.asarray(0))
        moved = changed(new.critic_params, new_other.critic_params)
        assert (moved == 0.0) if same else (moved > 1e-3), (weight, moved)


def changed(a, b) -> float:
    return float(sum(jnp.abs(x - y).sum() for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)))


def stub_networks(q_values, **overrides):
    """Critic that returns fixed Q-values per critic (so min/mean are visible), plus a real actor."""
    config, agent, nets = setup(**overrides)
    return agent, nets._replace(critic_apply=lambda params, obs, action: q_values[:, None] + 0 * action.sum(-1))


@pytest.mark.parametrize("actor_q, expected", [("min", 1.0), ("mean", 2.0)])
def test_actor_loss_uses_min_of_critics_or_their_mean(actor_q, expected):
    agent, nets = stub_networks(jnp.array([1.0, 3.0]), actor_q=actor_q)
    loss, log_prob = actor_loss(nets, agent.actor_params, None, jnp.asarray(0.0), batch().obs, jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(loss), -expected, rtol=1e-6)


def test_polyak_tau_one_copies_tau_zero_keeps_and_default_mixes():
    params = {"w": jnp.array([1.0, 2.0])}
    target = {"w": jnp.array([3.0, -2.0])}
    np.testing.assert_array_equal(np.asarray(polyak(params, target, 1.0)["w"]), [1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(polyak(params, target, 0.0)["w"]), [3.0, -2.0])
    np.testing.assert_allclose(np.asarray(polyak(params, target, 0.005)["w"]), [3.0 - 0.01, -2.0 + 0.02], rtol=1e-6)


def test_one_update_moves_targets_by_tau_towards_the_new_critics():
    config, agent, nets = setup()
    assert config.tau == 0.005
    new, _, _ = make_update(config, nets)(agent, batch(), jnp.ones(B), jax.random.PRNGKey(0), jnp.asarray(0))
    for c, t_old, t_new in zip(jax.tree.leaves(new.critic_params), jax.tree.leaves(agent.target_critic_params),
                               jax.tree.leaves(new.target_critic_params), strict=True):
        np.testing.assert_allclose(np.asarray(t_new), np.asarray(0.005 * c + 0.995 * t_old), rtol=1e-5, atol=1e-7)
    assert nonzero(jax.tree.map(jnp.subtract, new.critic_params, agent.critic_params))


def test_target_entropy_defaults_to_minus_action_dim():
    assert target_entropy(tiny_config(), 6) == -6.0
    assert target_entropy(tiny_config(target_entropy=-1.5), 6) == -1.5


@pytest.mark.parametrize("log_prob, alpha_should", [(3.0, "rise"), (0.0, "fall")])
def test_alpha_rises_when_entropy_is_below_target_and_falls_when_above(log_prob, alpha_should):
    # Target entropy −2. log π = 3: entropy −3, below target → α must rise; log π = 0: entropy 0 → fall.
    log_alpha = jnp.log(0.2)
    grad = jax.grad(alpha_loss)(log_alpha, jnp.full(B, log_prob), -2.0)
    stepped = log_alpha - 0.1 * grad  # one gradient-descent step
    assert (stepped > log_alpha) if alpha_should == "rise" else (stepped < log_alpha)


def test_critic_loss_gradient_reaches_only_the_critics():
    _, agent, nets = setup()

    def loss(actor, critic, log_alpha):
        return critic_loss(nets, critic, agent.target_critic_params, actor, jnp.exp(log_alpha), batch(), jnp.ones(B),
                           jax.random.PRNGKey(0))[0]

    g_actor, g_critic, g_alpha = jax.grad(loss, argnums=(0, 1, 2))(agent.actor_params, agent.critic_params,
                                                                   agent.log_alpha)
    assert nonzero(g_critic) and not nonzero(g_actor) and float(g_alpha) == 0.0


def test_actor_loss_gradient_reaches_only_the_actor_with_alpha_detached():
    _, agent, nets = setup()

    def loss(actor, critic, log_alpha):
        return actor_loss(nets, actor, critic, jnp.exp(log_alpha), batch().obs, jax.random.PRNGKey(0))[0]

    g_actor, g_critic, g_alpha = jax.grad(loss, argnums=(0, 1, 2))(agent.actor_params, agent.critic_params,
                                                                   agent.log_alpha)
    assert nonzero(g_actor) and not nonzero(g_critic) and float(g_alpha) == 0.0


def test_alpha_loss_gradient_reaches_only_log_alpha_with_log_prob_detached():
    _, agent, nets = setup()

    def loss(actor, log_alpha):
        _, log_prob = actor_loss(nets, actor, agent.critic_params, jnp.asarray(0.2), batch().obs,
                                 jax.random.PRNGKey(0))
        return alpha_loss(log_alpha, log_prob, -2.0)

    g_actor, g_alpha = jax.grad(loss, argnums=(0, 1))(agent.actor_params, agent.log_alpha)
    assert float(g_alpha) != 0.0 and not nonzero(g_actor)


def test_fixed_alpha_option_keeps_alpha():
    config, agent, nets = setup(learn_alpha=False, init_alpha=0.3)
    update = make_update(config, nets)
    new, metrics, _ = update(agent, batch(), jnp.ones(B), jax.random.PRNGKey(0), jnp.asarray(0))
    np.testing.assert_allclose(float(metrics["alpha"]), 0.3, rtol=1e-6)
    assert float(new.log_alpha) == float(agent.log_alpha)


def test_learned_alpha_changes_and_respects_bounds():
    config, agent, nets = setup(alpha_min=0.19, alpha_max=0.21, alpha_lr=0.5)
    update = make_update(config, nets)
    for i in range(5):
        agent, _, _ = update(agent, batch(i), jnp.ones(B), jax.random.PRNGKey(i), jnp.asarray(i))
    alpha = float(jnp.exp(agent.log_alpha))
    assert 0.19 - 1e-6 <= alpha <= 0.21 + 1e-6 and alpha != pytest.approx(0.2)
