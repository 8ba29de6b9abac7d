"""Time to score: deterministic eval return against wall-clock seconds (from the start of the run,
env construction and compile included) and against env steps, gpu_sac and Brax SAC side by side
in one process on one device.

    python -m experiments.time_to_score                    # CPU: pendulum, then halfcheetah (hours)
    python -m experiments.time_to_score --cases pendulum   # one case (~6 min on a 2-core CPU)
    python -m experiments.time_to_score --preset gpu       # halfcheetah to 1 M steps, CheetahRun (GPU)
    python -m experiments.time_to_score --preset smoke     # pendulum, seconds (tests)
    python -m experiments.time_to_score --render --readme README.md   # table and plot from the records

A case is one env with return thresholds, a wall-clock budget per run and a step budget. Its arms
are configs, each run by one or both trainers: "same" gives both trainers the same settings
(Brax's are derived from the SACConfig by `brax_sac_compat.brax_kwargs`), other arms are one
trainer's own best documented config. Every (case, arm, trainer, seed) is one run and one JSON
record, experiments/results/<device>/time_to_score/<case>/<arm>_<trainer>_seed<k>.json, skipped
when it exists (--force reruns it), so a table can be filled a few runs at a time. Seeds run one
after the other, each in its own program: a user waiting for one policy waits for one seed's
program, and several seeds vmapped in one program would slow each of them down on a CPU.

Each run stops at its step budget or at the first evaluation after its wall-clock budget. Both
trainers evaluate `eval_episodes` deterministic episodes every `eval_every` env steps, and that
time is in the clock: it is part of what a user waits for. Brax also evaluates once before
training (step 0). A run's record: its curve (env_steps, wall_s, eval_return), for each threshold
the first wall_s and env_steps at which the eval return reached it (None if never), the return at
the budget (the last evaluation), config, device and versions.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments import readme_block  # noqa: E402
from experiments.benchmark import device_info, device_slug, versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TRAINERS = ("gpu_sac", "brax_sac")
BLOCK = "time_to_score"


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    trainers: tuple[str, ...]
    config: dict[str, Any]  # SACConfig fields over the env's preset
    source: str  # where the config comes from


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    env: str
    thresholds: tuple[float, ...]
    budget_s: float  # wall-clock per run, compile included
    total_steps: int  # step budget per run
    eval_every: int  # env steps between evaluations
    eval_episodes: int
    arms: tuple[Arm, ...]
    seeds: int = 3


# The CPU settings of the side-by-side run: the Playground DM Control SAC config scaled
# down for a 2-core CPU (16 envs, batch 256, replay 10⁶, 5 000 random steps, lr 1e-3); Brax's α
# learning rate is fixed at 3e-4, so ours is set to it in the "same" arm.
HALFCHEETAH_CPU_SAME = dict(
    num_envs=16, grad_updates_per_step=8, batch_size=256, buffer_size=1_000_000, start_steps=5_000,
    min_replay_size=5_000, actor_lr=1e-3, critic_lr=1e-3, alpha_lr=3e-4, env_group_size=16,
)
# Playground's DM Control SAC config (envs/playground_envs.py, the Brax envs' preset), α lr as Brax's.
PLAYGROUND_SAME = dict(alpha_lr=3e-4)

PRESETS: dict[str, tuple[Case, ...]] = {
    "cpu": (
        Case("pendulum", "pendulum", (-400.0, -200.0), budget_s=60, total_steps=20_000, eval_every=1_000,
             eval_episodes=10, arms=(Arm("same", TRAINERS, {"alpha_lr": 3e-4}, "gpu_sac's pendulum preset"),),
             seeds=5),
        Case("halfcheetah-cpu", "halfcheetah", (1_000.0, 3_000.0, 5_000.0, 7_200.0), budget_s=900,
             total_steps=100_000, eval_every=10_000, eval_episodes=10,
             arms=(Arm("same", TRAINERS, HALFCHEETAH_CPU_SAME, "issue 9's CPU settings (16 envs, 8 updates/step)"),)),
    ),
    "gpu": (
        Case("halfcheetah-gpu", "halfcheetah", (1_000.0, 3_000.0, 5_000.0, 7_200.0, 10_214.0), budget_s=200,
             total_steps=1_000_000, eval_every=50_000, eval_episodes=16,
             arms=(Arm("same", TRAINERS, PLAYGROUND_SAME, "Playground's DM Control SAC config (128 envs, "
                       "8 updates/step, batch 512)"),
                   Arm("u32", ("gpu_sac",), dict(PLAYGROUND_SAME, grad_updates_per_step=32),
                       "the same with 32 updates per vectorised step (untuned candidate)")),
             seeds=1),
        Case("CheetahRun-gpu", "CheetahRun", (200.0, 400.0, 600.0), budget_s=90, total_steps=10_000_000,
             eval_every=100_000, eval_episodes=16,
             arms=(Arm("same", TRAINERS, PLAYGROUND_SAME, "Playground's DM Control SAC config"),), seeds=1),
    ),
    "smoke": (
        Case("pendulum-smoke", "pendulum", (-1_000.0, -200.0), budget_s=60, total_steps=1_024, eval_every=256,
             eval_episodes=2,
             arms=(Arm("same", TRAINERS, dict(hidden_sizes=(32, 32), batch_size=32, min_replay_size=128,
                                               start_steps=128, episode_length=50, alpha_lr=3e-4),
                       "tiny networks: a check of the harness"),),
             seeds=1),
    ),
}


class BudgetReached(Exception):
    """Raised from a trainer's per-evaluation hook to stop the run at its wall-clock budget."""


def sac_config(case: Case, arm: Arm, seed: int):
    from gpu_sac import SACConfig

    return SACConfig(env=case.env, seed=seed, total_steps=case.total_steps, steps_per_chunk=case.eval_every,
                     eval_episodes=case.eval_episodes, **arm.config)


def run_gpu_sac(config, budget_s: float) -> list[dict[str, Any]]:
    """Train with gpu_sac.train, one point per chunk (each chunk ends with an evaluation)."""
    from gpu_sac import train

    curve: list[dict[str, Any]] = []
    start = time.perf_counter()

    def on_chunk(state, record):
        curve.append(point(record["env_steps"], time.perf_counter() - start, record["eval_return"]))
        if curve[-1]["wall_s"] >= budget_s:
            raise BudgetReached

    with contextlib.suppress(BudgetReached):
        train(config, callback=on_chunk)
    return curve


def run_brax_sac(config, budget_s: float) -> list[dict[str, Any]]:
    """Train with Brax's SAC at the config's settings (`brax_sac_compat.brax_kwargs`), evaluating
    eval_episodes envs every steps_per_chunk env steps, one point per evaluation."""
    import envs
    from experiments import brax_sac_compat

    curve: list[dict[str, Any]] = []
    start = time.perf_counter()

    def progress(step: int, metrics: dict[str, Any]) -> None:
        curve.append(point(int(step), time.perf_counter() - start, float(metrics["eval/episode_reward"])))
        if curve[-1]["wall_s"] >= budget_s:
            raise BudgetReached

    env = envs.make(config.env)
    with contextlib.suppress(BudgetReached):
        brax_sac_compat.train(
            config, env, num_timesteps=config.total_steps, num_evals=config.num_chunks + 1,
            num_eval_envs=config.eval_episodes, seed=config.seed, eval_env=env, progress_fn=progress,
        )
    return curve


RUNNERS = {"gpu_sac": run_gpu_sac, "brax_sac": run_brax_sac}


def point(env_steps: int, wall_s: float, eval_return: Any) -> dict[str, Any]:
    value = float(eval_return)
    return {"env_steps": int(env_steps), "wall_s": wall_s, "eval_return": value if math.isfinite(value) else None}


def reached(curve: list[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    """The first point of the curve at or above threshold (its wall_s and env_steps), or None."""
    for p in curve:
        if p["eval_return"] is not None and p["eval_return"] >= threshold:
            return {"wall_s": p["wall_s"], "env_steps": p["env_steps"]}
    return None


def record_path(out: Path, device: dict, case: Case, arm: Arm, trainer: str, seed: int) -> Path:
    return out / device_slug(device) / "time_to_score" / case.name / f"{arm.name}_{trainer}_seed{seed}.json"


def run_one(case: Case, arm: Arm, trainer: str, seed: int, budget_s: float, device: dict) -> dict[str, Any]:
    config = sac_config(case, arm, seed)
    curve = RUNNERS[trainer](config, budget_s)
    return {
        "what": "time to score: deterministic eval return against wall-clock from the start of the run",
        "case": case.name,
        "env": case.env,
        "arm": arm.name,
        "arm_source": arm.source,
        "trainer": trainer,
        "seed": seed,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": device,
        "versions": versions(),
        "config": config.to_dict(),
        "budget_s": budget_s,
        "total_steps": case.total_steps,
        "eval_every": case.eval_every,
        "eval_episodes": case.eval_episodes,
        "thresholds": {str(t): reached(curve, t) for t in case.thresholds},
        "return_at_budget": curve[-1]["eval_return"] if curve else None,
        "curve": curve,
    }


def plan(cases: tuple[Case, ...], trainers: tuple[str, ...], seeds: int | None) -> list[tuple]:
    """(case, arm, trainer, seed) of every run, seed-major so that a partial run covers both trainers."""
    return [
        (case, arm, trainer, seed)
        for case in cases
        for seed in range(seeds or case.seeds)
        for arm in case.arms
        for trainer in arm.trainers
        if trainer in trainers
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--cases", nargs="*", help="case names of the preset (default: all)")
    parser.add_argument("--trainers", nargs="*", default=list(TRAINERS), choices=TRAINERS)
    parser.add_argument("--seeds", type=int, help="seeds per run (default: the case's)")
    parser.add_argument("--budget-s", type=float, help="wall-clock budget per run (default: the case's)")
    parser.add_argument("--deadline-s", type=float, default=math.inf,
                        help="stop starting runs this many seconds after the start; a run started before it "
                             "gets at most the time left (for a machine lent for minutes)")
    parser.add_argument("--force", action="store_true", help="rerun runs whose record exists")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: experiments/results)")
    readme_block.add_arguments(parser, BLOCK)
    args = parser.parse_args(argv)
    if readme_block.render_if_asked(args, BLOCK, render):
        return 0
    cases = tuple(c for c in PRESETS[args.preset] if not args.cases or c.name in args.cases)
    device = device_info()
    start = time.perf_counter()
    for case, arm, trainer, seed in plan(cases, tuple(args.trainers), args.seeds):
        path = record_path(args.out, device, case, arm, trainer, seed)
        if path.exists() and not args.force:
            print(f"exists, skipped: {path}", flush=True)
            continue
        budget = min(args.budget_s or case.budget_s, args.deadline_s - (time.perf_counter() - start))
        if budget < min(60.0, case.budget_s):
            print(f"deadline: {case.name} {arm.name} {trainer} seed {seed} not started", flush=True)
            continue
        print(f"{case.name} {arm.name} {trainer} seed {seed}: budget {budget:.0f} s", flush=True)
        record = run_one(case, arm, trainer, seed, budget, device)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1) + "\n")
        reach = "  ".join(f"{t}: {'-' if r is None else round(r['wall_s'])} s" for t, r in record["thresholds"].items())
        last = record["curve"][-1] if record["curve"] else {}
        print(f"  -> {last.get('eval_return')} at {last.get('env_steps')} steps, {last.get('wall_s', 0):.0f} s; "
              f"{reach}", flush=True)
    return 0


def render(out: Path) -> str:
    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
