"""Replay buffers as records of pure functions: uniform and prioritised, one packed ring underneath.

    replay = make_replay(config, obs_dim, act_dim)      # or uniform(...) / prioritized(...)
    buffer = replay.init()                              # a pytree; donate it and it is updated in place
    buffer = replay.insert(buffer, transitions)         # leading shape (n,), n <= capacity
    buffer = replay.insert(buffer, transitions, episode_end)   # HER: which envs' episodes ended
    batch, index, weight = replay.sample(buffer, key, (U, B))
    buffer = replay.update_priority(buffer, index, td_abs)   # the identity for uniform replay

The trainer, the memory check and checkpoints use the record and the `ReplayBuffer` fields below,
never a variant's layout, so a new variant is one more constructor (hindsight relabelling:
gpu_sac/her.py, on the uniform ring with an episode index beside it).

Storage. Each transition is one row of a single float32 matrix (capacity, row_size): obs, action,
reward, next_obs, discount side by side. One row per transition keeps the fields aligned by
construction, and makes an insert one scatter and a batch one gather (not one of each per field).
Writes go to rows (insert_pos + i) mod capacity: with the train state donated, XLA updates the
matrix in place; nothing is ever rolled or copied (Brax's queue rolls the whole buffer on every
insert once full).

Prioritised replay keeps a sum-tree over p_i^α (p_i = |TD error| + eps): inserts and priority
updates cost O(n log capacity), a draw O(log capacity), against O(capacity) for an inverse CDF by
cumulative sum. The tree is descended with a fresh uniform per level, choosing left with probability
left / (left + right), so no single float32 number has to resolve `capacity` intervals. (The inverse
CDF it replaces drew u = uniform · Σ: with 2²³ float32 uniforms and Σ ≈ 2²² for 2²² priorities in
[0.5, 1.5], u fell on a grid of 0.5, one to three points per row, so rows were drawn up to 100 % off
their probability; and its float32 cumsum rounds late rows further.) The importance weights use the
probability of the path actually taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from gpu_sac.transition import Transition

if TYPE_CHECKING:
    from gpu_sac.config import SACConfig

__all__ = [
    "Replay",
    "ReplayBuffer",
    "Transition",  # re-exported: it lives in gpu_sac.transition
    "bytes_per_transition",
    "gather",
    "make_replay",
    "pack",
    "prioritized",
    "ring_rows",
    "row_size",
    "uniform",
    "unpack",
    "write",
]


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
    two int32 of episode index with hindsight relabelling (gpu_sac/her.py). The buffer's scalars
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
      (gpu_sac/compact_replay.py); None otherwise.
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


def make_replay(config: SACConfig, obs_dim: int, act_dim: int, capacity: int | None = None,
                max_over_rings: Callable[[jax.Array], jax.Array] | None = None, goal: Any = None) -> Replay:
    """The config's replay: hindsight relabelling (her, with the env's `envs.goal.GoalSpec` as goal),
    prioritised (per_alpha, per_beta, per_eps), compact (each observation stored once) or uniform,
    of `capacity` rows (default buffer_size; a data-parallel run gives each device buffer_size /
    num_devices, and max_over_rings, the max over the devices' rings: see `prioritized`)."""
    capacity = config.buffer_size if capacity is None else capacity
    if config.replay_layout == "compact":
        from gpu_sac import compact_replay
        from gpu_sac.mesh import layout

        return compact_replay.compact(capacity, obs_dim, act_dim, layout(config).envs, config.episode_length)
    if config.her != "off":
        from gpu_sac import her

        if goal is None:
            raise ValueError(f"her={config.her!r} needs a goal env (envs.goal.flatten(env)): this env has no goals")
        return her.her_replay(capacity, obs_dim, act_dim, goal, config)
    if config.prioritized_replay:
        return prioritized(capacity, obs_dim, act_dim, config.per_alpha, config.per_beta, config.per_eps,
                           max_over_rings)
    return uniform(capacity, obs_dim, act_dim)


# The ring, shared by both variants.


def _empty(capacity: int, obs_dim: int, act_dim: int, tree: jax.Array | None = None) -> ReplayBuffer:
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
        return _empty(capacity, obs_dim, act_dim)

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


# Prioritised replay over a sum-tree (layout: see ReplayBuffer.tree).


def _tree_depth(capacity: int) -> int:
    """Edges from the root to the deepest leaf of the heap-shaped tree with 2·capacity − 1 nodes."""
    return (2 * capacity - 1).bit_length() - 1


def _tree_set(tree: jax.Array, rows: jax.Array, leaf: jax.Array, unique: bool) -> jax.Array:
    """Set the leaves of rows (n,) to leaf (n,) and recompute their ancestors: O(n log capacity).

    Ancestors are recomputed level by level from their two children (never adjusted by a delta, so
    no rounding error accumulates over a run). A node on the paths of several rows is written by
    each with the same value. With leaves at two depths, a node is last recomputed on the step
    after its deeper child was, so it ends right. Duplicate rows (one row drawn twice in a batch)
    keep the largest leaf, deterministically on every backend.
    """
    capacity = tree.shape[0] // 2
    node = capacity + rows
    # A scatter-set with repeated indices keeps an unspecified one of them (on a GPU, not always the
    # same one): where rows may repeat, clear them and keep the largest, the same on every backend.
    tree = tree.at[node].set(leaf, unique_indices=True) if unique else tree.at[node].set(0.0).at[node].max(leaf)
    for _ in range(_tree_depth(capacity)):
        node = jnp.maximum(node >> 1, 1)  # a path already at the root recomputes the root again
        tree = tree.at[node].set(tree.reshape(capacity, 2)[node].sum(-1))
    return tree


def _tree_sample(tree: jax.Array, key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """Draw rows of shape `shape` with probability leaf / root; also return that probability as the
    product of the branch probabilities along the path taken.

    Each level uses its own uniform, compared with left / (left + right): a zero-mass child is never
    entered (left = 0 gives ratio 0; right = 0 gives ratio exactly 1 > u), so unwritten rows are
    never drawn, and each comparison resolves two intervals, not `capacity` of them.
    """
    capacity = tree.shape[0] // 2
    children = tree.reshape(capacity, 2)  # row k: (node 2k, node 2k + 1), the children of node k

    def level(carry, u):
        node, prob = carry
        inner = node < capacity  # false only where a leaf sits one level above the deepest
        pair = children[jnp.where(inner, node, 1)]
        left, right = pair[..., 0], pair[..., 1]
        total = left + right
        go_right = u >= left / total
        prob = jnp.where(inner, prob * (jnp.where(go_right, right, left) / total), prob)
        node = jnp.where(inner, 2 * node + go_right.astype(jnp.int32), node)
        return (node, prob), None

    # A scan, not an unrolled loop: unrolled, XLA:CPU fuses the whole path so far into each level's
    # gather and recomputes it there (5x slower at depth 20).
    u = jax.random.uniform(key, (_tree_depth(capacity), *shape))
    start = (jnp.ones(shape, jnp.int32), jnp.ones(shape, jnp.float32))
    (node, prob), _ = jax.lax.scan(level, start, u)
    return node - capacity, prob


def prioritized(capacity: int, obs_dim: int, act_dim: int, alpha: float, beta: float, eps: float,
                max_over_rings: Callable[[jax.Array], jax.Array] | None = None) -> Replay:
    """Row i drawn with probability P(i) = p_i^α / Σ p^α over written rows, p_i = |TD error| + eps
    (new rows: the largest p seen). Importance weights (size · P(i))^−β, divided by the largest
    weight of the draw (Schaul et al. 2016).

    max_over_rings: where one agent's replay is several rings (one per device, each drawing its share
    of every batch), the max over all of them (`lax.pmax`), so that the weights of a batch are divided
    by the largest of the whole batch and every ring gives new rows the largest priority seen in any
    of them, as one ring would. Each ring's weights use its own size and sum: a row's probability of
    being drawn into its ring's share, which is what the stratified draw does."""
    over_rings = (lambda x: x) if max_over_rings is None else max_over_rings

    def init() -> ReplayBuffer:
        return _empty(capacity, obs_dim, act_dim, tree=jnp.zeros((2 * capacity,), jnp.float32))

    def insert(buffer: ReplayBuffer, transitions: Transition, episode_end: jax.Array | None = None) -> ReplayBuffer:
        del episode_end
        n = transitions.reward.shape[0]
        rows = ring_rows(buffer, n)
        leaf = jnp.full((n,), buffer.max_priority**alpha, jnp.float32)
        buffer = buffer.replace(tree=_tree_set(buffer.tree, rows, leaf, unique=True))
        return write(buffer, rows, transitions)

    def sample(buffer: ReplayBuffer, key: jax.Array, shape: tuple[int, ...]):
        index, prob = _tree_sample(buffer.tree, key, shape)
        weight = (buffer.size.astype(jnp.float32) * prob) ** -beta
        return gather(buffer, index), index, weight / over_rings(jnp.max(weight))

    def update_priority(buffer: ReplayBuffer, index: jax.Array, td_abs: jax.Array) -> ReplayBuffer:
        # abs: a signed TD error passed by mistake still gives a valid priority.
        priority = jnp.abs(td_abs.reshape(-1)).astype(jnp.float32) + eps
        return buffer.replace(
            tree=_tree_set(buffer.tree, index.reshape(-1), priority**alpha, unique=False),
            max_priority=jnp.maximum(buffer.max_priority, over_rings(jnp.max(priority))),
        )

    per_row = bytes_per_transition(obs_dim, act_dim, prioritized=True)
    return Replay(init, insert, sample, update_priority, per_row, capacity)
