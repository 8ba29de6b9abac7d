"""Start-up time: from build to a run ready for its first chunk, with the three programs (init, the
training chunk, the evaluation) compiled one after the other or concurrently (`train.compile_stages`;
train() compiles concurrently).

    python -m experiments.startup                         # halfcheetah, its CPU preset, 2 runs per mode
    python -m experiments.startup --env G1JoystickFlatTerrain --preset gpu --repeats 1   # on a GPU

Each run is a fresh process (nothing cached in memory, the persistent compilation cache off), and the
modes alternate, so the machine's drift falls on both. Writes experiments/results/<device>/startup/<env>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("serial", "concurrent")


def ready(env: str, preset: str, mode: str) -> dict[str, float]:
    """In this process: build the run's program and get it ready to run its first chunk (state made,
    chunk and evaluation compiled); seconds per stage."""
    import jax

    from gpu_sac import SACConfig
    from gpu_sac.train import build, compile_stages

    t0 = time.perf_counter()
    config = SACConfig(env=env, preset=preset)
    program = build(config)
    built = time.perf_counter()
    state, _, _, _ = compile_stages(program, concurrent=mode == "concurrent")
    jax.block_until_ready(state)
    done = time.perf_counter()
    return {"build_s": built - t0, "compile_s": done - built, "ready_s": done - t0}


def run(env: str, preset: str, repeats: int) -> dict[str, Any]:
    """Each mode `repeats` times, alternating, each in a fresh process."""
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    child_env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    child_env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    for _ in range(repeats):
        for mode in MODES:
            code = ("import json, sys; sys.path.insert(0, '.'); from experiments.startup import ready; "
                    f"print('STARTUP', json.dumps(ready({env!r}, {preset!r}, {mode!r})))")
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env,
                                  cwd=Path(__file__).resolve().parent.parent, timeout=3600)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("STARTUP ")]
            if done.returncode or not lines:
                raise RuntimeError(f"startup run ({mode}) failed:\n{done.stderr[-3000:]}")
            runs[mode].append(json.loads(lines[-1].split(" ", 1)[1]))
            print(f"{env} {mode}: {runs[mode][-1]}", flush=True)
    median = {m: statistics.median(r["compile_s"] for r in runs[m]) for m in MODES}
    return {
        "what": "seconds from build to a run ready for its first chunk: init, chunk and evaluation compiled "
                "one after the other (serial) or the chunk and evaluation in threads while init runs (concurrent)",
        "env": env,
        "preset": preset,
        "runs": runs,
        "median_compile_s": median,
        "serial_over_concurrent": median["serial"] / median["concurrent"],
    }


def main(argv: list[str] | None = None) -> int:
    from experiments.benchmark import device_info, device_slug, versions

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--preset", default="cpu", help="the env's preset to build (cpu, gpu, fastsac, ...)")
    parser.add_argument("--repeats", type=int, default=2, help="fresh processes per mode, alternated")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: experiments/results)")
    args = parser.parse_args(argv)
    device = device_info()
    record = run(args.env, args.preset, args.repeats)
    command = "python -m experiments.startup " + " ".join(sys.argv[1:] if argv is None else argv)
    record.update(device=device, versions=versions(), command=command,
                  date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    path = args.out / device_slug(device) / "startup" / f"{args.env}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    m = record["median_compile_s"]
    print(f"{args.env}: compile {m['serial']:.1f} s one after the other, {m['concurrent']:.1f} s concurrent "
          f"({record['serial_over_concurrent']:.2f}x); {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
