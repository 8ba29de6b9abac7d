"""Start-up time: from build to a run ready for its first chunk, with the three programs (init, the
training chunk, the evaluation) compiled one after the other or concurrently (`train.compile_stages`;
train() compiles concurrently); and, with --physics, from the command to the first chunk for MJX
against MuJoCo Warp, with the caches cold and then warm.

    python -m experiments.startup                         # halfcheetah, its CPU preset, 2 runs per mode
    python -m experiments.startup --env G1JoystickFlatTerrain --preset gpu --repeats 1   # on a GPU
    python -m experiments.startup --env CheetahRun --physics jax warp          # MJX vs Warp, cold then warm

Each run is a fresh process (nothing cached in memory), and the modes alternate, so the machine's drift
falls on both. Serial against concurrent: the persistent compilation cache off. --physics: each impl
first with an empty JAX compilation cache and an empty Warp kernel cache (cold), then again with the
caches that run filled (warm: a rerun of the same command); the record gives the seconds from starting
the process to the first chunk's start (imports, env build, compiles, init) and the caches' sizes.
Writes experiments/results/<device>/startup/<env>.json (--physics: <env>-physics.json).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from experiments import harness

MODES = ("serial", "concurrent")


def ready(env: str, preset: str, mode: str) -> dict[str, float]:
    """In this process: build the run's program and get it ready to run its first chunk (state made,
    chunk and evaluation compiled); seconds per stage."""
    import jax

    from gpu_sac import SACConfig
    from gpu_sac.training.train import build, compile_stages

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
            runs[mode].append(harness.call_in_child("experiments.startup", "ready", env, preset, mode, env=child_env))
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


def ready_from_start(env: str, preset: str, impl: str, cache_dir: str) -> dict[str, float]:
    """In a fresh process started at `start` (time.time(), from the parent): ready_s plus the seconds from the
    command to here, with JAX's persistent cache in cache_dir (as the CLI runs; Warp's kernel cache is the
    one WARP_CACHE_PATH names)."""
    import jax

    from gpu_sac import SACConfig
    from gpu_sac.run import compile_cache
    from gpu_sac.training.train import build, compile_stages

    compile_cache.enable(cache_dir)
    t0 = time.perf_counter()
    program = build(SACConfig(env=env, preset=preset, playground_impl=impl))
    built = time.perf_counter()
    state, _, _, _ = compile_stages(program)
    jax.block_until_ready(state)
    done = time.perf_counter()
    return {"build_s": built - t0, "compile_s": done - built, "ready_s": done - t0, "ready_at": time.time(),
            "physics": getattr(program.env, "physics", "")}


def run_physics(env: str, preset: str, impls: list[str], work: Path) -> dict[str, Any]:
    """Each impl cold (empty caches), then warm (the caches it filled), each in a fresh process."""
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for impl in impls:
        xla, kernels = work / impl / "xla", work / impl / "warp"
        child_env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
        child_env["WARP_CACHE_PATH"] = str(kernels)
        runs[impl] = {}
        for cache in ("cold", "warm"):
            start = time.time()
            out = harness.call_in_child("experiments.startup", "ready_from_start", env, preset, impl, str(xla),
                                        env=child_env)
            out["command_to_first_chunk_s"] = out.pop("ready_at") - start
            out["xla_cache_bytes"] = harness.folder_bytes(xla)
            out["warp_kernel_cache_bytes"] = harness.folder_bytes(kernels)
            runs[impl][cache] = out
            print(f"{env} {impl} {cache}: {out['command_to_first_chunk_s']:.1f} s to the first chunk "
                  f"(build {out['build_s']:.1f}, compile {out['compile_s']:.1f}); caches: XLA "
                  f"{out['xla_cache_bytes'] / 2**20:.1f} MiB, Warp {out['warp_kernel_cache_bytes'] / 2**20:.1f} MiB",
                  flush=True)
    return {
        "what": "seconds from starting a fresh process to its first chunk (imports, env build, the chunk, evaluation "
                "and init compiled concurrently, init run): cold = empty JAX compilation and Warp kernel caches, "
                "warm = the same command again with the caches the cold run filled",
        "env": env,
        "preset": preset,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--preset", default="cpu", help="the env's preset to build (cpu, gpu, fastsac, ...)")
    parser.add_argument("--repeats", type=int, default=2, help="fresh processes per mode, alternated")
    harness.add_out_argument(parser)
    parser.add_argument("--physics", nargs="*", choices=("jax", "warp"),
                        help="compare these Playground impls from the command, caches cold then warm")
    args = parser.parse_args(argv)
    device = harness.device_info()
    command = harness.command_line("python -m experiments.startup", argv)
    if args.physics:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="gpu_sac_startup_") as work:
            record = run_physics(args.env, args.preset, args.physics, Path(work))
        record.update(device=device, versions=harness.versions(), date=harness.utc_now(), command=command)
        print(harness.write_record(harness.record_path(args.out, device, "startup", f"{args.env}-physics"), record))
        return 0
    record = run(args.env, args.preset, args.repeats)
    record.update(device=device, versions=harness.versions(), command=command, date=harness.utc_now())
    path = harness.write_record(harness.record_path(args.out, device, "startup", args.env), record)
    m = record["median_compile_s"]
    print(f"{args.env}: compile {m['serial']:.1f} s one after the other, {m['concurrent']:.1f} s concurrent "
          f"({record['serial_over_concurrent']:.2f}x); {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
