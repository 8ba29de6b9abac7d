"""Digests of tiny training runs, one per option family: the safety net of a behaviour-preserving refactor.

    python -m experiments.digests --write experiments/results/digests.json    # record (3-5 min on 2 cores)
    python -m experiments.digests --check experiments/results/digests.json    # recompute and compare
    python -m experiments.digests --check experiments/results/digests.json --cases plain her
    python -m experiments.digests --determinism                              # each case twice, fresh processes

Each case in `CASES` is a tiny config (pendulum, or point_reach for HER) trained through the public
API alone (`gpu_sac.train`, or `run_experiment` then `resume_experiment` for the resume case), each in
a fresh Python process on the CPU (JAX_PLATFORMS=cpu, XLA_FLAGS set here: two forced host devices for
the mesh cases, nothing else; no persistent compilation cache). Two SHA-256 digests are kept per case:

- state: every leaf of the final TrainState (parameters, optimiser states, replay buffer, envs, n-step
  window, keys, counters), in tree-flatten order, each as its keypath, dtype, shape and raw bytes
  (a mesh run's arrays gathered to their global layout). state_values is the same without the
  keypaths, so that a renamed or moved field can be told from a changed value;
- history: the per-chunk records with the fields that read the clock removed (`CLOCK_FIELDS`: sps and
  wall_s, the only ones in gpu_sac/training/metrics.py), json-dumped with sort_keys (NaN kept as NaN).

The record (experiments/results/digests.json) also holds the per-part digests of the state, the
clock-free records themselves, the jax/jaxlib versions, the platform, the CPU and the commit it was
made at. --check recomputes every case (or those named by --cases), prints one line per case (match,
or DIFFERS: state / history, with the parts or the first record field that differ) and exits 1 on any
difference (2 when a case cannot run or is unknown).

How the refactor ("The house redrawn": gpu_sac/*.py into layered subpackages, config reaching makers,
not leaves) uses it: the record was written at the refactor's base commit (main at b006710, the commit
named in the record; gpu_sac/ and envs/ unmodified; envs/ is gpu_sac/envs/ since) and committed with
this module. After each step of the move, run --check on the same machine and the same jax/jaxlib; every
case must say match. This module reaches the trainer only through `gpu_sac`'s public names (SACConfig,
train, RunOptions, run_experiment, resume_experiment), which the refactor keeps, so it needs no edit
when the modules move. A state that differs only in keypaths (state_values matches) means a TrainState
field was renamed or moved: the numbers are the same, but checkpoints written before the refactor may no
longer restore, so say so or rename it back. Digests are exact for one platform and one jax/jaxlib
build: another CPU (its vector width changes XLA's reductions), a GPU or another jax version gives other
bits, and --check warns when the record's environment differs from this one; write a fresh record at the
base commit there instead of comparing across machines.

Determinism (--determinism, 2026-12-06, 2-core AMD EPYC, jax 0.10.2, under other jobs' load): every case
gave identical state and history digests in two fresh processes, and again in the two --write runs that
made the record (plain: 4 processes in all); none is flagged or left out. Each case takes 11-25 s there
(a process: start, imports, compile, 2 chunks, 4 for resume; `seconds` in the record), all 13 about 3-5
min.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments import harness

FORMAT = 1
CLOCK_FIELDS = ("sps", "wall_s")  # history fields that read the clock (gpu_sac/training/metrics.py)
FORCE_DEVICES = "--xla_force_host_platform_device_count={}"
CASE_TIMEOUT_S = 600
PART_DEPTH = 2  # state digests are also kept per part: agent.actor_params, agent.critic_opt_state, buffer.data, ...

# tests/conftest.py's tiny_config: pendulum, 2 chunks of 128 env steps, networks (32, 32).
TINY = dict(env="pendulum", total_steps=256, num_envs=4, steps_per_chunk=128, hidden_sizes=(32, 32), batch_size=32,
            buffer_size=1024, min_replay_size=64, start_steps=64, eval_episodes=2, episode_length=50)


@dataclasses.dataclass(frozen=True)
class Case:
    """One tiny run. fields: SACConfig overrides of TINY. devices: forced host devices (XLA_FLAGS) of its
    process; 1 leaves XLA's default. resume_at: total_steps of a first run_experiment, which
    resume_experiment then continues to fields' total_steps."""

    about: str
    fields: dict[str, Any]
    devices: int = 1
    resume_at: int | None = None

    def config_fields(self) -> dict[str, Any]:
        return {**TINY, **self.fields}


CASES: dict[str, Case] = {
    "plain": Case("the seed's SAC, uniform replay", {}),
    "seeds": Case("two agents in one program (vmap over seeds)", dict(num_seeds=2)),
    "layer_norm": Case("LayerNorm critics", dict(critic_layer_norm=True)),
    "nstep": Case("3-step returns (n-step window in the state)", dict(n_step=3)),
    "per": Case("prioritised replay (sum-tree)", dict(prioritized_replay=True)),
    "compact": Case("compact replay layout", dict(replay_layout="compact")),
    "her": Case("HER (future) on point_reach", dict(env="point_reach", her="future", steps_per_chunk=200,
                                                    total_steps=400, buffer_size=1000)),
    "c51": Case("C51 distributional critics", dict(critic_type="c51", num_atoms=51, v_min=-20.0, v_max=20.0)),
    "bf16": Case("bfloat16 hidden layers (compute_dtype)", dict(compute_dtype="bfloat16")),
    "tricks": Case("observation normalisation, gradient clipping, delayed actor",
                   dict(normalize_observations=True, max_grad_norm=1.0, policy_delay=2)),
    "mesh": Case("data parallel over 2 forced CPU devices (shard_over envs)", dict(num_devices=2), devices=2),
    "mesh_seeds": Case("2 agents over 2 forced CPU devices (shard_over seeds)",
                       dict(num_devices=2, num_seeds=2, shard_over="seeds"), devices=2),
    "resume": Case("run_experiment to 256 steps, resume_experiment to 512 (n-step, PER, obs normalisation "
                   "in the checkpoint)", dict(total_steps=512, n_step=3, prioritized_replay=True,
                                              normalize_observations=True), resume_at=256),
}


# ------------------------------------------------------------------------------------------ digests


def _leaf_bytes(x: Any) -> tuple[str, tuple[int, ...], bytes]:
    import jax
    import numpy as np

    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    a = np.asarray(x)  # a sharded array: its global value
    return str(a.dtype), tuple(a.shape), np.ascontiguousarray(a).tobytes()


def state_digests(state: Any) -> dict[str, Any]:
    """{"state": sha256 of (keypath, dtype, shape, bytes) of every leaf in tree-flatten order,
    "state_values": the same without keypaths, "parts": {part (its first two keys): digest of its leaves},
    "leaves": the number of leaves}."""
    import jax

    whole, values, parts = hashlib.sha256(), hashlib.sha256(), {}
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    for path, leaf in leaves:
        dtype, shape, raw = _leaf_bytes(leaf)
        key = jax.tree_util.keystr(path)
        head = f"{dtype}{list(shape)}:{len(raw)}:".encode()
        whole.update(f"{key}|".encode() + head + raw)
        values.update(head + raw)
        parts.setdefault(_part(path), hashlib.sha256()).update(f"{key}|".encode() + head + raw)
    return {"state": whole.hexdigest(), "state_values": values.hexdigest(),
            "parts": {k: h.hexdigest() for k, h in parts.items()}, "leaves": len(leaves)}


def _part(path: tuple) -> str:
    """A leaf's part of the state: its first two keys (agent.actor_params, buffer.data, key, ...)."""
    names = [str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path[:PART_DEPTH]]
    return ".".join(names) or "<root>"


def clock_free(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history records without the fields that read the clock."""
    return [{k: v for k, v in r.items() if k not in CLOCK_FIELDS} for r in history]


def history_json(history: list[dict[str, Any]]) -> str:
    return json.dumps(clock_free(history), sort_keys=True)


def history_digest(history: list[dict[str, Any]]) -> str:
    return hashlib.sha256(history_json(history).encode()).hexdigest()


# ------------------------------------------------------------------------------- one case, in-process


def run_case(name: str) -> dict[str, Any]:
    """Train case `name` in this process; its digests, records and environment."""
    import jax
    import jaxlib

    from gpu_sac import RunOptions, SACConfig, resume_experiment, run_experiment, train

    case = CASES[name]
    fields = case.config_fields()
    if jax.device_count() < case.devices:
        raise RuntimeError(f"case {name} needs {case.devices} devices, this process has {jax.device_count()} "
                           f"(run it through the CLI, which sets XLA_FLAGS)")
    t0 = time.perf_counter()
    if case.resume_at is None:
        result = train(SACConfig(**fields))
    else:
        with tempfile.TemporaryDirectory(prefix="gpu_sac_digest_") as tmp:
            options = RunOptions(run_dir=str(Path(tmp) / "run"), progress="none", video=False, tensorboard=False,
                                 compile_cache=None)
            run_experiment(SACConfig(**{**fields, "total_steps": case.resume_at}), options)
            result = resume_experiment(Path(tmp) / "run", total_steps=fields["total_steps"]).result
    train_s = time.perf_counter() - t0
    device = jax.devices()[0]
    v = harness.versions()
    return {
        **state_digests(result.state),
        "history": history_digest(result.history),
        "records": json.loads(history_json(result.history)),
        "train_s": round(train_s, 2),
        "env": {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "platform": device.platform,
                "device_kind": device.device_kind, "cpu": harness.cpu_model(), "machine": platform.machine(),
                "python": v["python"], "numpy": v["numpy"], "flax": v["flax"], "optax": v["optax"]},
    }


# ------------------------------------------------------------------------- one case, fresh process


def case_env(case: Case) -> dict[str, str]:
    """The case process's environment: this tree first on the path, the CPU, XLA_FLAGS only for the
    forced devices, and no persistent compilation cache."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(harness.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["JAX_PLATFORMS"] = "cpu"
    env["XLA_FLAGS"] = FORCE_DEVICES.format(case.devices) if case.devices > 1 else ""
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return env


def run_in_process(name: str) -> dict[str, Any]:
    """Case `name` in a fresh Python process (its own JAX, XLA_FLAGS and devices); its digests and the
    process's wall time (`seconds`: start, imports, compile and training)."""
    t0 = time.perf_counter()
    result = harness.call_in_child("experiments.digests", "run_case", name, env=case_env(CASES[name]),
                                   timeout=CASE_TIMEOUT_S)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


# ------------------------------------------------------------------------------------------ records


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=harness.ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "gpu_sac"],
                               cwd=harness.ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (gpu_sac/ modified)" if dirty else "")


def make_record(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    env = next(iter(results.values()))["env"] if results else {}
    cases = {}
    for name, r in results.items():
        case = CASES[name]
        cases[name] = {"about": case.about, "config": case.config_fields(), "devices": case.devices,
                       "resume_at": case.resume_at, "state": r["state"], "state_values": r["state_values"],
                       "history": r["history"], "parts": r["parts"], "leaves": r["leaves"], "records": r["records"],
                       "seconds": r["seconds"], "train_s": r["train_s"]}
    return {"format": FORMAT, "commit": _git_commit(), "date": time.strftime("%Y-%m-%d"),
            "clock_fields_removed": list(CLOCK_FIELDS), "env": env, "cases": cases}


def compare(name: str, recorded: dict[str, Any], fresh: dict[str, Any]) -> tuple[bool, str]:
    """(same, line): whether case `name`'s fresh digests equal the recorded ones, and one line saying so."""
    differs = []
    if fresh["state"] != recorded["state"]:
        parts = sorted(k for k in {*recorded["parts"], *fresh["parts"]}
                       if recorded["parts"].get(k) != fresh["parts"].get(k))
        why = "values identical, keypaths differ" if fresh["state_values"] == recorded["state_values"] \
            else f"parts {', '.join(parts) or '(none: leaf order)'}"
        if fresh["leaves"] != recorded["leaves"]:
            why += f"; {fresh['leaves']} leaves, {recorded['leaves']} recorded"
        differs.append(f"state ({why})")
    if fresh["history"] != recorded["history"]:
        differs.append(f"history ({_first_difference(recorded.get('records', []), fresh['records'])})")
    if not differs:
        return True, f"{name}: match"
    return False, f"{name}: DIFFERS: " + "; ".join(differs)


def _first_difference(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> str:
    if len(old) != len(new):
        return f"{len(new)} records, {len(old)} recorded"
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        for key in sorted({*a, *b}):
            if json.dumps(a.get(key)) != json.dumps(b.get(key)):
                return f"chunk {i} {key}: {_short(b.get(key))}, {_short(a.get(key))} recorded"
    return "same values, other encoding"


def _short(v: Any) -> str:
    if isinstance(v, float) and not math.isnan(v):
        return repr(v)
    return json.dumps(v)[:60]


def environment_notes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = ("jax", "jaxlib", "platform", "cpu", "machine", "numpy", "flax", "optax")
    return [f"{k}: {current.get(k)} here, {recorded.get(k)} in the record" for k in keys
            if recorded.get(k) != current.get(k)]


# ------------------------------------------------------------------------------------------ the CLI


def _run_all(names: list[str], log) -> dict[str, dict[str, Any]]:
    results = {}
    for name in names:
        results[name] = run_in_process(name)
        log(f"  ran {name} in {results[name]['seconds']:.1f} s")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="RECORD", help="run the cases and write their digests to RECORD")
    mode.add_argument("--check", metavar="RECORD",
                      help="rerun the cases and compare with RECORD (exit 1 if any differ)")
    mode.add_argument("--determinism", action="store_true",
                      help="run each case twice, each in a fresh process, and say which give other digests")
    mode.add_argument("--list", action="store_true", help="list the cases")
    parser.add_argument("--cases", nargs="+", metavar="NAME", help=f"a subset of: {' '.join(CASES)}")
    args = parser.parse_args(argv)

    if args.list:
        for name, case in CASES.items():
            print(f"{name:12s} {case.about}")
        return 0
    unknown = [n for n in args.cases or [] if n not in CASES]
    if unknown:
        print(f"unknown case(s): {' '.join(unknown)}; the cases are: {' '.join(CASES)}", file=sys.stderr)
        return 2
    names = list(args.cases or CASES)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        if args.write:
            record = make_record(_run_all(names, log))
            path = harness.write_record(Path(args.write), record)
            for name, case in record["cases"].items():
                print(f"{name}: state {case['state'][:16]}  history {case['history'][:16]}  ({case['seconds']:.1f} s)")
            print(f"wrote {path}")
            return 0
        if args.determinism:
            stable = True
            for name in names:
                a, b = run_in_process(name), run_in_process(name)
                same, line = compare(name, a, b)
                stable &= same
                print(line.replace(": match", ": deterministic").replace("DIFFERS:", "NOT DETERMINISTIC:")
                      + f"  ({a['seconds']:.1f} s, {b['seconds']:.1f} s)", flush=True)
            return 0 if stable else 1
        record = json.loads(Path(args.check).read_text())
        missing = [n for n in names if n not in record["cases"]]
        if missing:
            print(f"{args.check} has no case(s) {' '.join(missing)}", file=sys.stderr)
            return 2
        ok, noted = True, False
        for name in names:
            fresh = run_in_process(name)
            if not noted:
                for note in environment_notes(record.get("env", {}), fresh["env"]):
                    print(f"warning: {note}: digests are exact for one build and machine only", flush=True)
                noted = True
            same, line = compare(name, record["cases"][name], fresh)
            ok &= same
            print(line, flush=True)
        return 0 if ok else 1
    except harness.ChildFailed as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
