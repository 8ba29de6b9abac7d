"""Replay that stores each observation once (replay_layout="compact").

The plain ring (gpu_sac/replay/) keeps obs and next_obs in every row, so every observation is
stored twice: the next observation of env e's step t is the observation of its step t + 1. With
thousands of envs and humanoid-sized observations that doubling is most of a run's memory. Here a
row holds [obs (o), action (a), reward, discount, final slot] and the next observation of row r is
read from row r + N (N: the envs writing this ring; each insert is one vectorised step of N rows, so
env e always writes rows ≡ e mod N, given capacity % N == 0).

Where an episode ends, row r + N holds the reset observation, not the true final one:
- terminated (discount 0): the critic target never reads next_obs, so nothing is kept;
- truncated (discount > 0, it bootstraps): the true final observation is written to `finals`, a
  small ring of F slots, and the row keeps its slot (else −1). An env truncates at most once per
  episode_length steps, so F = N·(⌈capacity / (N·episode_length)⌉ + 1) slots outlive every row that
  points at one: slots are written in time order, and no more than F truncations fall within the
  rows the ring holds.
The N newest rows have no successor yet and are never drawn.

Bytes per transition: 4·(o + a + 3) + 4·o·F/capacity ≈ 4·(o·(1 + 1/episode_length) + a + 3), against
4·(2o + a + 2) for the plain ring. Uniform sampling only: n_step 1, no prioritised replay, no HER
(the config checks these).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gpu_sac.replay.ring import Replay, ReplayBuffer, Transition, ring_rows


def row_size(obs_dim: int, act_dim: int) -> int:
    return obs_dim + act_dim + 3


def final_slots(capacity: int, envs: int, episode_length: int) -> int:
    """F: enough slots for every truncation among the rows a ring of `capacity` holds."""
    steps = capacity // envs
    return envs * (-(-steps // episode_length) + 1)


def bytes_per_transition(obs_dim: int, act_dim: int, episode_length: int) -> int:
    """Device bytes per stored transition (rounded up): the row, and the share of the final-slot ring
    (one obs per episode_length rows; the fixed N extra slots are left out, as a constant)."""
    return 4 * row_size(obs_dim, act_dim) + -(-4 * obs_dim // episode_length)


def compact(capacity: int, obs_dim: int, act_dim: int, envs: int, episode_length: int) -> Replay:
    """Uniform replay over the compact layout (see the module docstring). envs: N, the rows of one
    insert (this ring's envs); capacity must be a multiple of N."""
    if capacity % envs:
        raise ValueError(f"compact replay: capacity {capacity} must be a multiple of the envs per ring ({envs})")
    n_finals = final_slots(capacity, envs, episode_length)
    o, a = obs_dim, act_dim

    def init() -> ReplayBuffer:
        return ReplayBuffer(
            data=jnp.zeros((capacity, row_size(o, a)), jnp.float32),
            insert_pos=jnp.zeros((), jnp.int32),
            size=jnp.zeros((), jnp.int32),
            tree=None,
            max_priority=None,
            obs_dim=o,
            act_dim=a,
            finals=(jnp.zeros((n_finals, o), jnp.float32), jnp.zeros((), jnp.int32)),  # slots, next slot
        )

    def insert(buffer: ReplayBuffer, t: Transition, episode_end: jax.Array | None = None) -> ReplayBuffer:
        n = t.reward.shape[0]
        if n != envs:
            raise ValueError(f"compact replay inserts one vectorised step of {envs} transitions at a time, not {n}")
        if episode_end is None:
            raise ValueError("compact replay needs episode_end (which transitions end their episode)")
        finals, next_slot = buffer.finals
        keep = episode_end & (t.discount > 0)  # truncated: bootstraps from the true final obs
        slot = (next_slot + jnp.cumsum(keep) - 1) % n_finals
        finals = finals.at[jnp.where(keep, slot, n_finals)].set(t.next_obs.astype(jnp.float32), mode="drop")
        row = jnp.concatenate([t.obs, t.action, t.reward[:, None], t.discount[:, None],
                               jnp.where(keep, slot, -1).astype(jnp.float32)[:, None]], axis=-1)
        rows = ring_rows(buffer, n)
        return buffer.replace(
            data=buffer.data.at[rows].set(row.astype(jnp.float32), unique_indices=True),
            insert_pos=(buffer.insert_pos + n) % capacity,
            size=jnp.minimum(buffer.size + n, capacity),
            finals=(finals, (next_slot + keep.sum()) % n_finals),
        )

    def sample(buffer: ReplayBuffer, key: jax.Array, shape: tuple[int, ...]):
        # Rows from the oldest up to the newest N (which have no successor yet).
        u = jax.random.randint(key, shape, 0, buffer.size - envs)
        index = (buffer.insert_pos - buffer.size + u) % capacity
        return gather(buffer, index, envs), index, jnp.ones(shape, jnp.float32)

    def update_priority(buffer: ReplayBuffer, index: jax.Array, td_abs: jax.Array) -> ReplayBuffer:
        del index, td_abs
        return buffer

    return Replay(init, insert, sample, update_priority, bytes_per_transition(o, a, episode_length), capacity)


def gather(buffer: ReplayBuffer, index: jax.Array, envs: int) -> Transition:
    """The transitions at rows `index` (any shape) of a compact ring written by `envs` envs: the next
    observation from the row one vectorised step later, or from its final slot after a truncation."""
    o, a = buffer.obs_dim, buffer.act_dim
    rows = buffer.data[index]
    following = buffer.data[(index + envs) % buffer.capacity, :o]
    slot = rows[..., o + a + 2].astype(jnp.int32)
    finals, _ = buffer.finals
    next_obs = jnp.where((slot >= 0)[..., None], finals[jnp.maximum(slot, 0)], following)
    return Transition(obs=rows[..., :o], action=rows[..., o:o + a], reward=rows[..., o + a], next_obs=next_obs,
                      discount=rows[..., o + a + 1])
