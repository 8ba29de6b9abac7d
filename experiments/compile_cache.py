"""What JAX's persistent compilation cache saves a user (gpu_sac.run.compile_cache): the same short
training command run twice in fresh processes, first with an empty cache folder, then with the one
the first run filled. Writes one JSON record per env under experiments/results/<device>/compile_cache/.

    python -m experiments.compile_cache                          # halfcheetah, CPU preset, 20 000 steps
    python -m experiments.compile_cache --env pendulum --total-steps 4096

Both runs train the same config from the same seed, so they must end at the same eval return: the
record checks it. The time of each run is the whole command's, from process start to exit.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments.benchmark import CpuMonitor, device_info, device_slug, versions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(args: list[str], run_dir: Path, cache: Path) -> dict:
    """One training command in a fresh process: wall seconds, final eval return, foreign CPU share."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    cmd = [sys.executable, str(ROOT / "experiments" / "train.py"), *args, "--run-dir", str(run_dir),
           "--compile-cache", str(cache), "--quiet", "--no-video", "--no-tensorboard"]
    before, cpu_before = CpuMonitor.snap(), children_cpu_s()
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after, cpu_after = CpuMonitor.snap(), children_cpu_s()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    foreign = None
    if before and after:  # the other processes' share: all busy CPU time but the run's own
        ticks = (after[0] - before[0]) * CpuMonitor.HZ * CpuMonitor.NCPU
        foreign = max(0.0, ((after[1] - before[1]) - (cpu_after - cpu_before) * CpuMonitor.HZ) / ticks)
    return dict(wall_s=wall, eval_return=summary["eval_return"], env_steps=summary["env_steps"],
                foreign_cpu_share=foreign)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--total-steps", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: experiments/results)")
    args = parser.parse_args(argv)
    train_args = ["--env", args.env, "--total-steps", str(args.total_steps)]
    with tempfile.TemporaryDirectory(prefix="gpu_sac_cache_probe_") as tmp:
        cache = Path(tmp) / "xla"
        cold = timed_run(train_args, Path(tmp) / "cold", cache)
        cache_bytes = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
        warm = timed_run(train_args, Path(tmp) / "warm", cache)
    device = device_info()
    record = dict(
        what="one training command, run twice in fresh processes: with an empty compilation cache, then "
             "with the one the first run filled (gpu_sac.run.compile_cache)",
        env=args.env, command=f"python experiments/train.py {' '.join(train_args)}", device=device,
        versions=versions(), date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        cold=cold, warm=warm, saved_s=cold["wall_s"] - warm["wall_s"], cache_bytes=cache_bytes,
        same_result=cold["eval_return"] == warm["eval_return"],
    )
    path = args.out / device_slug(device) / "compile_cache" / f"{re.sub(r'[^A-Za-z0-9_-]', '_', args.env)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{args.env}: cold {cold['wall_s']:.1f} s, warm {warm['wall_s']:.1f} s (saved {record['saved_s']:.1f} s); "
          f"same result: {record['same_result']}; {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
