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

Each checkpoint also holds `checksums.json`: the SHA-256 of every file orbax wrote, taken once the
save completed (a checkpoint without one, from an older gpu_sac or a process stopped just after
orbax's rename, is restored unchecked). `restore` checks it before it reads a checkpoint (orbax
keeps no checksum of its own: a flipped bit restores silently as a different state). A checkpoint
that fails the check, or cannot be read, is moved aside, whole, into `<directory>.damaged/` (so that
a resumed run can save that step again), named in one line, and the one before it is tried. Orbax's
and TensorStore's own complaints about a damaged checkpoint (hundreds of lines) are kept off stderr.

`include_buffer=False` leaves the replay buffer's contents out (the largest part by far): a run
resumed from such a checkpoint starts from an empty buffer, collects min_replay_size transitions
without learning (the learning gate reads the buffer's size), then learns from fresh data only, so
it no longer continues the original run exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np

from gpu_sac.config import SEED_DEFAULTS, ConfigError, SACConfig
from gpu_sac.envs.goal import goal_spec
from gpu_sac.replay import make_replay
from gpu_sac.store.run_dir import decode_record, encode_record, write_atomic, writing
from gpu_sac.training import mesh
from gpu_sac.training.train import seed_keys

FORMAT = "gpu_sac.checkpoint/1"  # a file format name, kept from before the subpackages
CHECKSUM_FILE = "checksums.json"  # in each checkpoint's folder, beside orbax's files
DAMAGED_SUFFIX = ".damaged"  # damaged checkpoints of <directory> are moved into <directory>.damaged/
_SETTLE_S = 1.0  # seconds for a failed read's leftover TensorStore callbacks to end, out of sight

# Fields that may change when a run is resumed: they do not change the TrainState nor what a chunk
# computes. total_steps extends (or ends) a run; with a learning-rate schedule it would move the
# schedule's horizon, so it is frozen then.
RESUMABLE_FIELDS = ("total_steps", "eval_episodes")
# Fields that lay the state out over devices: a checkpoint written on one layout restores on another
# (mesh.single_state / from_single_state convert it); the run then goes on as the new layout runs.
LAYOUT_FIELDS = ("num_devices", "shard_over")


class CheckpointError(RuntimeError):
    """No loadable checkpoint, or one that does not fit the program."""


class ConfigMismatch(ConfigError):
    """The config given to resume differs from the checkpoint's in fields that shape the run."""


def config_diff(saved: dict[str, Any], config: SACConfig) -> dict[str, tuple[Any, Any]]:
    """{field: (checkpoint's value, config's value)} for every field that differs. A field that the
    checkpoint's gpu_sac did not have yet counts as its seed default (the behaviour it ran with)."""
    now = config.to_dict()
    out = {}
    for name in sorted(set(saved) | set(now)):
        a, b = saved.get(name, SEED_DEFAULTS.get(name, "<absent>")), now.get(name, "<absent>")
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
    allowed = set(RESUMABLE_FIELDS) | set(LAYOUT_FIELDS)
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
            "checksums": CHECKSUM_FILE,  # written after orbax's files (a process stopped in between leaves none)
        }
        target = self.directory / str(step)
        if target.exists():  # a step left by a run that did not restore it (one resumed from an older step)
            quarantine(target)
            self._manager.reload()
        # Space a save needs, for the message if the disk is full: the arrays, or the last checkpoint's files.
        need = max(sum(int(leaf.nbytes) for leaf in arrays.values()),
                   _folder_bytes(self.directory, steps(self.directory)))
        with writing(f"checkpoint {step}", self.directory, need), silenced():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._manager.save(
                    step,
                    args=ocp.args.Composite(state=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)),
                    force=True,
                )
                self._manager.wait_until_finished()
            if jax.process_index() == 0:
                write_checksums(target)
        return target

    def close(self) -> None:
        with contextlib.suppress(Exception), silenced():  # after a failed save: already reported
            self._manager.close()


# ------------------------------------------------------------------------------ integrity


def _folder_bytes(directory: Path, saved: list[int]) -> int:
    """Bytes on disk of the newest checkpoint in `directory` (0 where there is none)."""
    if not saved:
        return 0
    with contextlib.suppress(OSError):
        return sum(p.stat().st_size for p in (directory / str(saved[-1])).rglob("*") if p.is_file())
    return 0


def _digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUM_FILE)


def write_checksums(folder: str | os.PathLike) -> None:
    """checksums.json in a complete checkpoint's folder: {relative path: sha256} of every other file."""
    folder = Path(folder)
    sums = {str(p.relative_to(folder)): _digest(p) for p in _files(folder)}
    write_atomic(folder / CHECKSUM_FILE, json.dumps(sums, indent=0, sort_keys=True) + "\n")


class DamagedCheckpoint(Exception):
    """A checkpoint whose files are not the ones that were saved (the message says which)."""


def verify(folder: str | os.PathLike) -> bool:
    """Check a checkpoint's files against its checksums.json; DamagedCheckpoint names the first that
    differs or is missing. False where it has no checksums.json (written before checksums were kept,
    or one whose process stopped between orbax's rename and the checksums: orbax's atomic rename
    still vouches that it is whole, so it is restored unchecked)."""
    folder = Path(folder)
    sums_path = folder / CHECKSUM_FILE
    if not sums_path.is_file():
        return False
    try:
        sums = json.loads(sums_path.read_text())
    except (OSError, ValueError) as e:
        raise DamagedCheckpoint(f"its {CHECKSUM_FILE} is unreadable ({type(e).__name__})") from None
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            raise DamagedCheckpoint(f"{name} is missing")
        if _digest(path) != digest:
            raise DamagedCheckpoint(f"{name} does not match its checksum")
    return True


def damaged_dir(directory: str | os.PathLike) -> Path:
    """Where the damaged checkpoints of `directory` go: beside it, so that orbax never lists them."""
    return Path(directory).with_name(Path(directory).name + DAMAGED_SUFFIX)


def quarantine(folder: str | os.PathLike) -> Path | None:
    """Move a checkpoint's folder aside into <checkpoints>.damaged/ (never deleted); its new path, or
    None where it could not be moved (a read-only disk: it stays, and is skipped again next time)."""
    folder = Path(folder)
    aside = damaged_dir(folder.parent)
    target, n = aside / folder.name, 1
    while target.exists():
        target, n = aside / f"{folder.name}.{n}", n + 1
    try:
        aside.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(target))
    except OSError:
        return None
    return target


@contextlib.contextmanager
def silenced(replay: bool = True) -> Iterator[list[str]]:
    """Keep what C++ libraries (TensorStore, absl) write to file descriptor 2, and Python to
    sys.stderr, out of sight while a checkpoint is read or written: a damaged or failed one makes
    hundreds of lines, and the exception (reported in one line by the caller) says what went wrong.
    Where the block ends without an error (and `replay`), whatever was written is put back on stderr;
    the list yielded holds it (one string) once the block has ended."""
    captured: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no file descriptor 2 (an embedded interpreter)
        yield captured
        return
    read, write = os.pipe()
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read, 65536), b"")), daemon=True)
    reader.start()
    os.dup2(write, 2)
    os.close(write)
    python_side = io.StringIO()
    ok = False
    try:
        with contextlib.redirect_stderr(python_side):
            yield captured
        ok = True
    finally:
        os.dup2(saved, 2)  # the pipe's last writer closes: the reader sees its end
        os.close(saved)
        reader.join(timeout=5)
        os.close(read)
        captured.append(b"".join(chunks).decode(errors="replace") + python_side.getvalue())
        if ok and replay and captured[0]:
            sys.stderr.write(captured[0])


def steps(directory: str | os.PathLike) -> list[int]:
    """Env steps of the complete checkpoints in `directory`, oldest first."""
    if not Path(directory).is_dir():
        return []
    return sorted(int(p.name) for p in Path(directory).iterdir() if p.name.isdigit() and p.is_dir())


def read_meta(directory: str | os.PathLike, step: int) -> dict[str, Any]:
    return json.loads((Path(directory) / str(step) / "meta" / "metadata").read_text())


@dataclasses.dataclass
class Restored:
    """state: the TrainState (on the default device); history: the records up to the checkpoint;
    damaged: one line for each newer checkpoint that was damaged (and where it was moved)."""

    state: Any
    history: list[dict[str, Any]]
    step: int
    buffer_saved: bool
    path: Path
    damaged: list[str] = dataclasses.field(default_factory=list)


def _short(error: BaseException) -> str:
    """The first line of an error's message, cut to a readable length (TensorStore's run to pages)."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= 160 else text[:150] + " ..."


def restore(directory: str | os.PathLike, program: Any, step: int | None = None) -> Restored:
    """The newest complete checkpoint in `directory` (or the one at `step`), for `program`.

    Its config must match program.config but for RESUMABLE_FIELDS (ConfigMismatch names the
    fields that differ). A checkpoint that fails its checksums or cannot be read is moved aside into
    `<directory>.damaged/` (by process 0) and the one before it is tried; Restored.damaged says so,
    one line each (also given as a warning). CheckpointError where none is left to try.
    """
    candidates = [step] if step is not None else steps(directory)[::-1]
    if not candidates:
        raise CheckpointError(f"no complete checkpoint in {directory}")
    errors, damaged, error = [], [], None
    for s in candidates:
        folder = Path(directory) / str(s)
        reading = False  # orbax has started on it
        # Not replayed even on success: a damaged checkpoint read before leaves TensorStore callbacks that
        # fail in later reads, each with a traceback about an event loop that orbax closed.
        with silenced(replay=False):
            try:
                verify(folder)
                meta = read_meta(directory, s)
                check_config(meta["config"], program.config, where=f"checkpoint {folder}")
                reading = True
                return dataclasses.replace(_restore_one(directory, s, meta, program), damaged=damaged)
            except (CheckpointError, ConfigError):
                raise
            except Exception as e:  # noqa: BLE001 - a damaged checkpoint: moved aside, then an older one
                error = e
                if reading:  # TensorStore's reads still in flight fail after orbax gave up, each with a
                    gc.collect()  # traceback ("Event loop is closed"): let them, here, where stderr is silenced
                    time.sleep(_SETTLE_S)
        if error is not None:
            e, error = error, None
            errors.append(f"{s}: {_short(e)}")
            moved = quarantine(folder) if jax.process_index() == 0 else None
            line = f"checkpoint {folder} is damaged ({_short(e)})" + (f"; moved it to {moved}" if moved else "")
            damaged.append(line)
            warnings.warn(line, stacklevel=2)
    moved = any("moved it to" in line for line in damaged)
    raise CheckpointError(f"no loadable checkpoint in {directory} (" + "; ".join(errors) + ")"
                          + (f"; the damaged ones are in {damaged_dir(directory)}" if moved else ""))


def _restore_one(directory: str | os.PathLike, step: int, meta: dict[str, Any], program: Any) -> Restored:
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {directory}/{step} has format {meta.get('format')!r}, not {FORMAT!r}")
    config = program.config
    saved_config = dataclasses.replace(config, **{f: meta["config"].get(f, getattr(config, f)) for f in LAYOUT_FIELDS})
    same_layout = saved_config == config
    template = state_template(program)
    paths, leaves, treedef = _paths(template)
    if not same_layout:  # restored whole on this process's first device, then laid out anew on the host
        if jax.process_count() > 1:
            raise CheckpointError(
                f"checkpoint {directory}/{step} was written with num_devices={saved_config.num_devices}, "
                f"shard_over={saved_config.shard_over!r}: a multi-process run restores only its own layout "
                "(convert it in one process first: restore it there with the new layout and save)")
        device = jax.local_devices()[0]
        targets = [jax.sharding.SingleDeviceSharding(device)] * len(leaves)
        leaves = [jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype))
                  for shape, dtype in zip(meta["shapes"], meta["dtypes"], strict=True)]
    else:
        targets = jax.tree.leaves(mesh.shardings(program.mesh, program.specs, template)) if program.mesh else \
            [jax.sharding.SingleDeviceSharding(jax.local_devices()[0])] * len(leaves)
    _check_structure(directory, step, meta, paths, leaves)
    buffer_saved = bool(meta["buffer_saved"])
    arrays = read_arrays(directory, step, paths, leaves, targets, buffer_saved)
    fresh = None if buffer_saved else dict(zip(*_paths(fresh_buffer(saved_config, program))[:2], strict=True))
    out = []
    for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True)):
        if leaf.size == 0:
            out.append(np.zeros(leaf.shape, leaf.dtype))
        elif not buffer_saved and _is_buffer(path):
            out.append(fresh[path[len(".buffer"):]])
        else:
            out.append(arrays[str(i)])
    state = jax.tree_util.tree_unflatten(treedef, out)
    if not same_layout:
        state = mesh.from_single_state(mesh.single_state(jax.device_get(state), mesh.layout(saved_config)),
                                       program.layout)
        _check_structure(directory, step, meta, paths, jax.tree.leaves(template), _paths(state)[1])
    state = mesh.put(state, program)
    history = [decode_record(r) for r in meta["history"]]
    return Restored(state, history, step, buffer_saved, Path(directory) / str(step))


def _check_structure(directory, step, meta, paths, leaves, got=None) -> None:
    """CheckpointError unless the checkpoint's arrays (or `got`) have the paths, shapes and dtypes of leaves."""
    if got is None:
        have_paths, shapes, dtypes = meta["paths"], meta["shapes"], meta["dtypes"]
    else:
        have_paths, shapes, dtypes = paths, [list(x.shape) for x in got], [str(x.dtype) for x in got]
    want_shapes, want_dtypes = [list(x.shape) for x in leaves], [str(x.dtype) for x in leaves]
    if (have_paths, shapes, dtypes) != (paths, want_shapes, want_dtypes):
        mismatch = next(
            (f"{p}: {s} {d} in the checkpoint, {ps} {pd} now"
             for p, s, d, ps, pd in zip(have_paths, shapes, dtypes, want_shapes, want_dtypes, strict=False)
             if (s, d) != (ps, pd)),
            f"{len(have_paths)} arrays in the checkpoint, {len(paths)} now",
        )
        raise CheckpointError(
            f"checkpoint {directory}/{step} does not match this program's train state ({mismatch}); "
            "was it written by another version of gpu_sac?"
        )


def read_arrays(directory, step, paths, leaves, targets, buffer_saved) -> dict[str, jax.Array]:
    """The saved arrays {index: array} of the checkpoint at `step`, each placed with its target
    sharding (leaves: their shapes and dtypes; zero-size ones, and the buffer's when it was not
    saved, are left out: orbax restores every saved array or none)."""
    import orbax.checkpoint as ocp

    abstract = {
        str(i): jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=target)
        for i, (path, leaf, target) in enumerate(zip(paths, leaves, targets, strict=True))
        if leaf.size > 0 and (buffer_saved or not _is_buffer(path))
    }
    manager = _manager(directory, None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    finally:
        manager.close()
    return restored.state


def fresh_buffer(config: SACConfig, program: Any) -> Any:
    """Empty replay buffers (numpy) for every agent, in `config`'s layout (mesh module docstring)."""
    lay = mesh.layout(config)
    one = jax.device_get(make_replay(config, program.obs_dim, program.act_dim, capacity=lay.capacity,
                                     goal=goal_spec(program.env), envs=lay.envs).init())
    lead = (config.num_seeds, config.num_devices) if lay.data_parallel else (config.num_seeds,)
    return jax.tree.map(lambda x: np.broadcast_to(x, lead + x.shape).copy(), one)
