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
import json
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments import harness  # noqa: E402


def timed_run(args: list[str], run_dir: Path, cache: Path) -> dict:
    """One training command in a fresh process: wall seconds, final eval return, foreign CPU share."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    argv = ["experiments/train.py", *args, "--run-dir", str(run_dir), "--compile-cache", str(cache), "--quiet",
            "--no-video", "--no-tensorboard"]
    before = harness.CpuMonitor.snap()
    done, wall = harness.run_child(argv, env=env)
    # The other processes' share: all busy CPU time but this process's and the run's (its waited-for child).
    foreign, _ = harness.CpuMonitor.shares(before, harness.CpuMonitor.snap())
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return dict(wall_s=wall, eval_return=summary["eval_return"], env_steps=summary["env_steps"],
                foreign_cpu_share=foreign)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--total-steps", type=int, default=20_000)
    harness.add_out_argument(parser)
    args = parser.parse_args(argv)
    train_args = ["--env", args.env, "--total-steps", str(args.total_steps)]
    with tempfile.TemporaryDirectory(prefix="gpu_sac_cache_probe_") as tmp:
        cache = Path(tmp) / "xla"
        cold = timed_run(train_args, Path(tmp) / "cold", cache)
        cache_bytes = harness.folder_bytes(cache)
        warm = timed_run(train_args, Path(tmp) / "warm", cache)
    device = harness.device_info()
    record = dict(
        what="one training command, run twice in fresh processes: with an empty compilation cache, then "
             "with the one the first run filled (gpu_sac.run.compile_cache)",
        env=args.env, command=f"python experiments/train.py {' '.join(train_args)}", device=device,
        versions=harness.versions(), date=harness.utc_now(),
        cold=cold, warm=warm, saved_s=cold["wall_s"] - warm["wall_s"], cache_bytes=cache_bytes,
        same_result=cold["eval_return"] == warm["eval_return"],
    )
    path = harness.write_record(
        harness.record_path(args.out, device, "compile_cache", re.sub(r"[^A-Za-z0-9_-]", "_", args.env)), record)
    print(f"{args.env}: cold {cold['wall_s']:.1f} s, warm {warm['wall_s']:.1f} s (saved {record['saved_s']:.1f} s); "
          f"same result: {record['same_result']}; {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
