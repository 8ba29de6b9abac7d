"""Replay buffers as records of pure functions (uniform, prioritised, compact, HER), one packed ring underneath.

    replay = make_replay(config, obs_dim, act_dim)      # or uniform(...) / prioritized(...)
    buffer = replay.init()                              # a pytree; donate it and it is updated in place
    buffer = replay.insert(buffer, transitions)         # leading shape (n,), n <= capacity
    buffer = replay.insert(buffer, transitions, episode_end)   # HER: which envs' episodes ended
    batch, index, weight = replay.sample(buffer, key, (U, B))
    buffer = replay.update_priority(buffer, index, td_abs)   # the identity for uniform replay

The trainer, the memory check and checkpoints use the record and the `ReplayBuffer` fields (ring.py),
never a variant's layout, so a new variant is one more constructor (hindsight relabelling:
gpu_sac/replay/her.py, on the uniform ring with an episode index beside it).

Modules: `ring` (the packed ring every variant writes to, one row per transition, and uniform
replay), `prioritized` (a sum-tree over the ring), `compact` (each observation stored once), `her`
(hindsight relabelling), `nstep` (the n-step window before the ring) and `transition` (the record they
all hold). The factory lives here, above the variants, so no variant imports back.
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
    """The config's replay: hindsight relabelling (her, with the env's `gpu_sac.envs.goal.GoalSpec` as goal),
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


