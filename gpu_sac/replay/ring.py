"""The packed ring every replay variant stores its transitions in, and uniform replay.

Each transition is one row of a single float32 matrix (capacity, row_size): obs, action, reward,
next_obs, discount side by side. One row per transition keeps the fields aligned by construction,
and makes an insert one scatter and a batch one gather (not one of each per field). Writes go to rows
(insert_pos + i) mod capacity: with the train state donated, XLA updates the matrix in place; nothing
is ever rolled or copied (Brax's queue rolls the whole buffer on every insert once full).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from gpu_sac.replay.transition import Transition


def row_size(obs_dim: int, act_dim: int) -> int:
    return 2 * obs_dim + act_dim + 2


def pack(t: Transition) -> jax.Array:
    """Transition with leading shape (n,) → rows (n, row_size) f32."""
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


def bytes_per_transition(obs_dim: int, act_dim: int, prioritized: bool = False, her: bool = False) -> int:
    """Device bytes per stored transition: one float32 row, plus two float32 sum-tree nodes when
    prioritised (the tree has 2·capacity nodes for any capacity, so this does not depend on it), plus
    two int32 of episode index with hindsight relabelling (gpu_sac/replay/her.py). The buffer's scalars
    (insert_pos, size, max_priority) and HER's per-env counters are left out."""
    return 4 * row_size(obs_dim, act_dim) + (2 * 4 if prioritized else 0) + (2 * 4 if her else 0)


@struct.dataclass
class ReplayBuffer:
    """A ring of packed transitions, and for prioritised replay the sum-tree over its rows.

    data: (capacity, row_size) f32, row r holds `pack` of one transition; rows >= size are unwritten.
    insert_pos: () int32, the next row written.  size: () int32, rows written (at most capacity).
    tree: (2·capacity,) f32 or None (uniform). Node 1 is the root, node k has children 2k and 2k+1,
      row r's leaf is node capacity + r and holds p_r^α (0 while unwritten); node 0 is unused. This
      heap shape is a full binary tree for any capacity (leaves at two depths when capacity is not
      a power of two), so it needs no padding to a power of two.
    max_priority: () f32 or None: the largest raw priority (|TD error| + eps) seen, starting at 1;
      new rows get it, so each is replayed at least once with a high probability.
    episodes: where each row sits in its episode, for hindsight relabelling (`her.Episodes`); None
      otherwise.
    finals: the compact layout's true final observations of truncated episodes and its next slot
      (gpu_sac/replay/compact.py); None otherwise.
    """

    data: jax.Array
    insert_pos: jax.Array
    size: jax.Array
    tree: jax.Array | None
    max_priority: jax.Array | None
    obs_dim: int = struct.field(pytree_node=False)
    act_dim: int = struct.field(pytree_node=False)
    episodes: Any = None
    finals: Any = None

    @property
    def capacity(self) -> int:
        return self.data.shape[0]


class Replay(NamedTuple):
    """A replay variant: pure, jittable functions over a ReplayBuffer (vmap them for several agents).

    init: () -> empty buffer.
    insert: (buffer, transitions of leading shape (n,), n <= capacity, episode_end (n,) bool or None)
      -> buffer. episode_end: the transitions that end their env's episode (HER reads it; uniform
      and prioritised replay ignore it).
    sample: (buffer, key, shape) -> (batch of leading shape `shape`, row index `shape` int32,
      importance weight `shape` f32); the buffer must hold at least one row.
    update_priority: (buffer, index (any shape) int32, td_abs (same shape) >= 0) -> buffer.
    bytes_per_transition: device bytes per stored transition, everything kept per row included; the
      same at any capacity, so the memory check can name a capacity that fits without the layout.
    capacity: rows in the ring.
    """

    init: Callable[[], ReplayBuffer]
    insert: Callable[..., ReplayBuffer]
    sample: Callable[[ReplayBuffer, jax.Array, tuple[int, ...]], tuple[Transition, jax.Array, jax.Array]]
    update_priority: Callable[[ReplayBuffer, jax.Array, jax.Array], ReplayBuffer]
    bytes_per_transition: int
    capacity: int


# The ring, shared by every variant.


def empty(capacity: int, obs_dim: int, act_dim: int, tree: jax.Array | None = None) -> ReplayBuffer:
    return ReplayBuffer(
        data=jnp.zeros((capacity, row_size(obs_dim, act_dim)), jnp.float32),
        insert_pos=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
        tree=tree,
        max_priority=None if tree is None else jnp.ones((), jnp.float32),
        obs_dim=obs_dim,
        act_dim=act_dim,
    )


def ring_rows(buffer: ReplayBuffer, n: int) -> jax.Array:
    """(n,) int32: the rows the next n transitions go to."""
    return (buffer.insert_pos + jnp.arange(n, dtype=jnp.int32)) % buffer.capacity


def write(buffer: ReplayBuffer, rows: jax.Array, transitions: Transition) -> ReplayBuffer:
    packed = pack(transitions)
    n = packed.shape[0]
    return buffer.replace(
        data=buffer.data.at[rows].set(packed, unique_indices=True),
        insert_pos=(buffer.insert_pos + n) % buffer.capacity,
        size=jnp.minimum(buffer.size + n, buffer.capacity),
    )


def gather(buffer: ReplayBuffer, index: jax.Array) -> Transition:
    return unpack(buffer.data[index], buffer.obs_dim, buffer.act_dim)


# Uniform replay.


def uniform(capacity: int, obs_dim: int, act_dim: int) -> Replay:
    """Every written row equally likely; weights 1; update_priority is the identity."""

    def init() -> ReplayBuffer:
        return empty(capacity, obs_dim, act_dim)

    def insert(buffer: ReplayBuffer, transitions: Transition, episode_end: jax.Array | None = None) -> ReplayBuffer:
        del episode_end
        return write(buffer, ring_rows(buffer, transitions.reward.shape[0]), transitions)

    def sample(buffer: ReplayBuffer, key: jax.Array, shape: tuple[int, ...]):
        index = jax.random.randint(key, shape, 0, buffer.size)
        return gather(buffer, index), index, jnp.ones(shape, jnp.float32)

    def update_priority(buffer: ReplayBuffer, index: jax.Array, td_abs: jax.Array) -> ReplayBuffer:
        del index, td_abs
        return buffer

    return Replay(init, insert, sample, update_priority, bytes_per_transition(obs_dim, act_dim), capacity)
