"""Throughput against device count: one run spread over 1, 2, 4, ... devices at the same work per device.

    python -m experiments.scaling --force-cpu-devices 4      # a CPU: 4 forced host devices (correctness record)
    python -m experiments.scaling --env halfcheetah --per-device-envs 512 --devices 1 2 4 8   # a multi-GPU host

For each device count D (shard_over="envs", data parallel) the config is the per-device one times D:
num_envs = D·n, batch_size = D·b, buffer_size = D·c (weak scaling), and we time env steps per second
(train()'s own per-chunk `sps`, median of the timed chunks after the buffer filled and one more chunk).
Scaling efficiency at D = sps(D) / (D · sps(1)).

Two more measurements separate the cost of the collectives from that of sharing the hardware:
- seeds vs envs at the largest D: D agents, one per device (shard_over="seeds", no communication)
  against one agent data parallel over the D devices, the same per-device work; the ratio is what the
  gradient all-reduce, the normaliser's all-gather and the episode sums cost per step.
- the mesh program on one device (`build(..., mesh_path=True)`) against the plain one-device program.

Forced CPU devices share the host's cores, so on a CPU sps(D) says nothing of speed-up: there the
record is a correctness check (every configuration runs and learns the same thing) plus the two
overhead ratios. Records: experiments/results/<device>/scaling/<env>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="pendulum")
    parser.add_argument("--devices", nargs="*", type=int, help="device counts (default: 1, 2, 4, ... up to all)")
    parser.add_argument("--force-cpu-devices", type=int, help="make this many CPU devices (before JAX starts)")
    parser.add_argument("--per-device-envs", type=int, default=4)
    parser.add_argument("--per-device-batch", type=int, default=64)
    parser.add_argument("--per-device-buffer", type=int, default=25_000)
    parser.add_argument("--updates-per-step", type=int, default=4)
    parser.add_argument("--chunk-iterations", type=int, default=250, help="vectorised steps per chunk")
    parser.add_argument("--repeats", type=int, default=3, help="timed chunks per measurement")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    return parser.parse_args(argv)


def config_for(args: argparse.Namespace, devices: int, shard_over: str = "envs", seeds: int = 1):
    """The per-device config times `devices` (envs), or `seeds` agents of the per-device config (seeds)."""
    from gpu_sac import SACConfig

    scale = devices if shard_over == "envs" else 1
    n = args.per_device_envs * scale
    fill_iterations = 2  # vectorised steps of random actions before the first update, at every D
    per_chunk = args.chunk_iterations * n
    return SACConfig(
        env=args.env, num_envs=n, batch_size=args.per_device_batch * scale,
        buffer_size=args.per_device_buffer * scale,
        min_replay_size=max(args.per_device_batch * scale, fill_iterations * n),
        start_steps=fill_iterations * n, grad_updates_per_step=args.updates_per_step, steps_per_chunk=per_chunk,
        total_steps=(args.repeats + 1) * per_chunk, eval_episodes=0, num_devices=devices, shard_over=shard_over,
        num_seeds=seeds,
    )


def measure(config, mesh_path: bool = False) -> dict[str, Any]:
    from gpu_sac.train import build, train

    program = build(config, mesh_path=mesh_path)
    result = train(config, program=program)
    timed = [r["sps"] for r in result.history[1:]]  # chunk 0 fills the buffer and starts learning
    return {
        "num_devices": config.num_devices, "shard_over": config.shard_over, "num_seeds": config.num_seeds,
        "num_envs": config.num_envs, "batch_size": config.batch_size, "mesh_path": mesh_path or config.num_devices > 1,
        "env_steps_per_s": statistics.median(timed), "env_steps_per_s_all": timed, "compile_s": result.compile_s,
        "critic_loss_final": result.history[-1]["critic_loss"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.force_cpu_devices:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={args.force_cpu_devices}").strip()
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    from experiments.benchmark import device_info, device_slug, versions

    counts = args.devices or [d for d in (1, 2, 4, 8, 16, 32) if d <= jax.device_count()]
    rows = []
    for D in counts:
        rows.append(measure(config_for(args, D)))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "env_steps_per_s_all"}), flush=True)
    base = rows[0]["env_steps_per_s"] if counts[0] == 1 else None
    for row in rows:
        row["efficiency"] = None if base is None else row["env_steps_per_s"] / (row["num_devices"] * base)
    D = counts[-1]
    seeds = measure(config_for(args, D, "seeds", seeds=D))
    one_mesh = measure(config_for(args, 1), mesh_path=True)
    print(json.dumps({"seeds": seeds["env_steps_per_s"], "one_device_mesh": one_mesh["env_steps_per_s"]}))
    info = device_info()
    record = {
        "schema": 1, "env": args.env, "device": info, "versions": versions(), "args": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "forced_cpu_devices": bool(args.force_cpu_devices),
        "data_parallel": rows,
        "seeds_at_max_devices": seeds,
        # > 1: the data-parallel run at D devices is this much slower than D independent agents with the
        # same per-device work (the collectives' cost); ~1: they cost nothing that shows.
        "collectives_overhead": seeds["env_steps_per_s"] / rows[-1]["env_steps_per_s"],
        "one_device_mesh_path": one_mesh,
        "mesh_path_over_plain_one_device": None if base is None else one_mesh["env_steps_per_s"] / base,
    }
    out = args.out / device_slug(info) / "scaling" / f"{args.env}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

