"""Plain against compact replay, interleaved: both training programs in one process, both buffers
filled (untimed), then timed chunks alternate plain, compact, plain, compact, ...

    python -m experiments.replay_ab                      # halfcheetah, the benchmark's full-replay case
    python -m experiments.replay_ab --env pendulum --pairs 4 --buffer-size 20000
    python -m experiments.replay_ab --preset gpu --num-envs 1024 --buffer-size 1048576 --chunk-steps 102400

Why not two benchmark runs: on the 2-core CPU the same measurement drifts by ±10 % from one run to the
next (and within one), more than the difference sought. Alternating the two programs chunk by chunk
puts the drift on both; the figure is the per-pair ratio compact / plain (median and range). Writes
experiments/results/<device>/replay_ab/<env>.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import jax

from experiments import harness
from experiments.benchmark import CPU_SAC

LAYOUTS = ("plain", "compact")


def make_config(env: str, num_envs: int, updates: int, chunk_steps: int, buffer_size: int, preset: str | None = None):
    """The benchmark's CPU config (or the env's named preset) with min replay = capacity: every timed
    insert lands in a full ring."""
    from gpu_sac import SACConfig

    base = dict(CPU_SAC) if preset is None else dict(preset=preset)
    fields = dict(base, env=env, num_envs=num_envs, grad_updates_per_step=updates, buffer_size=buffer_size,
                  min_replay_size=buffer_size, start_steps=buffer_size, steps_per_chunk=chunk_steps,
                  total_steps=chunk_steps * 10**6)
    if "env_group_size" in fields:
        fields["env_group_size"] = math.gcd(num_envs, fields["env_group_size"])  # groups of 16 envs, or fewer
    return {layout: SACConfig(**dict(fields, replay_layout=layout)) for layout in LAYOUTS}


def filled(program, config) -> tuple[Any, int]:
    """A train state whose replay is full and which has run one learning chunk (untimed), and the
    number of chunks that took."""
    from gpu_sac.training.train import seed_keys

    ts = program.init(seed_keys(config))
    chunks = 0
    while int(ts.buffer.size[0]) < config.buffer_size - config.num_envs:  # compact: the newest step waits
        ts, _ = program.run_chunk(ts)
        chunks += 1
    ts, summary = program.run_chunk(ts)  # the first learning chunk
    jax.block_until_ready(summary)
    return ts, chunks + 1


def run(env: str, num_envs: int, updates: int, chunk_steps: int, buffer_size: int, pairs: int,
        preset: str | None = None) -> dict[str, Any]:
    from gpu_sac.training.train import build

    configs = make_config(env, num_envs, updates, chunk_steps, buffer_size, preset)
    programs = {layout: build(c) for layout, c in configs.items()}
    states, setup = {}, {}
    for layout in LAYOUTS:
        start = time.perf_counter()
        states[layout], chunks = filled(programs[layout], configs[layout])
        setup[layout] = {"fill_chunks": chunks, "seconds": time.perf_counter() - start}
    sps = {layout: [] for layout in LAYOUTS}
    foreign = []
    env_steps = configs["plain"].iterations_per_chunk * num_envs
    for _ in range(pairs):
        for layout in LAYOUTS:
            before = int(states[layout].updates)  # read outside the timed window
            a = harness.CpuMonitor.snap()
            t0 = time.perf_counter()
            states[layout], summary = programs[layout].run_chunk(states[layout])
            jax.block_until_ready(summary)
            sps[layout].append(env_steps / (time.perf_counter() - t0))
            foreign.append(harness.CpuMonitor.shares(a, harness.CpuMonitor.snap())[0])
            assert int(summary["updates"]) - before == configs[layout].iterations_per_chunk * updates, (
                f"a timed {layout} chunk did not learn at every step")
    ratios = [c / p for p, c in zip(sps["plain"], sps["compact"], strict=True)]
    obs_dim, act_dim = programs["plain"].obs_dim, programs["plain"].act_dim
    return {
        "what": "interleaved chunks of the same training program with plain and compact replay, buffer full",
        "env": env,
        "config": {layout: c.to_dict() for layout, c in configs.items()},
        "dims": {"obs": obs_dim, "act": act_dim},
        "bytes_per_transition": {layout: programs[layout].replay.bytes_per_transition for layout in LAYOUTS},
        "chunk_env_steps": env_steps,
        "setup": setup,
        "env_steps_per_s": {layout: harness.spread(v) for layout, v in sps.items()},
        "compact_over_plain": harness.spread(ratios),
        "max_foreign_cpu_share": max((f for f in foreign if f is not None), default=None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--updates", type=int, default=1, help="gradient updates per vectorised step")
    parser.add_argument("--chunk-steps", type=int, default=2048, help="env steps per timed chunk")
    parser.add_argument("--buffer-size", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=8, help="timed chunks per layout, alternated")
    parser.add_argument("--preset", help="the env's preset to start from (default: the benchmark's CPU config)")
    harness.add_out_argument(parser)
    args = parser.parse_args(argv)
    device = harness.device_info()
    record = run(args.env, args.num_envs, args.updates, args.chunk_steps, args.buffer_size, args.pairs, args.preset)
    record.update(device=device, versions=harness.versions(),
                  command=harness.command_line("python -m experiments.replay_ab", argv), date=harness.utc_now())
    path = harness.write_record(harness.record_path(args.out, device, "replay_ab", args.env), record)
    r, sps = record["compact_over_plain"], record["env_steps_per_s"]
    print(f"{args.env}: plain {sps['plain']['median']:.0f} env steps/s, compact {sps['compact']['median']:.0f}; "
          f"compact / plain per pair {r['median']:.3f} [{r['min']:.3f}, {r['max']:.3f}] over {args.pairs} pairs; "
          f"{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
