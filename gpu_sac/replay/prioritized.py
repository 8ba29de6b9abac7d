"""Prioritised replay over a sum-tree on the packed ring (Schaul et al. 2016).

The sum-tree holds p_i^α (p_i = |TD error| + eps): inserts and priority updates cost
O(n log capacity), a draw O(log capacity), against O(capacity) for an inverse CDF by cumulative sum.
The tree is descended with a fresh uniform per level, choosing left with probability
left / (left + right), so no single float32 number has to resolve `capacity` intervals. (The inverse
CDF it replaces drew u = uniform · Σ: with 2²³ float32 uniforms and Σ ≈ 2²² for 2²² priorities in
[0.5, 1.5], u fell on a grid of 0.5, one to three points per row, so rows were drawn up to 100 % off
their probability; and its float32 cumsum rounds late rows further.) The importance weights use the
probability of the path actually taken.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gpu_sac.replay.ring import Replay, ReplayBuffer, Transition, bytes_per_transition, empty, gather, ring_rows, write

# The sum-tree's layout: see ReplayBuffer.tree.


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
        return empty(capacity, obs_dim, act_dim, tree=jnp.zeros((2 * capacity,), jnp.float32))

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
