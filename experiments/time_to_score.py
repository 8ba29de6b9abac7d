"""Time to score: deterministic eval return against wall-clock seconds (from the start of the run,
env construction and compile included) and against env steps, gpu_sac and Brax SAC side by side
in one process on one device.

    python -m experiments.time_to_score                    # CPU: pendulum, halfcheetah, hopper (hours)
    python -m experiments.time_to_score --cases pendulum   # one case (~6 min on a 2-core CPU)
    python -m experiments.time_to_score --preset gpu       # halfcheetah to 1 M steps, CheetahRun, HumanoidWalk (GPU)
    python -m experiments.time_to_score --preset smoke     # pendulum, seconds (tests)
    python -m experiments.time_to_score --render --readme docs/time_to_score.md   # table and plot from the records

A case is one env with return thresholds, a wall-clock budget per run and a step budget. Its arms
are configs, each run by one or both trainers: "same" gives both trainers the same settings
(Brax's are derived from the SACConfig by `brax_sac_compat.brax_kwargs`), other arms are one
trainer's own best documented config. Every (case, arm, trainer, seed) is one run and one JSON
record, experiments/results/<device>/time_to_score/<case>/<arm>_<trainer>_seed<k>.json, skipped
when it exists (--force reruns it), so a table can be filled a few runs at a time. Each run is a fresh Python
process (so that none inherits another's warm-up; --in-process runs them here). Seeds run one
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
import itertools
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments import harness  # noqa: E402

TRAINERS = ("gpu_sac", "brax_sac")  # the two SAC trainers of a "same" arm
ALL_TRAINERS = (*TRAINERS, "brax_ppo")  # brax_ppo: Brax's PPO at Playground's config (its arms' config: overrides)
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
    stop_when_reached: bool = False  # end a run at its first evaluation at or above the last threshold (sweeps)


# The CPU settings of the side-by-side run: the Playground DM Control SAC config scaled
# down for a 2-core CPU (16 envs, batch 256, replay 10⁶, 5 000 random steps, lr 1e-3); Brax's α
# learning rate is fixed at 3e-4, so ours is set to it in the "same" arm.
HALFCHEETAH_CPU_SAME = dict(
    preset="cpu", num_envs=16, grad_updates_per_step=8, batch_size=256, buffer_size=1_000_000, start_steps=5_000,
    min_replay_size=5_000, actor_lr=1e-3, critic_lr=1e-3, alpha_lr=3e-4, env_group_size=16,
)
# Playground's DM Control SAC config (gpu_sac/envs/playground_envs.py, the Brax envs' preset), α lr as Brax's.
PLAYGROUND_SAME = dict(preset="gpu", alpha_lr=3e-4)
PLAYGROUND_ARM = Arm("same", TRAINERS, PLAYGROUND_SAME, "Playground's DM Control SAC config")
HOPPER_ACT_DIM = 3  # Brax hopper's actuators
# The seed's width, the pendulum preset's until pendulum-width-sweep (64 x 64 since): the records of the
# pendulum arms below that say "preset" were made with it.
PENDULUM_256 = dict(hidden_sizes=(256, 256))
# Pendulum's rewards are in [-16.3, 0] per step: at γ 0.99 its values lie in about [-1000, 0].
PENDULUM_C51 = dict(critic_type="c51", v_min=-1000.0, v_max=0.0)


def _recipe_at_preset_sizes() -> dict[str, Any]:
    """FastSAC's recipe without its GPU sizes (envs, batch, replay, warm-up, chunk, episode length), so
    that the env's preset sizes the run."""
    from gpu_sac.envs.recipes import FASTSAC

    sizes = ("num_envs", "env_group_size", "buffer_size", "batch_size", "grad_updates_per_step", "steps_per_chunk",
             "start_steps", "min_replay_size", "episode_length")
    return {k: v for k, v in FASTSAC.items() if k not in sizes}


RECIPE_AT_PRESET_SIZES = _recipe_at_preset_sizes()

def sweep(name: str, env: str, grid: dict[str, tuple], base: dict[str, Any], **case: Any) -> Case:
    """A case whose arms are gpu_sac at every point of a grid of SACConfig fields over `base` (one
    arm per point, named by its values), each run stopping once it reaches the last threshold: the
    wall-clock sweep behind a preset."""
    points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    arms = tuple(
        Arm("_".join(f"{_SHORT.get(k, k)}{_value(v)}" for k, v in p.items()), ("gpu_sac",), dict(base, **p),
            f"sweep of {', '.join(grid)}")
        for p in points
    )
    return Case(name, env, arms=arms, stop_when_reached=True, **case)


_SHORT = {"num_envs": "n", "grad_updates_per_step": "u", "batch_size": "b", "hidden_sizes": "h"}


def _value(v: Any) -> str:
    return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)  # (64, 64) -> 64x64

PRESETS: dict[str, tuple[Case, ...]] = {
    "cpu": (
        Case("pendulum", "pendulum", (-400.0, -200.0), budget_s=60, total_steps=20_000, eval_every=1_000,
             eval_episodes=10, seeds=5,
             arms=(Arm("same", TRAINERS, {"alpha_lr": 3e-4, "batch_size": 256, **PENDULUM_256},
                       "gpu_sac's pendulum preset before the sweep (batch 256), α lr 3e-4 as Brax's"),
                   Arm("batch256", ("gpu_sac",), {"batch_size": 256, **PENDULUM_256},
                       "gpu_sac's pendulum preset before the sweep"),
                   Arm("batch64", ("gpu_sac",), {"batch_size": 64, **PENDULUM_256},
                       "the sweep's fastest point (pendulum-sweep n4_u4_b64), the preset then"),
                   Arm("h64", ("gpu_sac",), {"batch_size": 64, "hidden_sizes": (64, 64)},
                       "batch64 with 64 x 64 networks, pendulum-width-sweep's fastest point, the preset since"))),
        Case("halfcheetah-cpu", "halfcheetah", (1_000.0, 3_000.0, 5_000.0, 7_200.0), budget_s=900,
             total_steps=100_000, eval_every=10_000, eval_episodes=10,
             arms=(Arm("same", TRAINERS, HALFCHEETAH_CPU_SAME, "issue 9's CPU settings (16 envs, 8 updates/step)"),
                   Arm("preset", ("gpu_sac",), dict(preset="cpu"),
                       "gpu_sac's CPU preset (gpu_sac/envs/brax_envs.py CPU)"),
                   Arm("playground", ("brax_sac",), PLAYGROUND_SAME,
                       "Brax publishes no halfcheetah SAC settings: Playground's DM Control SAC config "
                       "(128 envs, 8 updates/step, batch 512)"))),
        # hopper steps 2x faster than halfcheetah here (raw MJX, 16 envs: 6 596 env steps/s against 3 298;
        # gpu_sac at 1 update per step 1 590 against 1 373: experiments/results/.../hopper-cpu), so a
        # 100k-step run fits as halfcheetah's does (walker2d: 3 121 and 1 418, as halfcheetah).
        Case("hopper-cpu", "hopper", (500.0, 1_000.0, 2_000.0), budget_s=900, total_steps=100_000,
             eval_every=10_000, eval_episodes=10,
             arms=(Arm("same", TRAINERS, HALFCHEETAH_CPU_SAME, "halfcheetah-cpu's same settings (16 envs, "
                       "8 updates/step)"),
                   Arm("preset", ("gpu_sac",), dict(preset="cpu"),
                       "gpu_sac's CPU preset (gpu_sac/envs/brax_envs.py CPU)"),
                   # Brax's SAC starts at α = 1 and aims at an entropy of −dim(A)/2, which the stand-in cannot
                   # change: the same arm with those, to see if they are behind the gap.
                   Arm("brax_alpha", ("gpu_sac",),
                       dict(HALFCHEETAH_CPU_SAME, init_alpha=1.0, target_entropy=-0.5 * HOPPER_ACT_DIM),
                       "the same arm with Brax's α₀ = 1 and target entropy −dim(A)/2"),
                   Arm("published", ("brax_sac",), dict(preset="gpu"),
                       "Brax's published hopper SAC settings (its training notebook: 128 envs, 64 updates per "
                       "vectorised step, batch 512; gpu_sac/envs/brax_envs.py BRAX_HOPPER)"))),
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
             arms=(PLAYGROUND_ARM,), seeds=1),
        # DM Control returns lie in [0, 1 000]; the thresholds are low ones, as humanoid learns slowly, and
        # the record keeps the whole curve whatever they are.
        Case("HumanoidWalk-gpu", "HumanoidWalk", (50.0, 100.0, 200.0), budget_s=150, total_steps=10_000_000,
             eval_every=100_000, eval_episodes=16,
             arms=(PLAYGROUND_ARM,), seeds=1),
    ),
    # Playground's G1 joystick under the FastSAC recipe (the env's GPU preset), against FastTD3's published
    # curve on an A100 (FastTD3's data/playground_result.json, G1 flat: 16.7 at 14.4 min, 27.6 at 28.9 min,
    # 31.4 at 65 min; Brax PPO 24.0 at 67.6 min). Our goals on one H100: 28.2 (90 % of FastTD3's final)
    # within 10 min, 31.4 within 20 min. 20 min on a lent GPU: run it with --deadline-s.
    "locomotion-gpu": (
        Case("G1JoystickFlatTerrain-gpu", "G1JoystickFlatTerrain", (16.7, 24.0, 28.2, 31.4), budget_s=1200,
             total_steps=100_000 * 1024, eval_every=1024 * 1000, eval_episodes=16, seeds=1,
             arms=(Arm("fastsac", ("gpu_sac",), dict(preset="gpu"),
                       "the env's GPU preset: FastSAC's recipe with FastTD3's 1 024 envs (gpu_sac/envs/locomotion.py)"),
                   Arm("playground_ppo", ("brax_ppo",), {},
                       "Brax PPO at Playground's config for the env (locomotion_params.brax_ppo_config: 8 192 "
                       "envs), without domain randomisation, as FastTD3's curve"))),
    ),
    # The large-batch recipe's options (issue 10), each alone and all together (FastSAC's values at
    # pendulum's sizes), against the preset; then the recipe on halfcheetah at the CPU preset's sizes.
    "recipe-cpu": (
        Case("pendulum-recipe", "pendulum", (-400.0, -200.0), budget_s=120, total_steps=20_000, eval_every=1_000,
             eval_episodes=10, seeds=3,
             arms=(Arm("preset", ("gpu_sac",), PENDULUM_256, "gpu_sac's pendulum preset (256 x 256 then)"),
                   Arm("c51", ("gpu_sac",), dict(PENDULUM_C51, **PENDULUM_256),
                       "the preset with C51 critics (101 atoms on [-1000, 0])"),
                   Arm("bf16", ("gpu_sac",), dict(compute_dtype="bfloat16", **PENDULUM_256),
                       "the preset, hidden layers in bf16"),
                   Arm("compact", ("gpu_sac",), dict(replay_layout="compact", **PENDULUM_256),
                       "the preset, each observation stored once"),
                   Arm("fastsac", ("gpu_sac",), dict(RECIPE_AT_PRESET_SIZES, **PENDULUM_C51),
                       "FastSAC's recipe (gpu_sac/envs/recipes.py) at the preset's sizes"))),
        Case("halfcheetah-recipe", "halfcheetah", (1_000.0, 3_000.0, 5_000.0), budget_s=900, total_steps=100_000,
             eval_every=10_000, eval_episodes=10, seeds=1,
             arms=(Arm("preset", ("gpu_sac",), dict(preset="cpu"), "gpu_sac's CPU preset"),
                   Arm("fastsac", ("gpu_sac",), dict(RECIPE_AT_PRESET_SIZES, preset="cpu", v_min=-100.0,
                                                     v_max=500.0),
                       "FastSAC's recipe at the CPU preset's sizes; C51 support [-100, 500] "
                       "(γ 0.97: returns-to-go up to ~12/0.03)"))),
    ),
    # Wall-clock sweeps (gpu_sac alone, one seed per point): the records the presets cite.
    "sweep-cpu": (
        sweep("pendulum-sweep", "pendulum", dict(num_envs=(4, 16, 64), grad_updates_per_step=(1, 4),
                                                 batch_size=(64, 256)),
              base=PENDULUM_256, thresholds=(-400.0, -200.0), budget_s=60, total_steps=20_000, eval_every=500,
              eval_episodes=10, seeds=1),
        # The networks' width at the preset's sizes (hidden_sizes; the seed's 256 x 256 included): on a
        # CPU an update's cost grows with the width squared, and pendulum is a small problem.
        sweep("pendulum-width-sweep", "pendulum", dict(hidden_sizes=((64, 64), (128, 128), (256, 256))),
              base={}, thresholds=(-400.0, -200.0), budget_s=60, total_steps=20_000, eval_every=500,
              eval_episodes=10, seeds=3),
        sweep("halfcheetah-sweep", "halfcheetah", dict(num_envs=(16, 32, 64), grad_updates_per_step=(4, 8)),
              base={k: v for k, v in HALFCHEETAH_CPU_SAME.items() if k != "alpha_lr"}, thresholds=(1_000.0, 3_000.0),
              budget_s=400, total_steps=200_000, eval_every=10_000, eval_episodes=10, seeds=1),
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


class Curve:
    """A run's evaluations against the wall-clock from the moment it is made (the run's start)."""

    def __init__(self, budget_s: float, goal: float = math.inf):
        self.budget_s, self.goal = budget_s, goal
        self.points: list[dict[str, Any]] = []
        self.start = time.perf_counter()

    def add(self, env_steps: int, eval_return: Any) -> None:
        """One evaluation; BudgetReached once the budget is spent or the goal return reached."""
        self.points.append(point(env_steps, time.perf_counter() - self.start, eval_return))
        if done(self.points[-1], self.budget_s, self.goal):
            raise BudgetReached

    def brax_progress(self, step: int, metrics: dict[str, Any]) -> None:
        """Brax's progress_fn, called after each of its evaluations."""
        self.add(int(step), metrics["eval/episode_reward"])


def run_gpu_sac(config, budget_s: float, goal: float = math.inf) -> list[dict[str, Any]]:
    """Train with gpu_sac.train, one point per chunk (each chunk ends with an evaluation)."""
    from gpu_sac import train

    curve = Curve(budget_s, goal)
    with contextlib.suppress(BudgetReached):
        train(config, callback=lambda state, record: curve.add(record["env_steps"], record["eval_return"]))
    return curve.points


def run_brax_sac(config, budget_s: float, goal: float = math.inf) -> list[dict[str, Any]]:
    """Train with Brax's SAC at the config's settings (`brax_sac_compat.brax_kwargs`), evaluating
    eval_episodes envs every steps_per_chunk env steps, one point per evaluation."""
    from experiments import brax_sac_compat
    from gpu_sac import envs

    curve = Curve(budget_s, goal)
    env = envs.make_env(config)  # with the config's env options (backend, dynamics), as gpu_sac's
    with contextlib.suppress(BudgetReached):
        brax_sac_compat.train(
            config, env, num_timesteps=config.total_steps, num_evals=config.num_chunks + 1,
            num_eval_envs=config.eval_episodes, seed=config.seed, eval_env=env, progress_fn=curve.brax_progress,
        )
    return curve.points


def ppo_params(case: Case, arm: Arm) -> dict[str, Any]:
    """Playground's Brax PPO config for the env (its locomotion or DM Control suite config), with the
    case's step budget and evaluations and the arm's overrides."""
    from mujoco_playground.config import dm_control_suite_params, locomotion_params

    from gpu_sac import envs

    module = locomotion_params if envs.spec(case.env).family == "playground_locomotion" else dm_control_suite_params
    params = module.brax_ppo_config(case.env).to_dict()
    params.update(num_timesteps=case.total_steps, num_evals=case.total_steps // case.eval_every + 1,
                  num_eval_envs=case.eval_episodes, **arm.config)
    return params


def run_brax_ppo(case: Case, params: dict[str, Any], seed: int, budget_s: float) -> list[dict[str, Any]]:
    """Train with Brax's PPO at `params` (ppo_params) as Playground's training notebook does (its wrapper
    for training, its network factory with the config's observation keys), one point per evaluation."""
    import functools

    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo
    from mujoco_playground import registry, wrapper

    from experiments import brax_sac_compat
    from gpu_sac import envs
    from gpu_sac.envs import locomotion

    params = dict(params)
    # Locomotion configs name the networks' sizes and observation keys; DM Control's use Brax's defaults.
    factory = functools.partial(ppo_networks.make_ppo_networks, **params.pop("network_factory", {}))
    if envs.spec(case.env).family == "playground_locomotion":
        locomotion.ensure_assets(case.env)
    curve = Curve(budget_s)

    def load():
        return registry.load(case.env, config_overrides={"impl": "jax"})

    # patched_jax: Brax 0.14.2's PPO, like its SAC, calls the removed jax.device_put_replicated.
    with contextlib.suppress(BudgetReached), brax_sac_compat.patched_jax():
        ppo.train(environment=load(), eval_env=load(), wrap_env_fn=wrapper.wrap_for_brax_training,
                  network_factory=factory, seed=seed, progress_fn=curve.brax_progress, **params)
    return curve.points


RUNNERS = {"gpu_sac": run_gpu_sac, "brax_sac": run_brax_sac}


def done(last: dict[str, Any], budget_s: float, goal: float) -> bool:
    """Whether a run stops after this evaluation: its budget is spent or its goal return reached."""
    return last["wall_s"] >= budget_s or (last["eval_return"] is not None and last["eval_return"] >= goal)


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
    return harness.record_path(out, device, "time_to_score", case.name, f"{arm.name}_{trainer}_seed{seed}")


def run_one(case: Case, arm: Arm, trainer: str, seed: int, budget_s: float, device: dict) -> dict[str, Any]:
    process_start_s = harness.seconds_since_process_start()
    before = harness.CpuMonitor.snap()
    if trainer == "brax_ppo":
        params = ppo_params(case, arm)
        # The table reads num_envs, batch_size (PPO's minibatch) and grad_updates_per_step: SGD passes per batch.
        config = dict(params, network_factory=str(params.get("network_factory")),
                      grad_updates_per_step=params["num_updates_per_batch"])
        curve = run_brax_ppo(case, params, seed, budget_s)
    else:
        sac = sac_config(case, arm, seed)
        config = sac.to_dict()
        curve = RUNNERS[trainer](sac, budget_s, max(case.thresholds) if case.stop_when_reached else math.inf)
    foreign, _ = harness.CpuMonitor.shares(before, harness.CpuMonitor.snap())
    return {
        "what": "time to score: deterministic eval return against wall-clock from the start of the run",
        "case": case.name,
        "env": case.env,
        "arm": arm.name,
        "arm_source": arm.source,
        "trainer": trainer,
        "seed": seed,
        "date": harness.utc_now(),
        "device": device,
        "versions": harness.versions(),
        "config": config,
        "budget_s": budget_s,
        # Share of the CPUs other processes used during the run: a timing taken under load shows as such.
        "foreign_cpu_share": foreign,
        # Before the run's clock started: the process's start-up (Python, JAX and the harness's imports).
        # Add it for the time from the command; with --in-process, later runs count earlier ones too.
        "process_start_s": process_start_s,
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
    parser.add_argument("--arms", nargs="*", help="arm names of those cases (default: all)")
    parser.add_argument("--trainers", nargs="*", default=list(ALL_TRAINERS), choices=ALL_TRAINERS)
    parser.add_argument("--seeds", type=int, help="seeds per run (default: the case's)")
    parser.add_argument("--budget-s", type=float, help="wall-clock budget per run (default: the case's)")
    parser.add_argument("--deadline-s", type=float, default=math.inf,
                        help="stop starting runs this many seconds after the start; a run started before it "
                             "gets at most the time left (for a machine lent for minutes)")
    parser.add_argument("--force", action="store_true", help="rerun runs whose record exists")
    parser.add_argument("--in-process", action="store_true",
                        help="run in this process (default: each run in a fresh one, so that none inherits "
                             "another's warm-up: imports, model loading, caches)")
    parser.add_argument("--only-seed", type=int, help=argparse.SUPPRESS)  # a child process's one run
    harness.add_out_argument(parser)
    harness.add_render_arguments(parser, BLOCK)
    args = parser.parse_args(argv)
    if harness.render_if_asked(args, BLOCK, render):
        return 0
    cases = tuple(c for c in PRESETS[args.preset] if not args.cases or c.name in args.cases)
    child_env = dict(os.environ)
    if not args.in_process:  # this process only names the device: it must not take the GPU's memory
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    device = harness.device_info()
    start = time.perf_counter()
    for case, arm, trainer, seed in plan(cases, tuple(args.trainers), args.seeds):
        if (args.arms and arm.name not in args.arms) or args.only_seed not in (None, seed):
            continue
        path = record_path(args.out, device, case, arm, trainer, seed)
        if path.exists() and not args.force:
            print(f"exists, skipped: {path}", flush=True)
            continue
        budget = min(args.budget_s or case.budget_s, args.deadline_s - (time.perf_counter() - start))
        if budget < min(60.0, case.budget_s):
            print(f"deadline: {case.name} {arm.name} {trainer} seed {seed} not started", flush=True)
            continue
        print(f"{case.name} {arm.name} {trainer} seed {seed}: budget {budget:.0f} s", flush=True)
        if args.in_process:
            run_and_write(case, arm, trainer, seed, budget, device, path)
        else:
            run_in_child(args, case, arm, trainer, seed, budget, child_env)
            if not path.exists():
                raise SystemExit(f"the run of {case.name} {arm.name} {trainer} seed {seed} wrote no record")
    return 0


def run_and_write(case: Case, arm: Arm, trainer: str, seed: int, budget: float, device: dict, path: Path) -> None:
    """One run in this process: its record written to path, a line of what it reached printed."""
    record = run_one(case, arm, trainer, seed, budget, device)
    harness.write_record(path, record)
    reach = "  ".join(f"{t}: {'-' if r is None else round(r['wall_s'])} s" for t, r in record["thresholds"].items())
    last = record["curve"][-1] if record["curve"] else {}
    print(f"  -> {last.get('eval_return')} at {last.get('env_steps')} steps, {last.get('wall_s', 0):.0f} s; {reach}",
          flush=True)


def run_in_child(args: argparse.Namespace, case: Case, arm: Arm, trainer: str, seed: int, budget: float,
                 env: dict[str, str]) -> None:
    """The one run in a fresh Python process (`--in-process --only-seed`), which writes its record."""
    argv = ["-m", "experiments.time_to_score", "--in-process", "--force", "--preset", args.preset,
            "--cases", case.name, "--arms", arm.name, "--trainers", trainer, "--only-seed", str(seed),
            "--seeds", str(seed + 1), "--budget-s", str(budget), "--out", str(args.out)]
    done, _ = harness.run_child(argv, env=env, capture=False)  # its lines go to this process's output
    done.check_returncode()


def load(out: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every record under out, grouped by (device folder, case)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path, record in harness.load_records(out, "*/time_to_score/*/*.json"):
        record["path"] = path
        groups.setdefault((path.parts[-4], record["case"]), []).append(record)
    return groups


def time_to(runs: list[dict[str, Any]], threshold: str) -> tuple[float, int]:
    """Median wall_s to the threshold over runs, a run that never reached it counting as infinite
    (so the median is infinite when half or more fell short), and how many reached it."""
    times = [r["thresholds"][threshold]["wall_s"] if r["thresholds"][threshold] else math.inf for r in runs]
    return statistics.median(times), sum(t < math.inf for t in times)


def _cell(runs: list[dict[str, Any]], threshold: str) -> str:
    median, hits = time_to(runs, threshold)
    return f"{'—' if median == math.inf else f'{median:.0f} s'} ({hits}/{len(runs)})"


def _ratio(slow: list[dict[str, Any]], fast: list[dict[str, Any]], threshold: str) -> str:
    """Brax's median time over gpu_sac's; '> x' when Brax's runs stopped at their budget first."""
    fast_t, _ = time_to(fast, threshold)
    slow_t, _ = time_to(slow, threshold)
    if fast_t == math.inf:
        return "—"
    if slow_t == math.inf:
        return f"> {max(r['curve'][-1]['wall_s'] for r in slow) / fast_t:.1f}×"
    return f"{slow_t / fast_t:.1f}×"


def _fastest(arms: dict[tuple[str, str], list[dict[str, Any]]], trainer: str, threshold: str) -> list[dict]:
    """The runs of trainer's arm with the shortest median time to threshold."""
    return min((runs for (_, t), runs in arms.items() if t == trainer), key=lambda runs: time_to(runs, threshold)[0])


def render_case(device: str, case: str, runs: list[dict[str, Any]], out: Path,
                page_dir: Path = harness.ROOT) -> list[str]:
    """The markdown of one case: a row per (arm, trainer), the ratio of the same-config arm, a plot
    (linked relative to page_dir, the folder of the page the block is written into)."""
    thresholds = list(runs[0]["thresholds"])
    first = runs[0]
    lines = [
        f"**{first['env']}** on {first['device']['name']} ({case}): each run stops at "
        f"{first['total_steps']:,} env steps or at the first evaluation after {first['budget_s']:.0f} s; "
        f"{first['eval_episodes']} deterministic episodes every {first['eval_every']:,} env steps (their time "
        "counted). Time from the start of the run, compile included, to the first evaluation at or above "
        "each return (median over seeds; reached/run):",
        "",
        "| arm | trainer | " + " | ".join(f"≥ {float(t):,.0f}" for t in thresholds)
        + " | return at the end (mean ± std) | env steps at the end |",
        "|---" * (len(thresholds) + 4) + "|",
    ]
    arms: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        arms.setdefault((r["arm"], r["trainer"]), []).append(r)
    for (arm, trainer), group in sorted(arms.items()):
        ends = [r["return_at_budget"] for r in group if r["return_at_budget"] is not None]
        mean = sum(ends) / len(ends) if ends else math.nan
        std = (sum((x - mean) ** 2 for x in ends) / len(ends)) ** 0.5 if ends else math.nan
        steps = ", ".join(f"{r['curve'][-1]['env_steps']:,}" for r in group if r["curve"])
        lines.append(f"| {arm} | {trainer} | " + " | ".join(_cell(group, t) for t in thresholds)
                     + f" | {mean:.0f} ± {std:.0f} | {steps} |")
    for arm in sorted({a for a, _ in arms}):
        if (arm, "gpu_sac") in arms and (arm, "brax_sac") in arms:
            ratios = [_ratio(arms[(arm, "brax_sac")], arms[(arm, "gpu_sac")], t) for t in thresholds]
            lines.append(f"| {arm} | Brax ÷ gpu_sac | " + " | ".join(ratios) + " | | |")
    if len({a for a, _ in arms}) > 1 and {t for _, t in arms} == set(TRAINERS):
        best = [_ratio(_fastest(arms, "brax_sac", t), _fastest(arms, "gpu_sac", t), t) for t in thresholds]
        lines.append("| each trainer's fastest arm | Brax ÷ gpu_sac | " + " | ".join(best) + " | | |")
    loaded = [r for r in runs if (r.get("foreign_cpu_share") or 0) > 0.1]
    if loaded:
        lines += ["", "Taken while other processes used over 10 % of the CPUs (slower than on a quiet machine): "
                  + ", ".join(f"{r['arm']} {r['trainer']} seed {r['seed']} ({r['foreign_cpu_share']:.0%})"
                              for r in loaded) + "."]
    arms_text = {}
    for r in runs:
        c = r["config"]
        arms_text.setdefault(r["arm"], f"{r['arm_source']} ({c['num_envs']} envs, {c['grad_updates_per_step']} "
                                       f"updates per vectorised step, batch {c['batch_size']})")
    lines += ["", "Arms: " + "; ".join(f"{a}: {t}" for a, t in sorted(arms_text.items())) + "."]
    png = out / device / "time_to_score" / f"{case}.png"
    plot(runs, png)
    lines += ["", f"![{case}: eval return against wall-clock]({harness.link(png, page_dir)})", ""]
    return lines


def render(out: Path, page_dir: Path = harness.ROOT) -> str:
    """The block of docs/time_to_score.md: every case's table and plot, from the records under out
    (links relative to page_dir)."""
    lines = ["<!-- generated by `python -m experiments.time_to_score --render --readme docs/time_to_score.md` -->", ""]
    groups = load(out)
    if not groups:
        return "\n".join(lines + ["No records yet.", ""])
    for (device, case), runs in sorted(groups.items()):
        lines += render_case(device, case, runs, out, page_dir)
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Eval return against wall-clock seconds (left) and env steps (right), one line per run."""
    plt = harness.pyplot()
    colours = {"gpu_sac": "tab:blue", "brax_sac": "tab:orange", "brax_ppo": "tab:green"}
    styles = ["-", "--", ":", "-."]
    arms = sorted({r["arm"] for r in runs})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    labelled: set[tuple[str, str]] = set()
    for r in runs:
        pts = [p for p in r["curve"] if p["eval_return"] is not None]
        key = (r["arm"], r["trainer"])
        label = None if key in labelled else f"{r['trainer']} ({r['arm']})"
        labelled.add(key)
        style = dict(color=colours.get(r["trainer"]), ls=styles[arms.index(r["arm"]) % len(styles)], lw=1.2)
        axes[0].plot([p["wall_s"] for p in pts], [p["eval_return"] for p in pts], label=label, **style)
        axes[1].plot([p["env_steps"] for p in pts], [p["eval_return"] for p in pts], **style)
    for t in map(float, runs[0]["thresholds"]):
        for ax in axes:
            ax.axhline(t, color="grey", lw=0.6, ls=":")
    axes[0].set(xlabel="wall-clock seconds from the start (compile included)", ylabel="deterministic eval return")
    axes[1].set(xlabel="env steps")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{runs[0]['env']} — {runs[0]['device']['name']}")
    for ax in axes:
        ax.grid(alpha=0.3)
    harness.save(fig, path)


if __name__ == "__main__":
    sys.exit(main())
