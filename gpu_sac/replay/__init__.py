"""Replay buffers as records of pure functions: uniform and prioritised, one packed ring underneath.

    replay = make_replay(config, obs_dim, act_dim)      # or uniform(...) / prioritized(...)
    buffer = replay.init()                              # a pytree; donate it and it is updated in place
    buffer = replay.insert(buffer, transitions)         # leading shape (n,), n <= capacity
    buffer = replay.insert(buffer, transitions, episode_end)   # HER: which envs' episodes ended
    batch, index, weight = replay.sample(buffer, key, (U, B))
    buffer = replay.update_priority(buffer, index, td_abs)   # the identity for uniform replay

The trainer, the memory check and checkpoints use the record and the `ReplayBuffer` fields below,
never a variant's layout, so a new variant is one more constructor (hindsight relabelling:
gpu_sac/replay/her.py, on the uniform ring with an episode index beside it).

Storage (ring.py). Each transition is one row of a single float32 matrix (capacity, row_size): obs, action,
reward, next_obs, discount side by side. One row per transition keeps the fields aligned by
construction, and makes an insert one scatter and a batch one gather (not one of each per field).
Writes go to rows (insert_pos + i) mod capacity: with the train state donated, XLA updates the
matrix in place; nothing is ever rolled or copied (Brax's queue rolls the whole buffer on every
insert once full).

Modules: `ring` (the packed ring every variant writes to, and uniform replay), `prioritized` (a
sum-tree over the ring), `compact` (each observation stored once), `her` (hindsight relabelling),
`nstep` (the n-step window before the ring) and `transition` (the record they all hold). The factory
lives here, above the variants, so no variant imports back.

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
from typing import TYPE_CHECKING, Any

import jax

from gpu_sac.replay import compact, her
from gpu_sac.replay.prioritized import prioritized
from gpu_sac.replay.ring import (
    Replay,
    ReplayBuffer,
    bytes_per_transition,
    gather,
    pack,
    ring_rows,
    row_size,
    uniform,
    unpack,
    write,
)
from gpu_sac.replay.transition import Transition

if TYPE_CHECKING:
    from gpu_sac.config import SACConfig

__all__ = [
    "Replay",
    "ReplayBuffer",
    "Transition",
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


def make_replay(config: SACConfig, obs_dim: int, act_dim: int, capacity: int | None = None,
                max_over_rings: Callable[[jax.Array], jax.Array] | None = None, goal: Any = None,
                envs: int | None = None) -> Replay:
    """The config's replay: hindsight relabelling (her, with the env's `envs.goal.GoalSpec` as goal),
    prioritised (per_alpha, per_beta, per_eps), compact (each observation stored once) or uniform,
    of `capacity` rows (default buffer_size; a data-parallel run gives each device buffer_size /
    num_devices, and max_over_rings, the max over the devices' rings: see `prioritized`). envs: the
envs writing to one ring, which the compact layout sizes its slots by (default num_envs; a
data-parallel run gives its `mesh.Layout.envs`)."""
    capacity = config.buffer_size if capacity is None else capacity
    if config.replay_layout == "compact":
        envs = config.num_envs if envs is None else envs
        return compact.compact(capacity, obs_dim, act_dim, envs, config.episode_length)
    if config.her != "off":
        if goal is None:
            raise ValueError(f"her={config.her!r} needs a goal env (gpu_sac.envs.goal.flatten(env)): "
                             "this env has no goals")
        return her.her_replay(capacity, obs_dim, act_dim, goal, envs=config.num_envs,
                              episode_length=config.episode_length, strategy=config.her, k=config.her_k,
                              reward_scale=config.reward_scale)
    if config.prioritized_replay:
        return prioritized(capacity, obs_dim, act_dim, config.per_alpha, config.per_beta, config.per_eps,
                           max_over_rings)
    return uniform(capacity, obs_dim, act_dim)


