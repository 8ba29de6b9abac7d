"""Full checkpoints of a run: the whole TrainState, the history so far and the config.

A checkpoint holds every array of the TrainState: actor, critics, target critics, log α, the three
optimiser states, the observation normaliser, the training envs' states and episode counters, the
n-step window, the replay buffer (its rows, write position, size, priorities), the PRNG keys and
the counters. Restoring it and training on gives bit for bit the run that never stopped (on the
same device and software): the chunk after a checkpoint sees exactly the state it would have seen.

Storage is orbax-checkpoint, saved synchronously (`run_chunk` donates the state, so nothing may
read it once the next chunk is launched). Orbax writes each checkpoint into a temporary directory
and renames it into place when complete, so a process killed at any moment, during a save
included, leaves the previous checkpoints loadable; `restore` takes the newest complete one.

The state is stored as its flat list of leaves (orbax cannot store the zero-size arrays that MJX
states hold; their shapes come back from the template). The leaves' paths, shapes and dtypes are
stored beside them, and a checkpoint whose structure does not match the program is refused.

`include_buffer=False` leaves the replay buffer's contents out (the largest part by far): a run
resumed from such a checkpoint starts from an empty buffer, collects min_replay_size transitions
without learning (the learning gate reads the buffer's size), then learns from fresh data only, so
it no longer continues the original run exactly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gpu_sac.config import ConfigError, SACConfig
from gpu_sac.run_dir import decode_record, encode_record

FORMAT = "gpu_sac.checkpoint/1"

# Fields that may change when a run is resumed: they do not change the TrainState nor what a chunk
# computes. total_steps extends (or ends) a run; with a learning-rate schedule it would move the
# schedule's horizon, so it is frozen then.
RESUMABLE_FIELDS = ("total_steps", "eval_episodes")


class CheckpointError(RuntimeError):
    """No loadable checkpoint, or one that does not fit the program."""


class ConfigMismatch(ConfigError):
    """The config given to resume differs from the checkpoint's in fields that shape the run."""


def config_diff(saved: dict[str, Any], config: SACConfig) -> dict[str, tuple[Any, Any]]:
    """{field: (checkpoint's value, config's value)} for every field that differs."""
    now = config.to_dict()
    out = {}
    for name in sorted(set(saved) | set(now)):
        a, b = saved.get(name, "<absent>"), now.get(name, "<absent>")
        if isinstance(a, list):
            a = tuple(a)
        if isinstance(b, list):
            b = tuple(b)
        if a != b:
            out[name] = (a, b)
    return out


def check_config(saved: dict[str, Any], config: SACConfig, where: str = "the checkpoint") -> None:
    """Raise ConfigMismatch naming every field that differs and cannot change on resume."""
    diff = config_diff(saved, config)
    allowed = set(RESUMABLE_FIELDS)
    if config.lr_schedule != "constant":
        allowed.discard("total_steps")
    bad = {k: v for k, v in diff.items() if k not in allowed}
    if bad:
        fields = "; ".join(f"{k}: {a!r} in {where}, {b!r} now" for k, (a, b) in bad.items())
        raise ConfigMismatch(
            f"cannot resume with a different config ({fields}); only "
            f"{', '.join(sorted(allowed))} may change on resume"
        )


def _paths(tree: Any) -> tuple[list[str], list[Any], Any]:
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
    return [jax.tree_util.keystr(p) for p, _ in flat], [leaf for _, leaf in flat], treedef


def _is_buffer(path: str) -> bool:
    return path.startswith(".buffer.")


def state_template(program: Any) -> Any:
    """The TrainState's shapes and dtypes (nothing allocated); static fields come with it."""
    from gpu_sac.train import seed_keys

    return jax.eval_shape(program.init, seed_keys(program.config))


def _manager(directory: str | os.PathLike, keep: int | None):
    import orbax.checkpoint as ocp

    logging.getLogger("absl").setLevel(logging.WARNING)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        enable_async_checkpointing=False,
        cleanup_tmp_directories=True,
        create=True,
    )
    return ocp.CheckpointManager(Path(directory).absolute(), options=options)


class Checkpointer:
    """Saves checkpoints into `directory` (named by env steps), keeping the newest `keep`."""

    def __init__(self, directory: str | os.PathLike, keep: int = 3, include_buffer: bool = True):
        if keep < 1:
            raise ValueError(f"keep={keep} is invalid: must be >= 1")
        self.directory = Path(directory)
        self.include_buffer = include_buffer
        self._manager = _manager(directory, keep)

    def save(self, state: Any, history: list[dict[str, Any]], config: SACConfig) -> Path:
        """Write the state after the last chunk of `history` (synchronously); return its path."""
        import orbax.checkpoint as ocp

        paths, leaves, _ = _paths(state)
        arrays = {}
        for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True)):
            if leaf.size == 0 or (not self.include_buffer and _is_buffer(path)):
                continue
            arrays[str(i)] = leaf
        step = int(history[-1]["env_steps"]) if history else 0
        meta = {
            "format": FORMAT,
            "config": config.to_dict(),
            "env_steps": step,
            "chunks": len(history),
            "buffer_saved": self.include_buffer,
            "paths": paths,
            "shapes": [list(leaf.shape) for leaf in leaves],
            "dtypes": [str(leaf.dtype) for leaf in leaves],
            "history": [encode_record(r) for r in history],
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._manager.save(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)),
                force=True,
            )
            self._manager.wait_until_finished()
        return self.directory / str(step)

    def close(self) -> None:
        self._manager.close()


def steps(directory: str | os.PathLike) -> list[int]:
    """Env steps of the complete checkpoints in `directory`, oldest first."""
    if not Path(directory).is_dir():
        return []
    return sorted(int(p.name) for p in Path(directory).iterdir() if p.name.isdigit() and p.is_dir())


def read_meta(directory: str | os.PathLike, step: int) -> dict[str, Any]:
    return json.loads((Path(directory) / str(step) / "meta" / "metadata").read_text())


@dataclasses.dataclass
class Restored:
    """state: the TrainState (on the default device); history: the records up to the checkpoint."""

    state: Any
    history: list[dict[str, Any]]
    step: int
    buffer_saved: bool
    path: Path


def restore(directory: str | os.PathLike, program: Any, step: int | None = None) -> Restored:
    """The newest complete checkpoint in `directory` (or the one at `step`), for `program`.

    Its config must match program.config but for RESUMABLE_FIELDS (ConfigMismatch names the
    fields that differ). A newest checkpoint that cannot be read (a half-deleted one) is skipped
    with a warning for the one before it.
    """
    candidates = [step] if step is not None else steps(directory)[::-1]
    if not candidates:
        raise CheckpointError(f"no complete checkpoint in {directory}")
    errors = []
    for s in candidates:
        try:
            meta = read_meta(directory, s)
        except (OSError, json.JSONDecodeError) as e:
            errors.append(f"{s}: {e}")
            warnings.warn(f"checkpoint {Path(directory) / str(s)} is unreadable ({e}); trying an older one",
                          stacklevel=2)
            continue
        check_config(meta["config"], program.config, where=f"checkpoint {Path(directory) / str(s)}")
        try:
            return _restore_one(directory, s, meta, program)
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001 - a damaged checkpoint: fall back to an older one
            errors.append(f"{s}: {e}")
            warnings.warn(f"checkpoint {Path(directory) / str(s)} could not be restored ({e}); trying an older one",
                          stacklevel=2)
    raise CheckpointError(f"no loadable checkpoint in {directory}: " + "; ".join(errors))


def _restore_one(directory: str | os.PathLike, step: int, meta: dict[str, Any], program: Any) -> Restored:
    import orbax.checkpoint as ocp

    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {directory}/{step} has format {meta.get('format')!r}, not {FORMAT!r}")
    template = state_template(program)
    paths, leaves, treedef = _paths(template)
    shapes = [list(x.shape) for x in leaves]
    dtypes = [str(x.dtype) for x in leaves]
    if (paths, shapes, dtypes) != (meta["paths"], meta["shapes"], meta["dtypes"]):
        mismatch = next(
            (f"{p}: {s} {d} in the checkpoint, {ps} {pd} now"
             for p, s, d, ps, pd in zip(meta["paths"], meta["shapes"], meta["dtypes"], shapes, dtypes, strict=False)
             if (s, d) != (ps, pd)),
            f"{len(meta['paths'])} arrays in the checkpoint, {len(paths)} now",
        )
        raise CheckpointError(
            f"checkpoint {directory}/{step} does not match this program's train state ({mismatch}); "
            "was it written by another version of gpu_sac?"
        )
    buffer_saved = bool(meta["buffer_saved"])
    device = jax.devices()[0]
    sharding = jax.sharding.SingleDeviceSharding(device)
    abstract = {
        str(i): jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding)
        for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True))
        if leaf.size > 0 and (buffer_saved or not _is_buffer(path))
    }
    manager = _manager(directory, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    manager.close()
    arrays = restored.state
    fresh_buffer = None
    if not buffer_saved:  # an empty buffer per agent, made by the run's replay record (any layout)
        one = program.replay.init()
        stacked = jax.tree.map(lambda x: jnp.stack([x] * program.config.num_seeds), one)
        fresh_buffer = dict(zip(_paths(stacked)[0], _paths(stacked)[1], strict=True))
    out = []
    for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True)):
        if leaf.size == 0:
            out.append(jax.device_put(np.zeros(leaf.shape, leaf.dtype), device))
        elif not buffer_saved and _is_buffer(path):
            out.append(fresh_buffer[path[len(".buffer"):]])
        else:
            out.append(arrays[str(i)])
    state = jax.tree_util.tree_unflatten(treedef, out)
    history = [decode_record(r) for r in meta["history"]]
    return Restored(state, history, step, buffer_saved, Path(directory) / str(step))
