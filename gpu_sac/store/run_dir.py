"""The files of one run directory, and how each is written.

    RUN_DIR/
      config.json        the resolved SACConfig, the run options, versions and the command line
      metrics.jsonl      one JSON object per chunk: the history record of `train` (NaN as null)
      tb/                TensorBoard event files (tensorboardX)
      checkpoints/<env_steps>/   full TrainState checkpoints (orbax), the last `keep` of them
      policy/policy.msgpack      the exported policy (`gpu_sac.load_policy`)
      policy/policy.onnx         the same policy as ONNX, with the onnx extra (gpu_sac.outputs.onnx_export)
      wandb_id           the W&B run id, with --wandb-project (gpu_sac.outputs.wandb_log); wandb/ its files
      curve.png          learning curves (eval return against env steps and wall time)
      video.mp4          one deterministic episode, rendered

Files other than checkpoints are rewritten whole through a temporary file and `os.replace`, so a
process killed at any moment leaves either the old file or the new one, never half of one.

A write that the disk refuses (full, read-only, no permission, over quota) raises DiskFault, one line
saying what could not be written, where, why, and the space free there (`writing`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gpu_sac.config import ConfigError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
TB_DIR = "tb"
CHECKPOINT_DIR = "checkpoints"
POLICY_DIR = "policy"
CURVE_FILE = "curve.png"
VIDEO_FILE = "video.mp4"


# errno values that mean "this disk will not take the write", not a bug of ours.
DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}
# The same, as other layers (TensorStore, orbax) word them when they do not keep the OSError.
_DISK_TEXTS = {"No space left on device": errno.ENOSPC, "Read-only file system": errno.EROFS,
               "Permission denied": errno.EACCES, "Disk quota exceeded": errno.EDQUOT}


class DiskFault(RuntimeError):
    """A file of the run could not be written: the disk is full, read-only or not ours to write."""


def disk_errno(error: BaseException) -> int | None:
    """The disk errno behind `error` (its own, a cause's or context's, or one its message names), else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
            return error.errno
        for text, code in _DISK_TEXTS.items():
            if text in str(error):
                return code
        error = error.__cause__ or error.__context__
    return None


def free_bytes(path: str | os.PathLike) -> int | None:
    """Bytes free to us on the file system that holds `path` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def disk_fault(error: BaseException, what: str, path: str | os.PathLike, need: int | None = None) -> DiskFault:
    """DiskFault for `error` (disk_errno must be set): what, where, why, and the space free and needed."""
    code = disk_errno(error)
    why = os.strerror(code).lower() if code is not None else str(error).splitlines()[0]
    space = ""
    free = free_bytes(path)
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or need is not None:
        mib = lambda n: f"{n / 2**20:.1f} MiB"  # noqa: E731
        space = f" ({mib(free) if free is not None else '?'} free" + (f", about {mib(need)} needed)" if need else ")")
    return DiskFault(f"could not write {what} ({path}): {why}{space}")


@contextlib.contextmanager
def writing(what: str, path: str | os.PathLike, need: int | None = None) -> Iterator[None]:
    """Turn a write the disk refuses into DiskFault (other errors pass as they are)."""
    try:
        yield
    except DiskFault:
        raise
    except Exception as e:
        if disk_errno(e) is None:
            raise
        raise disk_fault(e, what, path, need) from e


class ConfigRecordError(ConfigError):
    """config.json cannot be read back (cut short, not JSON, or without its config)."""


def default_run_dir(env: str, seed: int, root: str | os.PathLike = "runs") -> Path:
    """runs/<env>_s<seed>_<YYYYmmdd-HHMMSS> (a numeric suffix if that exists already)."""
    base = Path(root) / f"{env}_s{seed}_{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write the whole file through a temporary sibling and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def versions() -> dict[str, str]:
    """Versions of the packages that decide what a run computes."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("gpu_sac", "jax", "jaxlib", "flax", "optax", "brax", "mujoco", "mujoco-mjx", "playground"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def write_config(run_dir: str | os.PathLike, config: Any, options: dict[str, Any] | None = None) -> None:
    """config.json: the resolved config (every field), the run options, versions, device, command."""
    import jax

    record = {
        "config": config.to_dict(),
        "options": options or {},
        "versions": versions(),
        "device": str(jax.local_devices()[0].device_kind),
        "command": sys.argv,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with writing("the config", Path(run_dir) / CONFIG_FILE):
        write_atomic(Path(run_dir) / CONFIG_FILE, json.dumps(record, indent=2) + "\n")


def read_config_record(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a gpu_sac run directory: it has no {CONFIG_FILE}")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigRecordError(f"{path} is damaged ({e}); the run's checkpoints hold its config: "
                                "start a new run with the same flags, or restore config.json from a copy") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise ConfigRecordError(f"{path} is damaged: it holds no \"config\" object")
    return record


def config_from_dict(fields: dict[str, Any]) -> Any:
    """SACConfig from config.json's "config" object (unknown fields are an error, naming them)."""
    import dataclasses

    from gpu_sac.config import ConfigError, SACConfig

    known = {f.name for f in dataclasses.fields(SACConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"config has fields this gpu_sac does not know: {', '.join(unknown)}")
    return SACConfig(**fields)  # it turns JSON's lists of widths into tuples


def read_config(run_dir: str | os.PathLike) -> Any:
    """The SACConfig a run directory was made with."""
    return config_from_dict(read_config_record(run_dir)["config"])


# Metrics: JSON has no NaN, so NaN (no episode ended, no update yet) is written as null.


def _encode(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _encode(value.item())
    return value


def _decode(value: Any) -> Any:
    if value is None:
        return math.nan
    if value in ("Infinity", "-Infinity"):
        return math.inf if value == "Infinity" else -math.inf
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def encode_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _encode(v) for k, v in record.items()}


def decode_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _decode(v) for k, v in record.items()}


def append_metrics(run_dir: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one chunk's record to metrics.jsonl (flushed and synced: a killed run loses none)."""
    with writing("the metrics", Path(run_dir) / METRICS_FILE), open(Path(run_dir) / METRICS_FILE, "a") as f:
        f.write(json.dumps(encode_record(record), allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of metrics.jsonl (a torn last line, from a kill mid-write, is skipped)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(decode_record(json.loads(line)))
        except json.JSONDecodeError:
            continue
    return out


def write_metrics(run_dir: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Rewrite metrics.jsonl with exactly these records (resume: drop chunks after the checkpoint)."""
    text = "".join(json.dumps(encode_record(r), allow_nan=False) + "\n" for r in records)
    with writing("the metrics", Path(run_dir) / METRICS_FILE):
        write_atomic(Path(run_dir) / METRICS_FILE, text)
