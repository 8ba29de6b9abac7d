"""Start a run from another run's learned parameters (fine-tuning, transfer to changed dynamics).

    from gpu_sac import InitFrom, SACConfig, train
    train(config, init_from=InitFrom("runs/halfcheetah", parts=("actor", "critic", "target_critic")))

The parts come from the source run's newest checkpoint; the others, the optimiser states and (unless
`buffer=True`) the replay buffer start fresh. A part must have the same structure and shapes in both
runs (same env's observation and action sizes, same networks); a TransferError names the first leaf
that differs. A source with one agent initialises every agent of a many-seed run; otherwise the
seed counts must match.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np

from gpu_sac.config import ConfigError
from gpu_sac.store import checkpoint as ckpt
from gpu_sac.store import run_dir as rd
from gpu_sac.store.run_dir import config_from_dict
from gpu_sac.training import mesh

# Part name → AgentState field.
PARTS = {"actor": "actor_params", "critic": "critic_params", "target_critic": "target_critic_params",
         "log_alpha": "log_alpha", "obs_stats": "obs_stats"}


class TransferError(ConfigError):
    """The source run cannot initialise this one (a missing run or part, or shapes that differ)."""


@dataclasses.dataclass(frozen=True)
class InitFrom:
    """run_dir: the source run; parts: which of PARTS to take; buffer: also take its replay buffer
    (same buffer_size and observation/action sizes; laid out anew for this run's devices)."""

    run_dir: str
    parts: tuple[str, ...] = tuple(PARTS)
    buffer: bool = False

    def __post_init__(self):
        object.__setattr__(self, "parts", tuple(self.parts))
        bad = [p for p in self.parts if p not in PARTS]
        if bad or not self.parts:
            raise TransferError(f"init parts {list(self.parts)} are invalid: choose one or more of {', '.join(PARTS)}")

    def apply(self, state: Any, program: Any) -> Any:
        """`state` (a fresh TrainState of `program`) with this source's parts put in (see `apply`)."""
        return apply(state, program, self)


def _source_leaves(init: InitFrom) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """{leaf path: array} of the source's newest checkpoint (whole, on the host), and its meta."""
    directory = Path(init.run_dir) / rd.CHECKPOINT_DIR
    steps = ckpt.steps(directory)
    if not steps:
        raise TransferError(f"init_from={init.run_dir!r}: no complete checkpoint in {directory}")
    meta = ckpt.read_meta(directory, steps[-1])
    wanted = tuple(f".agent.{PARTS[p]}" for p in init.parts) + ((".buffer.",) if init.buffer else ())
    if init.buffer and not meta["buffer_saved"]:
        raise TransferError(f"init_from={init.run_dir!r}: its checkpoint was saved without the replay buffer")
    # Orbax restores every saved array or none (no partial restore in this version): all come to this
    # process's first device, and the parts asked for are kept.
    stored = zip(meta["shapes"], meta["dtypes"], strict=True)
    leaves = [jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype)) for shape, dtype in stored]
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    arrays = ckpt.read_arrays(directory, steps[-1], meta["paths"], leaves, [device] * len(leaves),
                              meta["buffer_saved"])
    return {meta["paths"][int(i)]: np.asarray(a) for i, a in arrays.items()
            if meta["paths"][int(i)].startswith(wanted)}, meta


def apply(state: Any, program: Any, init: InitFrom) -> Any:
    """`state` (a fresh TrainState of `program`) with the parts of the source run put in."""
    source, meta = _source_leaves(init)
    flat, treedef = jax.tree_util.tree_flatten_with_path(state)
    S = program.config.num_seeds
    wanted = tuple(f".agent.{PARTS[p]}" for p in init.parts)
    out = []
    for path, leaf in flat:
        name = jax.tree_util.keystr(path)
        if not name.startswith(wanted) or leaf.size == 0:
            out.append(leaf)
            continue
        if name not in source:
            raise TransferError(f"init_from={init.run_dir!r}: it has no {name} (another network or option)")
        value = source[name]
        if value.shape[0] == 1 and S > 1:
            value = np.repeat(value, S, axis=0)  # one source agent initialises every seed
        if value.shape != leaf.shape or value.dtype != leaf.dtype:
            raise TransferError(
                f"init_from={init.run_dir!r} does not fit this run: {name} is {value.shape} {value.dtype} there, "
                f"{leaf.shape} {leaf.dtype} here (another env, network sizes or num_seeds?)")
        out.append(value)
    for part in init.parts:
        prefix = f".agent.{PARTS[part]}"
        if any(k.startswith(prefix) for k in source) and not any(
                jax.tree_util.keystr(p).startswith(prefix) for p, _ in flat):
            raise TransferError(f"init_from={init.run_dir!r}: this run has no {part} to take it into "
                                "(observation normalisation off?)")
    taken = jax.tree_util.tree_unflatten(treedef, out)
    if init.buffer:
        taken = taken.replace(buffer=_source_buffer(state, program, source, config_from_dict(meta["config"])))
    # Each taken array goes where the program keeps it (in a multi-process run each process places its
    # own shards); the fresh arrays left in place are kept as they are.
    return mesh.put(taken, program)


def _source_buffer(state: Any, program: Any, source: dict[str, np.ndarray], source_config: Any) -> Any:
    """The source's replay buffer, laid out for this run's devices (mesh.buffer_to_single / _from_single)."""
    config = program.config
    for name in ("buffer_size", "num_seeds", "num_envs", "prioritized_replay"):
        if getattr(source_config, name) != getattr(config, name):
            raise TransferError(f"init_from buffer: {name}={getattr(source_config, name)!r} there, "
                                f"{getattr(config, name)!r} here; a carried-over buffer needs the same")
    flat, treedef = jax.tree_util.tree_flatten_with_path(state.buffer)
    names = [".buffer" + jax.tree_util.keystr(p) for p, _ in flat]
    missing = [n for n in names if n not in source]
    if missing:  # another replay variant (her's episode index, prioritised replay's sum-tree)
        raise TransferError(f"init_from buffer: the source's replay buffer has no {missing[0]}: it was made by "
                            f"another replay variant (her={source_config.her!r} there, {config.her!r} here)")
    theirs = jax.tree_util.tree_unflatten(treedef, [source[n] for n in names])
    if (source_layout := mesh.layout(source_config)).data_parallel:
        theirs = mesh.buffer_to_single(theirs, source_layout)
    if program.layout.data_parallel:
        theirs = mesh.buffer_from_single(theirs, program.layout)
    for (path, mine), a in zip(flat, jax.tree.leaves(theirs), strict=True):
        if a.shape != mine.shape:
            raise TransferError(f"init_from buffer: .buffer{jax.tree_util.keystr(path)} is {a.shape} there, "
                                f"{mine.shape} here (other observation or action sizes?)")
    return theirs
