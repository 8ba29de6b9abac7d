"""n-step transitions, built per env in front of the replay buffer.

Each env keeps a window of its last n one-step transitions. Every vectorised step pushes one
transition per env and emits the one pushed n − 1 steps earlier, by then complete:

    obs_t, action_t, R = Σ_{k<m} γ^k r_{t+k}, next_obs_{t+m}, discount = γ^m (0 if terminated)

with m = n, or fewer if the episode ended inside the window (by termination: discount 0; by
truncation: bootstrap from the true final observation). One in, one out per step, so the replay
buffer stays a plain ring buffer. The first n − 1 steps of a run emit nothing (`valid` is False).
With n = 1 the trainer skips this module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from gpu_sac.replay.transition import Transition


@struct.dataclass
class NStepWindow:
    """Pending transitions per env, slot axis of size n. Shapes (num_envs, n, ...)."""

    transition: Transition  # reward: discounted sum so far; discount: γ^m·(1 − terminated)
    open: jax.Array  # (num_envs, n) bool: still collecting rewards (its episode has not ended)


def init(num_envs: int, n: int, obs_dim: int, act_dim: int) -> NStepWindow:
    zeros = lambda *shape: jnp.zeros((num_envs, n, *shape), jnp.float32)  # noqa: E731
    return NStepWindow(
        Transition(zeros(obs_dim), zeros(act_dim), zeros(), zeros(obs_dim), zeros()),
        jnp.zeros((num_envs, n), bool),
    )


def push(
    window: NStepWindow, step: Transition, episode_end: jax.Array, iteration: jax.Array, gamma: float
) -> tuple[NStepWindow, Transition, jax.Array]:
    """Add one step per env and pop the oldest pending transition.

    step: one-step transitions, leading shape (num_envs,), with discount γ·(1 − terminated).
    episode_end: (num_envs,) bool, terminated or truncated at this step. iteration: () int32, the
    vectorised step index since the run began. Returns (window, emitted (num_envs,), valid ()).
    """
    n = window.open.shape[1]
    old = window.transition
    is_open = window.open
    # 1. Pending transitions of each env's current episode take this step's reward and next obs.
    #    discount holds γ^m for open entries (m steps so far), so the new reward weighs γ^m.
    reward = old.reward + jnp.where(is_open, old.discount * step.reward[:, None], 0.0)
    # step.discount is γ·(1 − terminated): the bootstrap factor grows by γ, or drops to 0.
    discount = jnp.where(is_open, old.discount * step.discount[:, None], old.discount)
    next_obs = jnp.where(is_open[..., None], step.next_obs[:, None, :], old.next_obs)
    is_open = is_open & ~episode_end[:, None]
    # 2. This step's own transition enters slot iteration mod n (emitted at the previous step).
    slot = iteration % n
    new = Transition(step.obs, step.action, step.reward, step.next_obs, step.discount)
    pending = Transition(old.obs, old.action, reward, next_obs, discount)
    pending = jax.tree.map(lambda p, x: p.at[:, slot].set(x), pending, new)
    is_open = is_open.at[:, slot].set(~episode_end)
    # 3. The oldest slot, pushed n − 1 steps ago, now has n rewards (or its episode ended): emit.
    oldest = (iteration + 1) % n
    emitted = jax.tree.map(lambda p: p[:, oldest], pending)
    return NStepWindow(pending, is_open), emitted, iteration >= n - 1
