"""The trained policy alone: actor parameters, observation statistics and action bounds, and a
jittable act function. Enough to act in an env, without critics, optimisers or replay buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from gpu_sac.agent import normalizer
from gpu_sac.agent.networks import SACNetworks


@struct.dataclass
class PolicyParams:
    """actor_params: the actor's params; obs_stats: RunningStats or None; low, high: (act_dim,)."""

    actor_params: Any
    obs_stats: normalizer.RunningStats | None
    low: jax.Array
    high: jax.Array


def make_act(nets: SACNetworks) -> Callable:
    """act(policy_params, obs, key=None, deterministic=True) -> action within [low, high].

    obs: (..., obs_dim), e.g. (obs_dim,) or (batch, obs_dim); the action has the same leading shape.
    The deterministic action is the networks' mode, tanh(mean) (seed pitfall 7); a stochastic one
    needs `key`.
    """

    def act(policy: PolicyParams, obs: jax.Array, key: jax.Array | None = None, deterministic: bool = True):
        # Shapes are static under jit, so a wrong observation size is caught at trace time with a
        # message naming both sizes, rather than as a broadcasting error deep inside the actor.
        if jnp.ndim(obs) == 0 or jnp.shape(obs)[-1] != nets.obs_dim:
            raise ValueError(f"obs has shape {jnp.shape(obs)}: this policy takes (..., {nets.obs_dim})")
        obs = normalizer.normalize(policy.obs_stats, obs)
        if deterministic:
            action = nets.mode(policy.actor_params, obs)
        else:
            if key is None:
                raise ValueError("act(..., deterministic=False) needs key=a PRNG key")
            action, _ = nets.sample(policy.actor_params, obs, key)
        return nets.scale_action(action, policy.low, policy.high)

    return act
