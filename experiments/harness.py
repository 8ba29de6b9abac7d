"""What every experiment shares: its records (JSON under experiments/results/<device slug>/, written
atomically, read back per folder), where and with what it ran (device, versions, memory), how busy the
machine was (CpuMonitor), timing (Timer, spread, the process's start-up, a run in a fresh process), and
the generated blocks of the README and docs pages.

A block is the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` of its page (`--render --readme
PAGE`: docs/NAME.md for most, README.md for the headline table); nothing else of the page changes, and
links inside it are relative to the page's folder. JAX is imported only by the functions that need it, so
that an experiment can set XLA_FLAGS (forced host devices) after importing this module.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the project root, where README.md lies
DOCS = ROOT / "docs"  # the generated pages
RESULTS = ROOT / "experiments" / "results"  # every experiment's default --out


# ---------------------------------------------------------------------------------------------
# Records


def json_default(x: Any) -> Any:
    """How a record writes what JSON has no type for: arrays and NumPy/JAX scalars as (lists of) numbers,
    anything else (a Path, a dtype) as its str."""
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def write_record(path: Path, record: dict[str, Any]) -> Path:
    """Write record to path as indented JSON (its folder made if need be), atomically; path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=1, default=json_default) + "\n"
    # A file beside it, then one rename: neither a reader nor a run killed mid-write (as a device
    # session's time limit kills it) leaves a half-written record that a later render would choke on.
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    part.write_text(text)
    os.replace(part, path)
    return path


def load_records(folder: Path, pattern: str) -> list[tuple[Path, dict[str, Any]]]:
    """(path, record) of every JSON file under folder whose path matches the glob pattern, in path order."""
    return [(path, json.loads(path.read_text())) for path in sorted(folder.glob(pattern))]


def record_path(out: Path, device: dict[str, Any], *names: str) -> Path:
    """out/<device slug>/names[0]/.../names[-1].json: where a record of `device` lies."""
    *folders, name = names
    return out.joinpath(device_slug(device), *folders, f"{name}.json")


def utc_now() -> str:
    """The record's date: now, UTC, to the second (ISO 8601)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def command_line(program: str, argv: list[str] | None) -> str:
    """The command a record says it came from: program and its arguments (argv, or this process's)."""
    return " ".join([program, *(sys.argv[1:] if argv is None else argv)])


def per_seed(value: Any) -> list[float | None]:
    """A train() record's figure as a list over seeds (train() gives a scalar when there is one seed);
    NaN (no episode ended in the chunk) as None, so that the record is valid JSON."""
    values = value if isinstance(value, list) else [value]
    return [None if v is None or v != v else float(v) for v in values]


def curve(history: list[dict[str, Any]], *figures: str) -> list[dict[str, Any]]:
    """A train() history as a record's curve: per chunk its env steps, wall seconds and `figures` per seed."""
    return [{"env_steps": r["env_steps"], "wall_s": r["wall_s"], **{f: per_seed(r.get(f)) for f in figures}}
            for r in history]


def folder_bytes(path: Path) -> int:
    """Bytes of the files under path (0 if it does not exist): the size of a cache folder."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


# ---------------------------------------------------------------------------------------------
# Where and with what


def cpu_model() -> str:
    """The host CPU's model name (/proc/cpuinfo; platform's guess elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_stats(device: Any) -> dict[str, Any] | None:
    return device.memory_stats() if hasattr(device, "memory_stats") else None


def device_info() -> dict[str, Any]:
    """JAX's first device and the host: platform, kind, count, host CPU and cores, a display name, and the
    device's memory where it reports one."""
    import jax

    device = jax.devices()[0]
    info = {
        "platform": device.platform,
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "host_cpu": cpu_model(),
        "host_cpus": os.cpu_count(),
    }
    if device.platform == "cpu":
        info["name"] = f"CPU: {info['host_cpu']} ({info['host_cpus']} cores)"
    else:
        info["name"] = f"{device.platform.upper()}: {device.device_kind}"
    stats = _memory_stats(device)
    info["memory_stats"] = stats is not None
    if stats and "bytes_limit" in stats:
        info["memory_bytes"] = int(stats["bytes_limit"])
    return info


def device_slug(info: dict[str, Any]) -> str:
    """The results folder of a device_info(): cpu-<model>-<cores>c on a CPU, the device kind elsewhere."""
    text = f"cpu-{info['host_cpu']}-{info['host_cpus']}c" if info["platform"] == "cpu" else info["device_kind"]
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def versions() -> dict[str, str | None]:
    """Python's version and those of the packages a figure depends on (None where not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "brax", "mujoco", "mujoco-mjx", "playground", "flax", "optax", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def live_bytes() -> int:
    """Bytes of every live JAX array of this process."""
    import jax

    return sum(a.nbytes for a in jax.live_arrays())


def peak_device_bytes() -> int | None:
    """The first device's running peak of bytes in use, where it reports one (GPU; None on a CPU)."""
    import jax

    stats = _memory_stats(jax.devices()[0])
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return int(stats["peak_bytes_in_use"])


# ---------------------------------------------------------------------------------------------
# Contention


class CpuMonitor:
    """CPU share of other processes (foreign) and of this one (own) over a window, from /proc. Own counts
    the children this process has waited for too: a run in a child process is the experiment's own work."""

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    NCPU = os.cpu_count() or 1
    MIN_WINDOW_S = 0.5

    @staticmethod
    def snap() -> tuple[float, int, int] | None:
        """(clock, busy ticks of all CPUs, this process's and its waited-for children's ticks); None
        without /proc."""
        try:
            with open("/proc/stat") as f:
                values = [int(x) for x in f.readline().split()[1:]]
            with open("/proc/self/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            return None
        busy = sum(values[:8]) - values[3] - values[4]  # all but idle and iowait (guest is in user)
        own = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
        return time.perf_counter(), busy, own

    @classmethod
    def shares(cls, a, b) -> tuple[float | None, float | None]:
        """(foreign, own) CPU shares between two snaps; (None, None) for a window too short to tell."""
        # /proc counts in clock ticks (10 ms): shorter windows would be mostly rounding.
        if a is None or b is None or b[0] - a[0] < cls.MIN_WINDOW_S:
            return None, None
        ticks = (b[0] - a[0]) * cls.HZ * cls.NCPU
        own = min(1.0, (b[2] - a[2]) / ticks)
        return min(1.0, max(0.0, (b[1] - a[1]) / ticks - own)), own

    @classmethod
    def wait_quiet(cls, threshold: float, max_wait: float, window: float = 1.0) -> float:
        """Sleep until other processes use under `threshold` of the CPUs (or max_wait passes); seconds slept."""
        start = time.perf_counter()
        while time.perf_counter() - start < max_wait:
            a = cls.snap()
            time.sleep(window)
            foreign, _ = cls.shares(a, cls.snap())
            if foreign is None or foreign < threshold:
                break
        return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# Timing


def spread(values: list[float]) -> dict[str, Any]:
    """Median, min, max and the values themselves (all None and [] for no values)."""
    if not values:
        return {"median": None, "min": None, "max": None, "values": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": list(values)}


@dataclasses.dataclass
class Timer:
    """Per timed chunk: seconds, env steps/s and the CPU shares; waits for quiet between chunks."""

    quiet_threshold: float
    quiet_wait: float
    sps: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    foreign: list[float | None] = dataclasses.field(default_factory=list)
    own: list[float | None] = dataclasses.field(default_factory=list)
    waited_s: float = 0.0
    resident: int = 0
    _snap: Any = None

    def before(self) -> None:
        """Before a chunk: wait for quiet (if asked), then start the chunk's CPU window."""
        if self.quiet_wait > 0:
            self.waited_s += CpuMonitor.wait_quiet(self.quiet_threshold, self.quiet_wait)
        self._snap = CpuMonitor.snap()

    def after(self, sps: float, seconds: float, timed: bool, resident: int = 0) -> None:
        """After a chunk: keep its figures if it is timed (warm-up chunks only raise `resident`)."""
        foreign, own = CpuMonitor.shares(self._snap, CpuMonitor.snap())
        self.resident = max(self.resident, resident)
        if timed:
            self.sps.append(sps)
            self.seconds.append(seconds)
            self.foreign.append(foreign)
            self.own.append(own)


def seconds_since_process_start() -> float | None:
    """Seconds since this process started (Linux /proc: the interpreter's start-up and imports before
    a run's clock starts); None where /proc is missing."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


class ChildFailed(RuntimeError):
    """A run in a fresh process exited with an error or returned nothing."""


def run_child(argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None,
              capture: bool = True) -> tuple[subprocess.CompletedProcess, float]:
    """`python argv...` in a fresh process at the project root (env: its environment, default this
    one's; capture: keep its text output, else it goes to this process's); the finished process and its
    wall seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=capture, text=True,
                          timeout=timeout)
    return done, time.perf_counter() - start


_CHILD_RESULT = "CHILD_RESULT"  # marks the stdout line that holds a child's return value


def call_in_child(module: str, function: str, *args: Any, env: dict[str, str] | None = None,
                  timeout: float | None = 3600) -> Any:
    """module.function(*args) in a fresh Python process at the project root, so that nothing of this
    process (imports, compiled programs, caches, XLA_FLAGS) carries over; what it returns, sent back as
    JSON on a marked line of its stdout (args: literals). ChildFailed with its stderr's tail on error."""
    call = f"{module}.{function}({', '.join(map(repr, args))})"
    code = (f"import json, sys; sys.path.insert(0, '.'); from experiments import harness; import {module}; "
            f"print({_CHILD_RESULT!r}, json.dumps({call}, default=harness.json_default))")
    done, _ = run_child(["-c", code], env=env, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith(f"{_CHILD_RESULT} ")]
    if done.returncode or not lines:
        raise ChildFailed(f"{call} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].split(" ", 1)[1])


# ---------------------------------------------------------------------------------------------
# Rendering


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block `name`."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_block(text: str, name: str, block: str) -> str:
    """`text` with block `name`'s content replaced by `block` (SystemExit naming the markers if absent)."""
    begin, end = markers(name)
    if begin not in text or end not in text:
        raise SystemExit(f"the page has no {begin} ... {end} block to replace")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def write_block(page: Path, name: str, block: str) -> None:
    """Replace block `name` of the Markdown file `page` (README.md or a docs page) with `block`."""
    page.write_text(replace_block(page.read_text(), name, block))


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    """The --out flag of an experiment: the results folder its records go under (and render from)."""
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: experiments/results)")


def add_render_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The --render and --readme flags of an experiment whose block is `name` (on docs/NAME.md)."""
    parser.add_argument("--render", action="store_true", help="train nothing; print the records as markdown")
    parser.add_argument("--readme", type=Path, metavar="PAGE",
                        help=f"with --render: rewrite this file's {markers(name)[0]} block (its page: docs/{name}.md)")


def page_dir(page: Path | None) -> Path:
    """The folder a block's links are relative to: the page's, or the project root when only printed."""
    return ROOT if page is None else page.resolve().parent


def render_if_asked(args: argparse.Namespace, name: str, render: Callable[[Path, Path], str],
                    out: Path | None = None) -> bool:
    """With --render: print render(records' folder, folder of args.readme) and, with --readme, write it
    into block `name` of that page; True if so. The records' folder: out, or args.out."""
    if not args.render:
        return False
    block = render(args.out if out is None else out, page_dir(args.readme))
    print(block)
    if args.readme:
        write_block(args.readme, name, block)
    return True


def link(path: Path, base: Path) -> str:
    """path as a page in the folder `base` links it: relative to that folder (`..` where need be)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path, dpi: int = 100) -> Path:
    """Write a rendered figure to path (its folder made if need be) and close it; path."""
    if fig.get_layout_engine() is None:  # a figure made with constrained_layout keeps its own
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
