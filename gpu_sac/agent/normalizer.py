"""Running mean and variance of observations (Chan et al.'s parallel update), a pytree in the
train state. Observations are stored raw in the replay buffer and normalised where they are used,
with the current statistics, so that old transitions are never stale.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

CLIP = 10.0  # normalised observations beyond ±10σ are clipped, as in SB3's VecNormalize


@struct.dataclass
class RunningStats:
    """mean, var: (obs_dim,); count: () float32 (counts exactly up to 2²⁴, approximately beyond)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def init(obs_dim: int) -> RunningStats:
    return RunningStats(jnp.zeros(obs_dim), jnp.ones(obs_dim), jnp.zeros(()))


def update(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merge a batch of observations (n, obs_dim) into the statistics."""
    n = jnp.asarray(batch.shape[0], jnp.float32)
    batch_mean = batch.mean(0)
    batch_var = batch.var(0)
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * n / total
    # With count = 0 the old var (ones) carries zero weight, so the first batch sets var exactly.
    m2 = stats.var * stats.count + batch_var * n + delta**2 * stats.count * n / total
    return RunningStats(mean, m2 / total, total)


def normalize(stats: RunningStats | None, obs: jax.Array) -> jax.Array:
    """(obs − mean) / σ, clipped to ±CLIP; the identity when stats is None (normalisation off)."""
    if stats is None:
        return obs
    return jnp.clip((obs - stats.mean) / jnp.sqrt(stats.var + 1e-8), -CLIP, CLIP)
