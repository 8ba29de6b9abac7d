"""The agent's parameters and optimiser states, and one SAC gradient update.

One update is fused: the critic, actor and temperature losses are computed from the same
parameters and differentiated in one backward pass (each loss stops the gradient into what it
must not update, so the sum's gradient is each loss's own gradient). Then the three optimisers
step and the target critics move towards the critics by Polyak averaging.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from gpu_sac.agent import normalizer
from gpu_sac.agent.losses import actor_loss, alpha_loss, critic_loss
from gpu_sac.agent.networks import SACNetworks
from gpu_sac.config import SACConfig
from gpu_sac.replay import Transition


@struct.dataclass
class AgentState:
    """Everything learned. critic and target_critic params carry a leading n_critics axis."""

    actor_params: Any
    critic_params: Any
    target_critic_params: Any
    log_alpha: jax.Array  # () float32
    actor_opt_state: Any
    critic_opt_state: Any
    alpha_opt_state: Any
    obs_stats: normalizer.RunningStats | None  # None when observations are not normalised


class Temperature(NamedTuple):
    """How α is set (made once by `temperature`): learned as exp(log α), or fixed at init; kept within
    [low, high] where those are set."""

    learn: bool
    init: float
    low: float | None
    high: float | None


def temperature(config: SACConfig) -> Temperature:
    """The config's learn_alpha, init_alpha, alpha_min and alpha_max as a Temperature."""
    return Temperature(config.learn_alpha, config.init_alpha, config.alpha_min, config.alpha_max)


def _optimizer(lr: float, horizon: int, schedule: str, max_grad_norm: float | None,
               weight_decay: float = 0.0) -> optax.GradientTransformation:
    """Adam, or AdamW where weight_decay > 0 (decoupled decay, scaled by the learning rate as in
    torch.optim.AdamW, which FastTD3 and FastSAC use); lr decays over `horizon` steps as `schedule`
    (constant, linear, cosine) says; gradients clipped to max_grad_norm where set."""
    if schedule == "linear":
        lr = optax.linear_schedule(lr, 0.0, max(horizon, 1))
    elif schedule == "cosine":
        lr = optax.cosine_decay_schedule(lr, max(horizon, 1))
    adam = optax.adamw(lr, weight_decay=weight_decay) if weight_decay > 0 else optax.adam(lr)
    if max_grad_norm is None:
        return adam
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), adam)


def make_optimizers(config: SACConfig) -> tuple[optax.GradientTransformation, ...]:
    """Separate Adam optimisers for actor, critics and log α (seed §5 "Separate Optimizers"); the
    networks' decay weights with weight_decay > 0, log α never."""
    # Update i moves the actor and α where i % policy_delay == 0: ceil(total / delay) times.
    actor_horizon = -(-config.total_updates // config.policy_delay)
    schedule, clip = config.lr_schedule, config.max_grad_norm
    return (
        _optimizer(config.actor_lr, actor_horizon, schedule, clip, config.weight_decay),
        _optimizer(config.critic_lr, config.total_updates, schedule, clip, config.weight_decay),
        _optimizer(config.alpha_lr, actor_horizon, schedule, clip),
    )


def target_entropy(config: SACConfig, act_dim: int) -> float:
    return -float(act_dim) if config.target_entropy is None else float(config.target_entropy)


def init_agent(config: SACConfig, nets: SACNetworks, key: jax.Array) -> AgentState:
    """Fresh parameters; target critics start equal to the critics (seed §5 trick 4)."""
    actor_key, critic_key = jax.random.split(key)
    actor_params = nets.actor_init(actor_key)
    critic_params = nets.critic_init(critic_key)
    # α = 0 (the ablation) is kept as log α = 0 and never read: a fixed α comes from the config.
    log_alpha = jnp.asarray(math.log(config.init_alpha) if config.init_alpha > 0 else 0.0, jnp.float32)
    actor_opt, critic_opt, alpha_opt = make_optimizers(config)
    return AgentState(
        actor_params=actor_params,
        critic_params=critic_params,
        target_critic_params=jax.tree.map(jnp.copy, critic_params),
        log_alpha=log_alpha,
        actor_opt_state=actor_opt.init(actor_params),
        critic_opt_state=critic_opt.init(critic_params),
        alpha_opt_state=alpha_opt.init(log_alpha),
        obs_stats=normalizer.init(nets.obs_dim) if config.normalize_observations else None,
    )


def current_alpha(temp: Temperature, log_alpha: jax.Array) -> jax.Array:
    """α as the losses use it: exp(log α) when learned, else the fixed init_alpha; within
    [alpha_min, alpha_max] where those are set (the config refuses an init_alpha outside them)."""
    alpha = jnp.exp(log_alpha) if temp.learn else jnp.asarray(temp.init, jnp.float32)
    if temp.low is not None or temp.high is not None:
        alpha = jnp.clip(alpha, temp.low, temp.high)
    return alpha


def polyak(params, target_params, tau: float):
    """target ← τ·params + (1 − τ)·target, leaf by leaf (τ = 1 copies, τ = 0 keeps)."""
    return optax.incremental_update(params, target_params, tau)


def make_update(config: SACConfig, nets: SACNetworks, mean: Callable = lambda tree: tree) -> Callable:
    """update(agent, batch, weight, key, update_index) -> (agent, metrics, td_abs (B,)).

    batch: raw (unnormalised) transitions of leading shape (B,); weight: (B,) importance weights;
    update_index: () int32, the index of this gradient update in the run (for policy_delay).
    metrics: metrics.LEARNER, each (). td_abs: mean over critics of |TD error|, for priorities.
    mean: averages a pytree over the devices of a data-parallel run (`lax.pmean`), applied to the
    gradients and the metrics: each device's batch is an equal share of the update's batch, so the
    mean of the devices' batch-mean gradients is the gradient of the whole batch's loss.
    """
    optimizers, temp = make_optimizers(config), temperature(config)
    losses = make_total_loss(config, nets)

    def update(agent: AgentState, batch: Transition, weight: jax.Array, key: jax.Array, update_index: jax.Array):
        batch = batch._replace(
            obs=normalizer.normalize(agent.obs_stats, batch.obs),
            next_obs=normalizer.normalize(agent.obs_stats, batch.next_obs),
        )
        params = (agent.actor_params, agent.critic_params, agent.log_alpha)
        grads, aux = jax.grad(losses, has_aux=True)(params, agent.target_critic_params, batch, weight, key)
        td_abs = aux.pop("td_abs")
        grads, aux = mean((grads, aux))
        new = apply_gradients(optimizers, agent, grads, temp)
        # Delayed policy updates: actor and α move on every policy_delay-th update only.
        if config.policy_delay > 1:
            keep = update_index % config.policy_delay != 0
            names = ("actor_params", "actor_opt_state", "log_alpha", "alpha_opt_state")
            new = new.replace(**{n: jax.tree.map(lambda a, b: jnp.where(keep, b, a), getattr(new, n),
                                                 getattr(agent, n)) for n in names})
        new = new.replace(target_critic_params=polyak(new.critic_params, agent.target_critic_params, config.tau))
        return new, aux, td_abs

    return update


def make_total_loss(config: SACConfig, nets: SACNetworks) -> Callable:
    """total(params=(actor, critic, log α), target_critic_params, batch, weight, key) -> (loss, aux).

    The sum of the three losses, each stopping the gradient into what it must not update, so that
    one backward pass gives each its own gradient.
    """
    h_target, temp = target_entropy(config, nets.act_dim), temperature(config)

    def total_loss(params, target_critic_params, batch: Transition, weight: jax.Array, key: jax.Array):
        actor_params, critic_params, log_alpha = params
        critic_key, actor_key = jax.random.split(key)
        alpha = current_alpha(temp, log_alpha)
        c_loss, c_aux = critic_loss(nets, critic_params, target_critic_params, actor_params, alpha, batch, weight,
                                    critic_key)
        a_loss, log_prob = actor_loss(nets, actor_params, critic_params, alpha, batch.obs, actor_key)
        t_loss = alpha_loss(log_alpha, log_prob, h_target) if temp.learn else jnp.zeros(())
        aux = dict(c_aux, critic_loss=c_loss, actor_loss=a_loss, alpha_loss=t_loss, entropy=-log_prob.mean(),
                   alpha=alpha)
        return c_loss + a_loss + t_loss, aux

    return total_loss


def apply_gradients(optimizers: tuple, agent: AgentState, grads: tuple, temp: Temperature) -> AgentState:
    """One step of each optimiser (critics, actor, then log α when it is learned, kept within the α
    bounds); the target critics are left to the caller."""
    actor_opt, critic_opt, alpha_opt = optimizers
    actor_grad, critic_grad, alpha_grad = grads
    updates, critic_opt_state = critic_opt.update(critic_grad, agent.critic_opt_state, agent.critic_params)
    critic_params = optax.apply_updates(agent.critic_params, updates)
    updates, actor_opt_state = actor_opt.update(actor_grad, agent.actor_opt_state, agent.actor_params)
    actor_params = optax.apply_updates(agent.actor_params, updates)
    log_alpha, alpha_opt_state = agent.log_alpha, agent.alpha_opt_state
    if temp.learn:
        updates, alpha_opt_state = alpha_opt.update(alpha_grad, agent.alpha_opt_state, agent.log_alpha)
        low = -jnp.inf if temp.low is None else math.log(temp.low)
        high = jnp.inf if temp.high is None else math.log(temp.high)
        log_alpha = jnp.clip(optax.apply_updates(agent.log_alpha, updates), low, high)
    return agent.replace(actor_params=actor_params, critic_params=critic_params, log_alpha=log_alpha,
                         actor_opt_state=actor_opt_state, critic_opt_state=critic_opt_state,
                         alpha_opt_state=alpha_opt_state)
