"""The three SAC losses (seed/sac.md §3 "Complete Loss Functions"), as pure functions.

Each loss stops the gradient into everything it must not update, itself, so that a test of a loss
alone shows where its gradient goes (and so that the fused update can differentiate their sum):
- critic: only the critics. The target y (target critics, fresh next action from the current
  actor, α) is a constant.
- actor: only the actor. The critics and α are constants (α detached, seed pitfall 4).
- temperature: only log α. log π is a constant (detached, seed pitfall 4).

Batches are already normalised. Shapes: obs (B, obs_dim), action (B, act_dim), reward, discount,
weight (B,). Critic outputs are (n_critics, B).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gpu_sac.networks import sample_action
from gpu_sac.replay import Transition

sg = jax.lax.stop_gradient


class Networks(NamedTuple):
    """The apply functions of the actor and the critic ensemble, and how the policy acts."""

    actor_apply: Callable  # (params, obs) -> (mean, log_std)
    critic_apply: Callable  # (params, obs, action) -> Q (n_critics, ...)
    deterministic_policy: bool = False  # ablation: a = tanh(mean), log π = 0


def policy_sample(nets: Networks, actor_params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterised action in [−1, 1] and its log π; (..., act_dim), (...)."""
    mean, log_std = nets.actor_apply(actor_params, obs)
    if nets.deterministic_policy:
        return jnp.tanh(mean), jnp.zeros(mean.shape[:-1])
    return sample_action(mean, log_std, key)


def critic_loss(
    nets: Networks,
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
    pitfall 5); discount is 0 after termination, so those transitions do not bootstrap.
    Returns (loss, aux) with aux["td_error"] of shape (B,) (mean over critics) for priorities.
    """
    next_action, next_log_prob = policy_sample(nets, sg(actor_params), batch.next_obs, key)
    next_q = nets.critic_apply(target_critic_params, batch.next_obs, next_action).min(axis=0)
    target = sg(batch.reward + batch.discount * (next_q - sg(alpha) * next_log_prob))
    q = nets.critic_apply(critic_params, batch.obs, batch.action)
    td_error = q - target
    loss = jnp.sum(jnp.mean(weight * td_error**2, axis=-1))
    return loss, {"q": q.mean(), "target_q": target.mean(), "td_error": jnp.mean(td_error, axis=0)}


def actor_loss(
    nets: Networks,
    actor_params,
    critic_params,
    alpha: jax.Array,
    obs: jax.Array,
    key: jax.Array,
    actor_q: str = "min",
) -> tuple[jax.Array, jax.Array]:
    """mean_B[α·log π(a|s) − Q(s, a)], a ~ π(·|s) reparameterised; Q the min (or mean) of the critics.

    Returns (loss, log π of shape (B,)).
    """
    action, log_prob = policy_sample(nets, actor_params, obs, key)
    q = nets.critic_apply(sg(critic_params), obs, action)
    q = q.min(axis=0) if actor_q == "min" else q.mean(axis=0)
    return jnp.mean(sg(alpha) * log_prob - q), log_prob


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float) -> jax.Array:
    """−mean_B[α·(log π + H_target)], α = exp(log α) (seed §3 "Temperature Update").

    Its gradient −α·(log π + H_target) raises α when the entropy −log π is below H_target and
    lowers it when above.
    """
    return -jnp.mean(jnp.exp(log_alpha) * sg(log_prob + target_entropy))
