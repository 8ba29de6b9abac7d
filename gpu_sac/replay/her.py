"""Hindsight experience replay (Andrychowicz et al. 2017) inside the fused loop, on the device.

The replay is the uniform ring of gpu_sac/replay/ with an episode index beside it. A batch is drawn
uniformly; then in each batch of B rows the first round(B·k/(k+1)) are relabelled: their goal is
replaced by a goal achieved in their own episode, in obs and next_obs alike, and their reward is
recomputed by the env's reward function from next_obs's achieved goal. Which achieved goal (the
achieved goal after a step j of the episode, i.e. that step's next_obs; t is the sampled row's step):

    future:  j uniform in t … last      (the HER paper's default; j = t is the row's own outcome)
    final:   j = last
    episode: j uniform in first … last

last is the episode's final step, or, for an episode still running, its latest stored step; first is
its first step still in the ring (an old episode's start may have been overwritten). So a goal never
comes from another episode, nor from beyond its own end, nor from a row overwritten since.

Where an episode's steps are. With buffer_size a multiple of num_envs N, the ring's rows are written N
at a time, env e's transition to a row r with r mod N = e; so step t + d of the episode of row r
(step t) is at row (r + N·d) mod capacity. The index keeps, per row, its step in its episode and the
step its episode ended at (−1 while it runs), and per env the step its running episode has reached.
When episodes end, their `last` is written into all their rows (at most N·episode_length writes, in
a `lax.cond` taken only on vectorised steps where some episode ended). With buffer_size >=
N·episode_length every row of an episode that has just ended is still in the ring, and the rows
after a stored row are always newer than it, so they are still there too.

Relabelling keeps each transition's discount: a goal env does not end its episodes on reaching the
goal (gpu_sac/envs/goal.py), so the discount is γ whatever the goal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from flax import struct

from gpu_sac.replay.ring import (
    Replay,
    ReplayBuffer,
    Transition,
    bytes_per_transition,
    gather,
    ring_rows,
    uniform,
    write,
)

if TYPE_CHECKING:
    from gpu_sac.envs.goal import GoalSpec


@struct.dataclass
class Episodes:
    """Where each row sits in its episode. step, last: (capacity,) int32; open_step: (N,) int32.

    step[r]: the step of row r in its episode (0 for its first transition).
    last[r]: the step of the final transition of row r's episode; −1 while that episode runs.
    open_step[e]: steps env e's running episode has stored (the step its next row will have).
    """

    step: jax.Array
    last: jax.Array
    open_step: jax.Array


def relabel_count(batch_size: int, k: int) -> int:
    """Rows relabelled in a batch of batch_size: round(batch_size · k / (k + 1))."""
    return int(round(batch_size * k / (k + 1)))


def close_episodes(ep: Episodes, rows: jax.Array, ended: jax.Array, capacity: int, episode_length: int) -> Episodes:
    """Write `last` into every row of the episodes that end with the transitions just written at rows
    (N,), one per env (ended (N,) bool): steps t, t − 1, ..., 0 of env e's episode are at rows
    rows[e], rows[e] − N, ... (mod capacity), all still in the ring (capacity >= N·episode_length)."""
    n = rows.shape[0]
    back = jnp.arange(episode_length, dtype=jnp.int32)
    index = (rows[:, None] - n * back[None, :]) % capacity  # (N, L)
    mine = ended[:, None] & (back[None, :] <= ep.open_step[:, None])
    index = jnp.where(mine, index, capacity)  # out of range: dropped
    value = jnp.broadcast_to(ep.open_step[:, None], index.shape)
    return ep.replace(last=ep.last.at[index].set(value, mode="drop"))


def goal_rows(buffer: ReplayBuffer, index: jax.Array, key: jax.Array, strategy: str, num_envs: int) -> jax.Array:
    """The rows whose next_obs's achieved goal relabels rows `index` (any shape), per the strategy (see
    the module's docstring)."""
    ep, N, capacity = buffer.episodes, num_envs, buffer.capacity
    t = ep.step[index]
    last = ep.last[index]
    last = jnp.where(last < 0, ep.open_step[index % N] - 1, last)  # running: its latest stored step
    if strategy == "final":
        j = last
    else:
        if strategy == "future":
            first = t
        else:  # episode: from its first step still in the ring
            age = ((buffer.insert_pos - N - (index - index % N)) % capacity) // N  # 0: the env's newest row
            first = jnp.maximum(0, t - (buffer.size // N - 1 - age))
        u = jax.random.uniform(key, index.shape)
        j = jnp.minimum(first + (u * (last - first + 1)).astype(jnp.int32), last)
    return (index + N * (j - t)) % capacity


def her_replay(capacity: int, obs_dim: int, act_dim: int, goal: GoalSpec, *, envs: int, episode_length: int,
               strategy: str, k: int, reward_scale: float) -> Replay:
    """HER over a ring of `capacity` rows fed by `envs` envs per insert, episodes of at most
    `episode_length` steps: `strategy` (final, future, episode: the config's her) picks the new goals,
    k (her_k) relabelled transitions per original one, rewards recomputed times reward_scale."""
    N, L, scale = envs, episode_length, reward_scale
    if capacity % N or capacity < N * L:
        raise ValueError(f"HER needs a capacity that is a multiple of num_envs={N} and >= num_envs·episode_length="
                         f"{N * L}; got {capacity}")
    ring = uniform(capacity, obs_dim, act_dim)
    # Columns of next_obs's achieved goal in a packed row: obs, action, reward, then next_obs.
    next_obs_start = obs_dim + act_dim + 1
    achieved_cols = slice(next_obs_start + goal.achieved.start, next_obs_start + goal.achieved.stop)

    def init() -> ReplayBuffer:
        episodes = Episodes(jnp.zeros(capacity, jnp.int32), jnp.full(capacity, -1, jnp.int32), jnp.zeros(N, jnp.int32))
        return ring.init().replace(episodes=episodes)

    def insert(buffer: ReplayBuffer, transitions: Transition, episode_end: jax.Array) -> ReplayBuffer:
        if transitions.reward.shape[0] != N:
            raise ValueError(f"HER inserts one transition per env: {N}, not {transitions.reward.shape[0]}")
        rows, ep = ring_rows(buffer, N), buffer.episodes
        ep = ep.replace(step=ep.step.at[rows].set(ep.open_step, unique_indices=True),
                        last=ep.last.at[rows].set(-1, unique_indices=True))
        close = lambda ep: close_episodes(ep, rows, episode_end, capacity, L)  # noqa: E731
        ep = jax.lax.cond(jnp.any(episode_end), close, lambda ep: ep, ep)
        ep = ep.replace(open_step=jnp.where(episode_end, 0, ep.open_step + 1))
        return write(buffer, rows, transitions).replace(episodes=ep)

    def sample(buffer: ReplayBuffer, key: jax.Array, shape: tuple[int, ...]):
        row_key, goal_key = jax.random.split(key)
        index = jax.random.randint(row_key, shape, 0, buffer.size)
        batch = gather(buffer, index)
        new_goal = buffer.data[goal_rows(buffer, index, goal_key, strategy, N), achieved_cols]
        relabel = (jnp.arange(shape[-1]) < relabel_count(shape[-1], k))[..., None]
        reward = goal.compute_reward(batch.next_obs[..., goal.achieved], new_goal) * scale
        set_goal = lambda obs: obs.at[..., goal.desired].set(jnp.where(relabel, new_goal, obs[..., goal.desired]))  # noqa: E731
        batch = batch._replace(obs=set_goal(batch.obs), next_obs=set_goal(batch.next_obs),
                               reward=jnp.where(relabel[..., 0], reward, batch.reward))
        return batch, index, jnp.ones(shape, jnp.float32)

    per_row = bytes_per_transition(obs_dim, act_dim, her=True)
    return Replay(init, insert, sample, ring.update_priority, per_row, capacity)

