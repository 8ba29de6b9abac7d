"""A device-resident ring buffer of transitions, written in place.

Each transition is one row of a single float32 matrix (capacity, row_size): obs, action, reward,
next_obs, discount side by side. One row per transition keeps the fields aligned by construction,
and makes an insert one scatter and a batch one gather (not one of each per field). Writes go to
rows (insert_pos + i) mod capacity: with the train state donated, XLA updates the matrix in place;
nothing is ever rolled or copied (Brax's queue rolls the whole buffer on every insert once full).

`discount` is the factor on the bootstrapped value: γ^k for a k-step transition that did not
terminate, 0 for one that did. Truncated transitions keep their discount and their true final
observation as next_obs, so the critic bootstraps from it.

Prioritised replay (optional) keeps one priority per row and samples by inverse CDF: a cumsum over
the capacity per batch, O(capacity), which is why it is off by default.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct


class Transition(NamedTuple):
    """Fields of a batch of transitions; leading shape (...,) is the batch."""

    obs: jax.Array  # (..., obs_dim)
    action: jax.Array  # (..., act_dim), in [−1, 1] (the policy's squashed space)
    reward: jax.Array  # (...,) (n-step: the discounted sum of n rewards)
    next_obs: jax.Array  # (..., obs_dim): the true final obs at an episode's end
    discount: jax.Array  # (...,): γ^n, or 0 if the episode terminated


def row_size(obs_dim: int, act_dim: int) -> int:
    return 2 * obs_dim + act_dim + 2


def pack(t: Transition) -> jax.Array:
    """Transition with leading shape (n,) → rows (n, row_size)."""
    return jnp.concatenate(
        [t.obs, t.action, t.reward[:, None], t.next_obs, t.discount[:, None]], axis=-1
    ).astype(jnp.float32)


def unpack(rows: jax.Array, obs_dim: int, act_dim: int) -> Transition:
    """Rows (..., row_size) → Transition."""
    a = obs_dim
    b = a + act_dim
    return Transition(
        obs=rows[..., :a],
        action=rows[..., a:b],
        reward=rows[..., b],
        next_obs=rows[..., b + 1 : b + 1 + obs_dim],
        discount=rows[..., b + 1 + obs_dim],
    )


@struct.dataclass
class ReplayBuffer:
    """data: (capacity, row_size) f32; insert_pos, size: () int32; priority: (capacity,) f32 or None."""

    data: jax.Array
    insert_pos: jax.Array
    size: jax.Array
    priority: jax.Array | None
    max_priority: jax.Array
    obs_dim: int = struct.field(pytree_node=False)
    act_dim: int = struct.field(pytree_node=False)

    @property
    def capacity(self) -> int:
        return self.data.shape[0]


def init(capacity: int, obs_dim: int, act_dim: int, prioritized: bool = False) -> ReplayBuffer:
    return ReplayBuffer(
        data=jnp.zeros((capacity, row_size(obs_dim, act_dim)), jnp.float32),
        insert_pos=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
        priority=jnp.zeros((capacity,), jnp.float32) if prioritized else None,
        max_priority=jnp.ones((), jnp.float32),
        obs_dim=obs_dim,
        act_dim=act_dim,
    )


def bytes_per_transition(obs_dim: int, act_dim: int, prioritized: bool = False) -> int:
    return 4 * row_size(obs_dim, act_dim) + (4 if prioritized else 0)


def insert(buffer: ReplayBuffer, transitions: Transition) -> ReplayBuffer:
    """Write n transitions (leading shape (n,), n <= capacity) at the ring's head."""
    rows = pack(transitions)
    n = rows.shape[0]
    index = (buffer.insert_pos + jnp.arange(n, dtype=jnp.int32)) % buffer.capacity
    priority = buffer.priority
    if priority is not None:  # new transitions get the highest priority seen, so each is replayed
        priority = priority.at[index].set(buffer.max_priority, unique_indices=True)
    return buffer.replace(
        data=buffer.data.at[index].set(rows, unique_indices=True),
        insert_pos=(buffer.insert_pos + n) % buffer.capacity,
        size=jnp.minimum(buffer.size + n, buffer.capacity),
        priority=priority,
    )


def sample(
    buffer: ReplayBuffer, key: jax.Array, shape: tuple[int, ...], per_alpha: float = 0.6, per_beta: float = 0.4
) -> tuple[Transition, jax.Array, jax.Array]:
    """Draw transitions of leading shape `shape` from the written rows.

    Returns (batch, index of shape `shape`, importance weights of shape `shape`). Uniform sampling
    gives weights of 1; prioritised sampling draws row i with probability p_i^α / Σ p^α and weighs
    it by (size · P(i))^−β, divided by the largest weight in the draw.
    """
    if buffer.priority is None:
        index = jax.random.randint(key, shape, 0, buffer.size)
        weight = jnp.ones(shape, jnp.float32)
    else:
        written = jnp.arange(buffer.capacity) < buffer.size
        scaled = jnp.where(written, buffer.priority**per_alpha, 0.0)
        cdf = jnp.cumsum(scaled)
        u = jax.random.uniform(key, shape) * cdf[-1]
        index = jnp.clip(jnp.searchsorted(cdf, u, side="right"), 0, buffer.size - 1)
        prob = scaled[index] / cdf[-1]
        weight = (buffer.size * prob) ** -per_beta
        weight = weight / jnp.max(weight)
    return unpack(buffer.data[index], buffer.obs_dim, buffer.act_dim), index, weight


def update_priority(buffer: ReplayBuffer, index: jax.Array, td_error: jax.Array, eps: float) -> ReplayBuffer:
    """Set the priority of rows `index` to |td_error| + eps (no-op without prioritised replay)."""
    if buffer.priority is None:
        return buffer
    new = jnp.abs(td_error) + eps
    return buffer.replace(
        priority=buffer.priority.at[index.reshape(-1)].set(new.reshape(-1)),
        max_priority=jnp.maximum(buffer.max_priority, jnp.max(new)),
    )
