"""The three SAC losses (seed/sac.md §3 "Complete Loss Functions"), as pure functions.

Each loss stops the gradient into everything it must not update, itself, so that a test of a loss
alone shows where its gradient goes (and so that the fused update can differentiate their sum):
- critic: only the critics. The target y (target critics, fresh next action from the current
  actor, α) is a constant.
- actor: only the actor. The critics and α are constants (α detached, seed pitfall 4).
- temperature: only log α. log π is a constant (detached, seed pitfall 4).

Batches are already normalised. Shapes: obs (B, obs_dim), action (B, act_dim), reward, discount,
weight (B,). Critic outputs are (n_critics, B). How the critics are combined (min for the target,
min or mean for the actor) is the networks' `target_q` / `actor_q`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gpu_sac.agent import distributional
from gpu_sac.agent.networks import SACNetworks
from gpu_sac.replay import Transition  # TODO transition module

sg = jax.lax.stop_gradient


def critic_loss(
    nets: SACNetworks,
    critic_params,
    target_critic_params,
    actor_params,
    alpha: jax.Array,
    batch: Transition,
    weight: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Σ_i mean_B[w·(Q_i(s, a) − y)²], y = r + discount·(min_j Q'_j(s', a') − α log π(a'|s')).

    a' ~ π(·|s') is sampled fresh from the current actor (never taken from the buffer, seed
    pitfall 5); discount is 0 after termination, so those transitions do not bootstrap. The min is
    the networks' target_q (min, mean, or each critic its own target).
    With a distributional critic the loss is `distributional_critic_loss`'s.
    Returns (loss, aux) with aux["td_abs"] of shape (B,), the mean over critics of |Q_i − y| (for
    priorities: a mean of signed errors would let opposite errors cancel).
    """
    next_action, next_log_prob = nets.sample(sg(actor_params), batch.next_obs, key)
    if nets.support is not None:
        return distributional_critic_loss(nets, critic_params, target_critic_params, alpha, batch, weight,
                                          next_action, next_log_prob)
    next_q = nets.target_q(nets.critic_apply(target_critic_params, batch.next_obs, next_action))
    target = sg(batch.reward + batch.discount * (next_q - sg(alpha) * next_log_prob))
    q = nets.critic_apply(critic_params, batch.obs, batch.action)
    td_error = q - target
    loss = jnp.sum(jnp.mean(weight * td_error**2, axis=-1))
    return loss, {"q": q.mean(), "target_q": target.mean(), "td_abs": jnp.mean(jnp.abs(td_error), axis=0)}


def distributional_critic_loss(
    nets: SACNetworks,
    critic_params,
    target_critic_params,
    alpha: jax.Array,
    batch: Transition,
    weight: jax.Array,
    next_action: jax.Array,
    next_log_prob: jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Σ_i mean_B[w·CE(Φ(Y), p_i(s, a))]: cross-entropy from each critic's distribution p_i over the
    atoms z to the projected target Φ(Y), Y = r + discount·(Z' − α log π(a'|s')).

    Z' is the target critics' distribution at (s', a'), combined by the networks' target_dist (the
    lower-mean one, their mean, or each critic's own); every atom is shifted by the entropy term, so
    E[Y] is the scalar soft target. aux["td_abs"] (B,): mean over critics of |E[p_i] − E[Φ(Y)]|.
    """
    atoms = nets.support
    next_probs = jax.nn.softmax(nets.critic_logits(target_critic_params, batch.next_obs, next_action))
    next_probs = nets.target_dist(next_probs, distributional.expected(next_probs, atoms))
    shifted = batch.reward[:, None] + batch.discount[:, None] * (atoms - sg(alpha) * next_log_prob[:, None])
    target = sg(distributional.project(next_probs, shifted, float(atoms[0]), float(atoms[-1])))
    log_probs = jax.nn.log_softmax(nets.critic_logits(critic_params, batch.obs, batch.action))  # (n, B, K)
    cross_entropy = -jnp.sum(target * log_probs, axis=-1)  # (n, B)
    loss = jnp.sum(jnp.mean(weight * cross_entropy, axis=-1))
    q = distributional.expected(jnp.exp(log_probs), atoms)
    target_q = distributional.expected(target, atoms)
    return loss, {"q": q.mean(), "target_q": target_q.mean(), "td_abs": jnp.mean(jnp.abs(q - target_q), axis=0)}


def actor_loss(
    nets: SACNetworks, actor_params, critic_params, alpha: jax.Array, obs: jax.Array, key: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """mean_B[α·log π(a|s) − Q(s, a)], a ~ π(·|s) reparameterised; Q the networks' actor_q reduction
    (min of the critics, or their mean). Returns (loss, log π of shape (B,))."""
    action, log_prob = nets.sample(actor_params, obs, key)
    q = nets.actor_q(nets.critic_apply(sg(critic_params), obs, action))
    return jnp.mean(sg(alpha) * log_prob - q), log_prob


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float) -> jax.Array:
    """−mean_B[α·(log π + H_target)], α = exp(log α) (seed §3 "Temperature Update").

    Its gradient −α·(log π + H_target) raises α when the entropy −log π is below H_target and
    lowers it when above.
    """
    return -jnp.mean(jnp.exp(log_alpha) * sg(log_prob + target_entropy))
