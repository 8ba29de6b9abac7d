"""Side-by-side throughput benchmark: gpu_sac, Brax's SAC and the raw simulator, one process.

    python -m experiments.benchmark                  # CPU preset: halfcheetah, ~18 min on a 2-core EPYC
    python -m experiments.benchmark --preset cpu-seed-capacity   # replay full at 10⁶ rows, ~25 min (CPU)
    python -m experiments.benchmark --preset gpu     # Playground DM Control SAC config, CheetahRun and
                                                     # HumanoidWalk, num_envs 16 → 4096 (needs a GPU)
    python -m experiments.benchmark --preset smoke   # pendulum, seconds (tests)
    python -m experiments.benchmark --preset physics-cpu   # MJX vs MuJoCo Warp, raw CheetahRun and G1 (CPU)
    python -m experiments.benchmark --preset physics-gpu   # the same at 1 024-8 192 envs, then gpu_sac with Warp
    python -m experiments.render_benchmark --readme docs/throughput.md   # that page's tables + PNGs from the records

The GPU preset compiles dozens of programs; to fit a device session's per-command limit, split it
(records accumulate): `--cases CheetahRun-playground --num-envs 16 64 128`, then the rest;
`--list` prints the measurements.

For one env and one training config (num_envs, batch size, updates per step, network sizes, replay
capacity, min replay size, obs normalisation, LayerNorm critics, episode length), it runs, one
after the other on the same device:

1. `gpu_sac`: `gpu_sac.train(config)` itself, evaluation off (eval_episodes=0);
2. `brax_sac`: `brax.training.agents.sac.train` at the same settings (see `brax_sac_compat`);
3. `raw_sim`: the same env's vmapped step under a jitted `lax.scan` with a random policy, no
   learning (see `raw_sim`): the limit that collection cannot beat;
4. `gpu_sac_collect`: gpu_sac with gradient updates turned off, which is how we read "updates
   turned down to almost none": the same `train()` with min_replay_size above the steps taken, so
   that the `lax.cond` never takes the learning branch, and start_steps=0, so that the actor still
   samples every action. Everything else of an iteration is in: policy forward pass, env step with
   episode bookkeeping and auto-reset, replay insert, normaliser update, episode statistics.

Figures, per measurement, after compilation and excluding evaluation:
- env_steps_per_s: env steps (transitions, over all agents) per second, per timed chunk (gpu_sac:
  train()'s own per-chunk `sps`; Brax: its own per-epoch `training/sps`; raw: timed scan calls).
  `repeats` timed chunks after warm-up; we give median, min and max. The warm-up skips the first
  chunk and every chunk that still filled the buffer without learning; Brax's first epoch (which
  compiles) is skipped too. Repeats are chunks of one compiled run, not independent processes.
- updates_per_s: gradient updates per second over all agents = iterations/s · U · S.
- compile_s: compiling the training chunk (gpu_sac: `TrainResult.compile_s`, ahead of time;
  Brax: first epoch's seconds minus the median later epoch, its separately compiled prefill apart
  in `brax_prefill_s`; raw: the scan's `lower().compile()`). gpu_sac's one chunk program also
  holds the prefill and the auto-reset. Compiling the env's reset at init is in none of them.
- peak_device_bytes: `device.memory_stats()["peak_bytes_in_use"]` after the measurement, where the
  device has it (GPU; None on CPU). It is the process's running peak, so measurements run in
  increasing size; `resident_bytes` is per measurement: the bytes of live device arrays between
  chunks (train state, replay buffer, env states) above what was live before it started.
- replay_bytes_per_transition: gpu_sac's packed row; Brax's flattened Transition (both float32).

Contention: this benchmark is often run on a shared machine. Before each timed chunk it waits (up
to --quiet-wait s) until other processes use under --quiet-threshold of the CPUs, and records the
foreign CPU share during every timed chunk (from /proc/stat, minus this process's own CPU time), so
that a figure taken under load can be seen as such.

Every measurement writes one JSON record: experiments/results/<device>/<case>/<trainer>_n<N>_u<U>_s<S>.json
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

from experiments import brax_sac_compat, harness, raw_sim  # noqa: E402

SCHEMA = 1


# ---------------------------------------------------------------------------------------------
# What to run


@dataclasses.dataclass(frozen=True)
class Case:
    """One env and one base config, with its sweeps (each a list of values of one field, the rest at
    the base values: num_envs at updates[0]; updates at updates_at envs; seeds at seeds_at envs)."""

    name: str
    env: str
    config: dict[str, Any]  # SACConfig fields (besides env, num_envs, grad_updates_per_step, num_seeds)
    num_envs: tuple[int, ...]
    updates: tuple[int, ...]
    updates_at: int
    seeds: tuple[int, ...]
    seeds_at: int
    collect_at: tuple[int, ...]  # num_envs at which gpu_sac_collect runs beside the raw sim
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Preset:
    cases: tuple[Case, ...]
    chunk_steps: int  # env steps per timed chunk (per agent), at least min_iterations vectorised steps
    min_iterations: int
    repeats: int


# MuJoCo Playground's published DM Control SAC config (mujoco_playground/config/
# dm_control_suite_params.py, brax_sac_config): 128 envs, batch 512, 8 updates per step, replay
# 4 194 304, min replay 8 192, learning rate 1e-3, LayerNorm critics, normalised observations,
# (256, 256) networks (Brax's default), γ 0.99, τ 0.005, reward scale 1, 1 000-step episodes.
PLAYGROUND_SAC = dict(
    hidden_sizes=(256, 256),
    batch_size=512,
    buffer_size=1048576 * 4,
    min_replay_size=8192,
    start_steps=8192,
    actor_lr=1e-3,
    critic_lr=1e-3,
    alpha_lr=3e-4,  # Brax SAC's α learning rate is fixed at 3e-4
    gamma=0.99,
    tau=0.005,
    reward_scale=1.0,
    critic_layer_norm=True,
    normalize_observations=True,
    episode_length=1000,
)

# The same config scaled down for a 2-core CPU: batch 256, replay 100 000, min replay 1 024,
# 1 or 4 updates per step; networks, LayerNorm critics, normalised observations and the rest as
# published. gpu_sac (and the raw simulator) step the envs in groups of 16 (env_group_size), which
# on a CPU makes MJX ~3x faster per env than one vmapped batch (gpu_sac.training.rollout.batched_step);
# Brax SAC has no such option and steps one batch. It is a no-op at num_envs=16.
CPU_SAC = dict(
    PLAYGROUND_SAC, batch_size=256, buffer_size=100_000, min_replay_size=1024, start_steps=1024, env_group_size=16
)


def full_replay(base: Case, name: str, **config: Any) -> Case:
    """base's config (with `config` overrides) at one point (num_envs=base.updates_at, base.updates[0]
    updates per step) with min replay = capacity: both trainers fill the buffer before they learn
    (untimed), so every timed insert lands in a full buffer (the description says why that matters)."""
    fields = dict(base.config, **config)
    fields["min_replay_size"] = fields["buffer_size"]
    n = base.updates_at
    return Case(
        name=name,
        env=base.env,
        config=fields,
        num_envs=(n,),
        updates=(base.updates[0],),
        updates_at=n,
        seeds=(1,),
        seeds_at=n,
        collect_at=(),
        description=f"The {base.name} config with the replay buffer full during every timed chunk (min replay = "
        f"capacity {fields['buffer_size']:,}): the steady state of a run longer than its buffer, where Brax's "
        "UniformSamplingQueue rolls the whole buffer (jnp.roll) on every insert and gpu_sac writes its rows in place",
    )


HALFCHEETAH_CPU = Case(
    name="halfcheetah-cpu",
    env="halfcheetah",
    config=CPU_SAC,
    num_envs=(16, 64, 256),
    updates=(1, 4),
    updates_at=16,
    seeds=(1, 4),
    seeds_at=16,
    collect_at=(256,),
    description="Brax halfcheetah (MJX); Playground DM Control SAC config scaled down for a CPU; gpu_sac "
    "and the raw simulator step the envs in groups of 16 (env_group_size=16), Brax SAC in one "
    "vmapped batch",
)


def other_env_cpu(env: str) -> Case:
    """One point of HALFCHEETAH_CPU's config on another Brax env (16 envs in groups of 16, 1 update per
    step): whether a time-to-score run of it fits a CPU, from its raw simulator and gpu_sac's rate."""
    return dataclasses.replace(HALFCHEETAH_CPU, name=f"{env}-cpu", env=env, num_envs=(16,), updates=(1,), seeds=(1,),
                               collect_at=(16,), description=f"Brax {env} (MJX) at halfcheetah-cpu's config, 16 envs")


CHEETAH_RUN_GPU = Case(
    name="CheetahRun-playground",
    env="CheetahRun",
    config=PLAYGROUND_SAC,
    num_envs=(16, 64, 128, 256, 1024, 4096),
    updates=(8, 1, 16),
    updates_at=128,
    seeds=(1, 2, 4, 8),
    seeds_at=128,
    collect_at=(16, 64, 128, 256, 1024, 4096),
    description="Playground CheetahRun (MJX), Playground's published DM Control SAC config",
)

def playground_at_128(name: str, env: str, description: str) -> Case:
    """One measurement point of Playground's published DM Control SAC config: 128 envs, 8 updates per
    vectorised step, one agent (gpu_sac, Brax SAC, the raw simulator, and gpu_sac collecting)."""
    return Case(name=name, env=env, config=PLAYGROUND_SAC, num_envs=(128,), updates=(8,), updates_at=128,
                seeds=(1,), seeds_at=128, collect_at=(128,), description=description)


# halfcheetah (Brax, MJX) at the same config on a GPU: where the time-to-score run's time goes.
HALFCHEETAH_GPU = playground_at_128(
    "halfcheetah-gpu", "halfcheetah", "Brax halfcheetah (MJX), Playground's published DM Control SAC config")

def _fastsac_fields() -> dict[str, Any]:
    """FastSAC's recipe (gpu_sac/envs/recipes.py) as a case's base config: every field but those a point sets."""
    from gpu_sac.envs.recipes import FASTSAC

    return {k: v for k, v in FASTSAC.items() if k not in ("num_envs", "grad_updates_per_step", "steps_per_chunk")}


# Playground's G1 joystick under the FastSAC recipe at FastTD3's 1 024 envs and 4 096 (issue 10's goal:
# >= 100k env steps/s end to end while drawing >= 16 samples per collected transition; 8 updates of
# batch 8 192 per 1 024 envs draw 64). gpu_sac_collect against raw_sim is the share of time in simulation.
G1_FASTSAC_GPU = Case(name="G1JoystickFlatTerrain-fastsac", env="G1JoystickFlatTerrain", config=_fastsac_fields(),
                      num_envs=(1024, 4096), updates=(2, 8), updates_at=1024, seeds=(1,), seeds_at=1024,
                      collect_at=(1024, 4096),
                      description="Playground G1JoystickFlatTerrain (MJX), FastSAC's recipe (gpu_sac/envs/recipes.py)")

# MuJoCo Warp against MJX (issue 22): the raw simulator of G1 joystick and CheetahRun at 1 024, 4 096 and 8 192
# envs, each physics (impl in the case's config; gpu_sac/envs/physics.py), then gpu_sac end to end with Warp at
# 4 096 envs under FastSAC's recipe with 8 updates of batch 8 192 per vectorised step (16 samples drawn per
# collected transition), beside Warp's raw simulator there.
# halfcheetah-cpu's config with learning from 256 transitions, so that gpu_sac's timed chunks come sooner (G1
# steps at ~5 env steps/s on MJX here).
PHYSICS_CPU = dict(CPU_SAC, min_replay_size=256, start_steps=256)


def physics_case(env: str, impl: str, num_envs: tuple[int, ...] = (1024, 4096, 8192),
                 base: dict[str, Any] = PLAYGROUND_SAC, updates: int = 8) -> Case:
    """env on physics `impl` at num_envs: the raw simulator there (--trainers raw_sim), and gpu_sac at `base`'s
    config with `updates` per vectorised step (--trainers gpu_sac)."""
    name = {"jax": "MJX", "warp": "MuJoCo Warp"}[impl]
    return Case(name=f"{env}-{impl}", env=env, config=dict(base, playground_impl=impl), num_envs=num_envs,
                updates=(updates,), updates_at=num_envs[0], seeds=(1,), seeds_at=num_envs[0], collect_at=(),
                description=f"Playground {env}, {name}")


G1_FASTSAC_WARP_GPU = dataclasses.replace(
    G1_FASTSAC_GPU, name="G1JoystickFlatTerrain-fastsac-warp", config=dict(_fastsac_fields(), playground_impl="warp"),
    num_envs=(4096,), updates=(8,), updates_at=4096, seeds_at=4096, collect_at=(4096,),
    description="Playground G1JoystickFlatTerrain (MuJoCo Warp), FastSAC's recipe, 4 096 envs, 8 updates")

PRESETS: dict[str, Preset] = {
    "cpu": Preset(
        cases=(HALFCHEETAH_CPU, full_replay(HALFCHEETAH_CPU, "halfcheetah-cpu-full-replay")),
        chunk_steps=2048,
        min_iterations=8,
        repeats=3,
    ),
    # The seed's default replay capacity (10⁶) in the steady state: ~25 min on a 2-core CPU, most of
    # it filling the two buffers; a separate preset so that the default one stays short.
    "cpu-seed-capacity": Preset(
        cases=(full_replay(HALFCHEETAH_CPU, "halfcheetah-cpu-full-replay-1M", buffer_size=1_000_000),),
        chunk_steps=2048,
        min_iterations=8,
        repeats=3,
    ),
    # hopper and walker2d beside halfcheetah: does a CPU time-to-score run of them fit (issue 9)?
    "cpu-other-envs": Preset(cases=(other_env_cpu("hopper"), other_env_cpu("walker2d")), chunk_steps=2048,
                             min_iterations=8, repeats=3),
    # Compact replay (each observation stored once) against the plain ring, side by side, buffer full.
    "cpu-replay-layout": Preset(
        cases=(full_replay(HALFCHEETAH_CPU, "halfcheetah-cpu-replay-plain"),
               full_replay(HALFCHEETAH_CPU, "halfcheetah-cpu-replay-compact", replay_layout="compact")),
        chunk_steps=2048,
        min_iterations=8,
        repeats=3,
    ),
    "gpu": Preset(
        cases=(
            CHEETAH_RUN_GPU,
            playground_at_128("HumanoidWalk-playground", "HumanoidWalk",
                              "Playground HumanoidWalk (MJX), Playground's published DM Control SAC config"),
            full_replay(CHEETAH_RUN_GPU, "CheetahRun-playground-full-replay"),
            HALFCHEETAH_GPU,
        ),
        chunk_steps=0,
        min_iterations=100,
        repeats=5,
    ),
    # MENAGERIE=1 bash ../shared/device/wheels.sh, then on the device python -m gpu_sac.envs.menagerie --from-tgz
    # .whl/menagerie_go1_g1.tgz before this preset.
    "locomotion-gpu": Preset(cases=(G1_FASTSAC_GPU,), chunk_steps=0, min_iterations=50, repeats=3),
    # The Warp cases first (kernels compile once), then MJX's (tens of seconds of XLA compile each).
    "physics-gpu": Preset(cases=(physics_case("G1JoystickFlatTerrain", "warp"), physics_case("CheetahRun", "warp"),
                                 physics_case("G1JoystickFlatTerrain", "jax"), physics_case("CheetahRun", "jax"),
                                 G1_FASTSAC_WARP_GPU),
                          chunk_steps=0, min_iterations=50, repeats=3),
    # The same comparison at CPU sizes (16 and 64 envs, stepped in groups of 16 as the CPU presets do) and
    # halfcheetah-cpu's config for gpu_sac (1 update per vectorised step), for the CPU records.
    "physics-cpu": Preset(cases=tuple(physics_case(env, impl, sizes, PHYSICS_CPU, 1)
                                      for env, sizes in (("CheetahRun", (16, 64)), ("G1JoystickFlatTerrain", (16,)))
                                      for impl in ("warp", "jax")),
                          chunk_steps=128, min_iterations=4, repeats=3),
    "smoke": Preset(
        cases=(
            Case(
                name="pendulum-smoke",
                env="pendulum",
                config=dict(
                    hidden_sizes=(32, 32), batch_size=32, buffer_size=4096, min_replay_size=64, start_steps=64,
                    actor_lr=1e-3, critic_lr=1e-3, alpha_lr=3e-4, critic_layer_norm=True,
                    normalize_observations=True, episode_length=50,
                ),
                num_envs=(4, 8),
                updates=(1, 2),
                updates_at=4,
                seeds=(1, 2),
                seeds_at=4,
                collect_at=(8,),
                description="pure-JAX pendulum, tiny networks: a check of the harness",
            ),
        ),
        chunk_steps=128,
        min_iterations=4,
        repeats=2,
    ),
}


@dataclasses.dataclass(frozen=True)
class Point:
    trainer: str  # gpu_sac | gpu_sac_collect | brax_sac | raw_sim | raw_sim_vmap
    num_envs: int
    updates: int
    seeds: int

    @property
    def key(self) -> str:
        return f"{self.trainer}_n{self.num_envs}_u{self.updates}_s{self.seeds}"


def points(case: Case, trainers: tuple[str, ...]) -> list[Point]:
    """The measurements of a case, without repeats, smallest first (so the running peak of device
    memory is set by the largest run so far)."""
    u0 = case.updates[0]
    out: list[Point] = []
    group = case.config.get("env_group_size")
    for n in case.num_envs:
        out += [Point("raw_sim", n, 0, 1), Point("gpu_sac", n, u0, 1), Point("brax_sac", n, u0, 1)]
        if group is not None and n > group:  # the raw simulator as Brax SAC steps it, for reference
            out.append(Point("raw_sim_vmap", n, 0, 1))
    for u in case.updates:
        out += [Point("gpu_sac", case.updates_at, u, 1), Point("brax_sac", case.updates_at, u, 1)]
    for s in case.seeds:
        out.append(Point("gpu_sac", case.seeds_at, u0, s))
    for n in case.collect_at:
        out += [Point("raw_sim", n, 0, 1), Point("gpu_sac_collect", n, 0, 1)]
    seen: set[Point] = set()
    unique = [p for p in out if p.trainer in trainers and not (p in seen or seen.add(p))]
    return sorted(unique, key=lambda p: (p.num_envs * p.seeds, p.updates, p.trainer))


def chunk_iterations(preset: Preset, num_envs: int) -> int:
    """Vectorised steps per timed chunk at num_envs."""
    return max(preset.min_iterations, -(-preset.chunk_steps // num_envs))


def sac_config(case: Case, point: Point, iterations: int, warmup: int, repeats: int):
    """The SACConfig of a gpu_sac measurement (Brax's settings are derived from it)."""
    from gpu_sac import SACConfig

    fields = dict(case.config)
    n = point.num_envs
    chunk = iterations * n
    if point.trainer == "gpu_sac_collect":
        total = chunk * (1 + repeats)
        # Learning never starts: min_replay_size is above every step of the run.
        fields.update(min_replay_size=total + n, buffer_size=max(fields["buffer_size"], total + n), start_steps=0)
        updates = 1
    else:
        updates = point.updates
        total = chunk * (warmup + repeats)
    return SACConfig(
        env=case.env,
        num_envs=n,
        grad_updates_per_step=updates,
        num_seeds=point.seeds,
        steps_per_chunk=chunk,
        total_steps=total,
        eval_episodes=0,
        **fields,
    )


def warmup_chunks(case: Case, point: Point, iterations: int) -> int:
    """Chunks not timed: the first, and every chunk with an iteration that only filled the buffer."""
    if point.trainer == "gpu_sac_collect":
        return 1
    first_update_iteration = -(-case.config["min_replay_size"] // point.num_envs) - 1
    return max(1, first_update_iteration // iterations + 1)


# ---------------------------------------------------------------------------------------------
# The three trainers


COST = [True]  # --no-cost turns it off: costing compiles the collect step and an update again (a minute for G1)


def run_gpu_sac(case: Case, point: Point, preset: Preset, env: Any, timer: harness.Timer,
                repeats: int) -> dict[str, Any]:
    from gpu_sac import replay, train

    iterations = chunk_iterations(preset, point.num_envs)
    warmup = warmup_chunks(case, point, iterations)
    config = sac_config(case, point, iterations, warmup, repeats)
    baseline = harness.live_bytes()
    chunk_index = [0]

    def callback(state, record):
        timed = chunk_index[0] >= warmup
        chunk_s = config.iterations_per_chunk * config.num_envs * config.num_seeds / record["sps"]
        timer.after(record["sps"], chunk_s, timed, resident=harness.live_bytes() - baseline)
        chunk_index[0] += 1
        timer.before()  # the next chunk's clock starts after the callback returns

    start = time.perf_counter()
    timer.before()
    result = train(config, env, callback=callback)
    wall_s = time.perf_counter() - start
    cost = None
    if COST[0]:
        from experiments.program_cost import program_cost

        cost = program_cost(result.program, jax.eval_shape(lambda: result.state), compiled_chunk=False)
    obs_dim, act_dim = result.program.obs_dim, result.program.act_dim
    updates = [sps / point.num_envs * config.grad_updates_per_step for sps in timer.sps]
    if point.trainer == "gpu_sac_collect":
        updates = [0.0 for _ in timer.sps]
        assert result.history[-1]["updates"] == 0, "the collection-only run took gradient updates"
    return {
        "config": config.to_dict(),
        "chunk": {"iterations": iterations, "env_steps": iterations * point.num_envs, "warmup": warmup},
        "compile_s": result.compile_s,
        "updates_per_s": harness.spread(updates),
        "replay_bytes_per_transition": replay.make_replay(config, obs_dim, act_dim).bytes_per_transition,
        "obs_dim": obs_dim,
        "act_dim": act_dim,
        "wall_s": wall_s,
        "program_cost": cost,
    }


def run_brax(case: Case, point: Point, preset: Preset, env: Any, timer: harness.Timer, repeats: int) -> dict[str, Any]:
    iterations = chunk_iterations(preset, point.num_envs)
    config = sac_config(case, point, iterations, 1, repeats)
    baseline = harness.live_bytes()
    epoch = [0]

    def on_epoch(record: dict[str, Any]) -> None:
        timer.after(record["sps"], record["epoch_s"], epoch[0] >= 1, resident=record["live_bytes"] - baseline)
        epoch[0] += 1
        timer.before()

    timer.before()
    out = brax_sac_compat.run_brax_sac(
        config, env, epochs=1 + repeats, iterations_per_epoch=iterations, seed=config.seed, on_epoch=on_epoch
    )
    obs_dim, act_dim = int(env.observation_size), int(env.action_size)
    return {
        "config": config.to_dict(),
        "brax_kwargs": {k: v for k, v in brax_sac_compat.brax_kwargs(config).items() if k != "network_factory"},
        "brax_network": {
            "hidden_layer_sizes": list(config.hidden_sizes),
            "q_network_layer_norm": config.critic_layer_norm,
        },
        "brax_num_timesteps": out["num_timesteps"],
        "brax_prefill_s": out["prefill_s"],
        "chunk": {"iterations": iterations, "env_steps": iterations * point.num_envs, "warmup": 1},
        "compile_s": out["compile_s"],
        "updates_per_s": harness.spread([s / point.num_envs * config.grad_updates_per_step for s in timer.sps]),
        "replay_bytes_per_transition": brax_sac_compat.brax_bytes_per_transition(obs_dim, act_dim),
        "obs_dim": obs_dim,
        "act_dim": act_dim,
        "wall_s": out["wall_s"],
    }


def run_raw(case: Case, point: Point, preset: Preset, env: Any, timer: harness.Timer, repeats: int) -> dict[str, Any]:
    iterations = chunk_iterations(preset, point.num_envs)
    baseline = harness.live_bytes()
    start = time.perf_counter()
    group_size = case.config.get("env_group_size")
    if point.trainer == "raw_sim_vmap" or (group_size is not None and point.num_envs % group_size):
        group_size = None
    init, run = raw_sim.make_raw_sim(env, point.num_envs, iterations, group_size)
    carry = jax.block_until_ready(init(jax.random.PRNGKey(0)))
    compile_start = time.perf_counter()
    compiled = run.lower(carry).compile()
    compile_s = time.perf_counter() - compile_start
    steps = iterations * point.num_envs
    for i in range(1 + repeats):
        timer.before()
        t = time.perf_counter()
        carry = jax.block_until_ready(compiled(carry))
        seconds = time.perf_counter() - t
        timer.after(steps / seconds, seconds, i >= 1, resident=harness.live_bytes() - baseline)
    return {
        "config": {
            "env": case.env,
            "num_envs": point.num_envs,
            "env_group_size": group_size,
            "episode_length": case.config.get("episode_length"),
            "policy": "uniform random actions in the env's bounds",
            "resets": False,
        },
        "chunk": {"iterations": iterations, "env_steps": steps, "warmup": 1},
        "compile_s": compile_s,
        "updates_per_s": harness.spread([0.0 for _ in timer.sps]),
        "replay_bytes_per_transition": None,
        "obs_dim": int(env.observation_size),
        "act_dim": int(env.action_size),
        "wall_s": time.perf_counter() - start,
    }


RUNNERS = {
    "gpu_sac": run_gpu_sac,
    "gpu_sac_collect": run_gpu_sac,
    "brax_sac": run_brax,
    "raw_sim": run_raw,  # stepped as gpu_sac steps (env_group_size of the case)
    "raw_sim_vmap": run_raw,  # one vmapped batch, as Brax SAC steps
}


def measure(case: Case, point: Point, preset: Preset, env: Any, args: argparse.Namespace, device: dict) -> dict:
    gc.collect()
    timer = harness.Timer(args.quiet_threshold, args.quiet_wait)
    start = time.perf_counter()
    out = RUNNERS[point.trainer](case, point, preset, env, timer, args.repeats)
    foreign = [f for f in timer.foreign if f is not None]
    return {
        "schema": SCHEMA,
        "trainer": point.trainer,
        "env": case.env,
        "case": case.name,
        "case_description": case.description,
        "case_sweeps": {
            "num_envs": list(case.num_envs), "updates": list(case.updates), "updates_at": case.updates_at,
            "seeds": list(case.seeds), "seeds_at": case.seeds_at, "collect_at": list(case.collect_at),
        },
        "preset": args.preset,
        "point": {"num_envs": point.num_envs, "grad_updates_per_step": point.updates, "num_seeds": point.seeds},
        "config": out.pop("config"),
        **{k: out.pop(k) for k in ("brax_kwargs", "brax_network", "brax_num_timesteps", "brax_prefill_s") if k in out},
        "chunk": out.pop("chunk"),
        "device": device,
        "versions": harness.versions(),
        "figures": {
            "env_steps_per_s": harness.spread(timer.sps),
            "updates_per_s": out.pop("updates_per_s"),
            "compile_s": out.pop("compile_s"),
            "peak_device_bytes": harness.peak_device_bytes(),
            "resident_bytes": timer.resident,
            "replay_bytes_per_transition": out.pop("replay_bytes_per_transition"),
            "chunk_s": harness.spread(timer.seconds),
        },
        "dims": {"obs": out.pop("obs_dim"), "act": out.pop("act_dim")},
        # XLA's cost analysis of the compiled program (experiments/program_cost.py): gpu_sac runs only.
        **({"program_cost": out.pop("program_cost")} if out.get("program_cost") else {}),
        "contention": {
            "foreign_cpu_share": timer.foreign,
            "own_cpu_share": timer.own,
            "max_foreign_cpu_share": max(foreign) if foreign else None,
            "quiet_waited_s": timer.waited_s,
            "loadavg_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "wall_s": time.perf_counter() - start,
        "date": harness.utc_now(),
        "command": harness.command_line(f"{Path(sys.executable).name} -m experiments.benchmark", sys.argv[1:]),
    }


def make_case_env(case: Case) -> Any:
    """The case's env: a Playground env on the physics its config names (default: what "auto" picks), MuJoCo
    Warp's contact buffers sized for the case's largest batch."""
    from gpu_sac import envs

    if "playground_impl" not in envs.spec(case.env).options:
        return envs.make(case.env)
    worlds = max(case.num_envs) * max(case.seeds)
    return envs.make(case.env, impl=case.config.get("playground_impl", "auto"), worlds=worlds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--cases", nargs="*", help="case names of the preset to run (default: all)")
    parser.add_argument(
        "--trainers", nargs="*", default=list(RUNNERS), choices=list(RUNNERS), help="trainers to run (default: all)"
    )
    parser.add_argument("--num-envs", nargs="*", type=int, help="only the points with these num_envs")
    parser.add_argument("--updates", nargs="*", type=int,
                        help="only the points with these updates per vectorised step (0: no learning)")
    parser.add_argument("--repeats", type=int, help="timed chunks per measurement (default: the preset's)")
    harness.add_out_argument(parser)
    parser.add_argument("--quiet-threshold", type=float, default=0.10,
                        help="wait before each timed chunk until other processes use less than this share of the CPUs")
    parser.add_argument(
        "--quiet-wait", type=float, default=30.0, help="longest wait for quiet, seconds (0: never wait)"
    )
    parser.add_argument("--list", action="store_true", help="print the measurements and exit")
    parser.add_argument("--no-cost", action="store_true",
                        help="leave XLA's cost analysis (experiments/program_cost.py) out of gpu_sac's records")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    args.repeats = args.repeats or preset.repeats
    COST[0] = not args.no_cost
    cases = [c for c in preset.cases if not args.cases or c.name in args.cases]
    trainers = tuple(args.trainers)
    plan = [(c, p) for c in cases for p in points(c, trainers)
            if (not args.num_envs or p.num_envs in args.num_envs)
            and (args.updates is None or p.updates in args.updates)]
    if args.list:
        for case, point in plan:
            print(case.name, point.key, f"{chunk_iterations(preset, point.num_envs)} iterations/chunk")
        return 0

    device = harness.device_info()
    print(f"device: {device['name']}; {len(plan)} measurements; results under {args.out / harness.device_slug(device)}",
          flush=True)
    start = time.perf_counter()
    made: dict[str, Any] = {}
    for case, point in plan:
        if case.name not in made:
            made[case.name] = make_case_env(case)
        record = measure(case, point, preset, made[case.name], args, device)
        harness.write_record(harness.record_path(args.out, device, case.name, point.key), record)
        f = record["figures"]
        sps = f["env_steps_per_s"]
        print(
            f"{case.name:>24} {point.key:<28} {sps['median']:>11.1f} env steps/s "
            f"[{sps['min']:.1f}, {sps['max']:.1f}]  {f['updates_per_s']['median']:>9.1f} updates/s  "
            f"compile {f['compile_s']:.1f} s  foreign CPU {_fmt_share(record['contention']['max_foreign_cpu_share'])}  "
            f"({record['wall_s']:.0f} s)",
            flush=True,
        )
    print(f"benchmark wall time: {time.perf_counter() - start:.0f} s", flush=True)
    return 0


def _fmt_share(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


if __name__ == "__main__":
    sys.exit(main())
