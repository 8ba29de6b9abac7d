"""Command lines: train, evaluate and plot (experiments/*.py and the gpu-sac-* console scripts).

Every SACConfig field is a flag (tyro), with the chosen env's preset as its default: `--env` is read
first, the preset resolved, and `--help` shows the values that run. A bad flag or value ends the
process with one line on stderr naming the field, the value and what is allowed, and exit status
2, before anything is compiled; an over-budget replay buffer exits with 3, a diverged run with 4,
a disk that refuses a write (full, read-only) with 5, a stop by Ctrl-C with 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tyro

from gpu_sac.config import PRESETS, SACConfig
from gpu_sac.run.distributed import ClusterOptions
from gpu_sac.run.experiment import RunOptions

EXIT_USAGE = 2
EXIT_MEMORY = 3
EXIT_DIVERGED = 4
EXIT_DISK = 5
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A command-line error, shown as one line."""


def _fail(prog: str, message: str, code: int = EXIT_USAGE) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _arg_name(argument: Any) -> str:
    try:
        return "/".join(argument.lowered.name_or_flags) or str(argument.lowered.metavar)
    except AttributeError:
        return str(argument)


@contextmanager
def _one_line_errors():
    """Turn tyro's boxed parse errors into UsageError (one line). Uses tyro's parse-error hook where
    this tyro has it (tyro._errors, marked experimental: tyro's version is pinned in pyproject)."""
    try:
        from tyro import _errors
    except ImportError:  # another tyro: its own (multi-line) messages
        yield
        return

    def hook(event: Any) -> None:
        if isinstance(event, _errors.InstantiationFailure):
            message = event.message.strip().splitlines()[0] if event.message.strip() else "invalid value"
            if event.argument is not None:
                raise UsageError(f"{_arg_name(event.argument)}: {message}")
            raise UsageError(message)
        if isinstance(event, _errors.UnrecognizedArgs):
            raise UsageError(f"unrecognized arguments: {' '.join(event.tokens)} (see --help)")
        if isinstance(event, _errors.InvalidChoice):
            raise UsageError(f"{_arg_name(event.argument)}={event.value!r} is invalid: must be one of "
                             f"{', '.join(event.choices)}")
        if isinstance(event, _errors.BadValue):
            what = f"{event.offending_value!r} is unexpected" if event.offending_value else "too few values"
            raise UsageError(f"{_arg_name(event.argument)}: {what}")
        if isinstance(event, _errors.MissingArgs):
            names = ", ".join(_arg_name(a.arg) for a in event.missing_arguments)
            raise UsageError(f"missing required argument(s): {names}")

    with _errors.on_parse_error(hook):
        yield


# ----------------------------------------------------------------------------------------- train


class _PreParser(argparse.ArgumentParser):
    """Reads --env, --preset and --resume before tyro (they pick the defaults): its errors are one
    UsageError line naming the flag, like tyro's, not argparse's usage block."""

    def error(self, message: str):
        raise UsageError(f"{message} (see --help)")


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    config: SACConfig
    run: RunOptions
    cluster: ClusterOptions = ClusterOptions()


TRAIN_DESCRIPTION = """Train SAC. Defaults shown are the preset of the env given by --env (pendulum when none is
given) for this machine (`--preset cpu|gpu` shows the other); `--env NAME --help` shows another env's.
Every flag overrides its preset value. Resume a run with `--resume RUN_DIR` (its config is kept;
--total-steps may grow). Ctrl-C stops at the end of the chunk after a checkpoint; Ctrl-C twice quits at
once. Envs: {envs}."""


def parse_train_args(argv: list[str], prog: str = "train.py") -> tuple[Any, Any]:
    """(SACConfig, RunOptions) from the command line; UsageError or ConfigError on bad input."""
    args = parse_train_command(argv, prog)
    return args.config, args.run


def parse_train_command(argv: list[str], prog: str = "train.py") -> TrainArgs:
    """TrainArgs (config, run options, cluster options) from the command line."""
    from gpu_sac import envs
    from gpu_sac.run.experiment import stored_options
    from gpu_sac.store.run_dir import config_from_dict, read_config_record

    pre = _PreParser(add_help=False)
    pre.add_argument("--env")
    pre.add_argument("--preset", choices=PRESETS)
    pre.add_argument("--resume")
    known, _ = pre.parse_known_args(argv)
    if known.resume:
        try:
            record = read_config_record(known.resume)
        except FileNotFoundError as e:
            raise UsageError(f"--resume {known.resume!r}: {e}") from None
        config = config_from_dict(record["config"])
        options = dataclasses.replace(stored_options(record), run_dir=None)
    else:
        config = SACConfig(env=known.env or "pendulum", preset=known.preset or "auto")
        options = RunOptions()
    with _one_line_errors():
        args = tyro.cli(
            TrainArgs, default=TrainArgs(config, options), args=argv, prog=prog,
            description=TRAIN_DESCRIPTION.format(envs=', '.join(envs.names())), config=(tyro.conf.OmitArgPrefixes,),
        )
    return args


def train_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`python experiments/train.py [FLAGS]`; returns the exit status."""
    from gpu_sac.config import ConfigError

    argv = sys.argv[1:] if argv is None else argv
    prog = prog or os.path.basename(sys.argv[0]) or "train.py"
    from gpu_sac.run import distributed

    try:
        args = parse_train_command(argv, prog)
        distributed.check(args.cluster)
    except (UsageError, ConfigError) as e:
        _fail(prog, str(e))
    distributed.initialize(args.cluster)  # before anything asks JAX for its devices
    if not args.cluster.enabled:
        return run_train(args.config, args.run, prog)
    try:
        code = run_train(args.config, args.run, prog)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported below, then this process ends
        traceback.print_exc()
        code = 1
    if code:  # a failed process must not wait in JAX's shutdown barrier: its peers stop at the heartbeat
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def run_train(config: Any, options: Any, prog: str = "train.py") -> int:
    from gpu_sac.config import ConfigError
    from gpu_sac.run.experiment import run_experiment
    from gpu_sac.run.signals import StopFlag
    from gpu_sac.store.checkpoint import CheckpointError
    from gpu_sac.store.run_dir import DiskFault
    from gpu_sac.training.memory import MemoryBudgetError
    from gpu_sac.training.train import TrainingDiverged

    stop = StopFlag()
    stop.install()
    try:
        out = run_experiment(config, options, stop=stop)
    except (ConfigError, CheckpointError) as e:
        _fail(prog, str(e))
    except MemoryBudgetError as e:
        _fail(prog, str(e), EXIT_MEMORY)
    except TrainingDiverged as e:
        _fail(prog, f"training diverged: {e}", EXIT_DIVERGED)
    except DiskFault as e:
        _fail(prog, str(e), EXIT_DISK)
    finally:
        stop.uninstall()
    here = f"python {sys.argv[0]}" if sys.argv[0].endswith(".py") else os.path.basename(sys.argv[0])
    if not here or here in ("pytest", "-c"):
        here = "python experiments/train.py"
    if out.stopped:
        last = out.history[-1]["env_steps"] if out.history else 0
        print(f"stopped at env step {last}; checkpoint {out.checkpoint}\n"
              f"resume with: {here} --resume {out.run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    final = out.history[-1] if out.history else {}
    summary = {"run_dir": str(out.run_dir), "env_steps": final.get("env_steps"),
               "eval_return": final.get("eval_return"), "checkpoint": str(out.checkpoint),
               **{k: str(v) for k, v in out.artifacts.items()}}
    if options.progress != "none":
        print(json.dumps(summary, default=str))
    return 0


# -------------------------------------------------------------------------------------- evaluate


@dataclasses.dataclass(frozen=True)
class EvaluateArgs:
    """Evaluate a run's exported policy (deterministic: tanh of the mean) in a fresh process."""

    run_dir: tyro.conf.Positional[str]
    """Run directory (or its policy/ directory: then --env and --episode-length come from the policy file)."""
    episodes: int = 10
    """Episodes to run (all at once, vectorised)."""
    seed: int = 12345
    """PRNG seed of the episodes' initial states."""
    agent: int = 0
    """Which agent of a multi-seed run."""
    episode_length: int | None = None
    """Steps per episode; None: the run's episode_length."""
    video: str | None = None
    """Also render the first episode to this file (.mp4 or .gif): MuJoCo envs (needs a GL backend: EGL,
    or OSMesa without a GPU) and pendulum."""
    width: int = 320
    """Video width in pixels."""
    height: int = 240
    """Video height in pixels."""
    json: bool = False
    """Print the result as one JSON object."""


def _parse_positional(cls: type, argv: list[str] | None, prog: str | None, default_prog: str) -> tuple[Any, str]:
    """(args, prog): `cls` parsed from argv (default sys.argv[1:]) with its run directory as a positional
    argument; a usage error ends the process with one line naming prog."""
    argv = sys.argv[1:] if argv is None else argv
    prog = prog or os.path.basename(sys.argv[0]) or default_prog
    with _one_line_errors():
        try:
            return tyro.cli(cls, args=argv, prog=prog, config=(tyro.conf.PositionalRequiredArgs,)), prog
        except UsageError as e:
            _fail(prog, str(e))
    raise AssertionError("unreachable: _fail exits")


def evaluate_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`python experiments/evaluate.py RUN_DIR [--episodes K] [--video out.mp4]`."""
    args, prog = _parse_positional(EvaluateArgs, argv, prog, "evaluate.py")
    from gpu_sac.config import MAX_COUNT, MAX_SEED
    from gpu_sac.run.experiment import MAX_VIDEO_SIDE

    for name, high in (("episodes", MAX_COUNT), ("width", MAX_VIDEO_SIDE), ("height", MAX_VIDEO_SIDE),
                       ("episode_length", MAX_COUNT)):
        value = getattr(args, name)
        if value is not None and not 0 < value <= high:
            _fail(prog, f"{name}={value} is invalid: must be a positive integer <= {high}")
    if not 0 <= args.seed <= MAX_SEED:
        _fail(prog, f"seed={args.seed} is invalid: must be an integer in [0, {MAX_SEED}] (a 32-bit PRNG seed)")
    if args.agent < 0:
        _fail(prog, f"agent={args.agent} is invalid: must be an integer >= 0")
    if args.video is not None and Path(args.video).suffix.lower() not in (".mp4", ".gif", ".webm", ".mov"):
        _fail(prog, f"video={args.video!r} is invalid: the file name must end in .mp4, .gif, .webm or .mov")
    try:
        result = evaluate_run(args)
    except (FileNotFoundError, ValueError) as e:
        _fail(prog, str(e))
    if args.json:
        print(json.dumps(result))
    else:
        returns = result["returns"]
        print(f"{result['env']}: {len(returns)} episodes, deterministic policy (agent {args.agent}, "
              f"{result['env_steps']} env steps of training)")
        print(f"return mean {result['mean']:.2f}  std {result['std']:.2f}")
        print("per episode: " + "  ".join(f"{r:.2f}" for r in returns))
        if result.get("video"):
            print(f"video: {result['video']}")
    return 0


def evaluate_run(args: EvaluateArgs) -> dict[str, Any]:
    """Load the exported policy alone, make its env and run it; optionally render a video."""
    import jax

    from gpu_sac import envs
    from gpu_sac.outputs.export import load_policy
    from gpu_sac.outputs.video import VideoUnsupported, evaluate_policy, frame_rate, render, write_video

    act = load_policy(args.run_dir, agent=args.agent)
    meta = act.meta
    # The env as the run made it: its family's options (brax_backend, ...) from the stored config.
    stored = meta.get("config", {})
    options = {name: stored[name] for name in envs.spec(meta["env"]).options if name in stored}
    env = envs.make_env(SACConfig(env=meta["env"], **options))
    length = args.episode_length or meta["episode_length"]
    key = jax.random.PRNGKey(args.seed)
    evaluation = evaluate_policy(env, act, args.episodes, length, key, record=args.video is not None)
    out = {
        "env": meta["env"],
        "env_steps": meta.get("env_steps"),
        "episodes": args.episodes,
        "mean": evaluation.mean,
        "std": evaluation.std,
        "returns": [float(r) for r in evaluation.returns],
        "lengths": [int(n) for n in evaluation.lengths],
    }
    if args.video:
        fps, every = frame_rate(env)
        try:
            frames = render(env, evaluation.trajectory, args.height, args.width, every)
            out["video"] = str(write_video(args.video, frames, fps))
        except VideoUnsupported as e:
            raise ValueError(f"video={args.video!r}: {e}") from e
    return out


# ------------------------------------------------------------------------------------------ plot


@dataclasses.dataclass(frozen=True)
class PlotArgs:
    """Learning curves of one or more runs: eval return against env steps and against wall time.
    Runs with the same config but the seed are drawn as mean ± std over seeds."""

    run_dirs: tyro.conf.Positional[tuple[str, ...]]
    """Run directories."""
    out: str | None = None
    """Output PNG. Default: RUN_DIR/curve.png for one run, curves.png for several."""
    title: str | None = None
    """Figure title."""
    labels: tuple[str, ...] | None = None
    """One label per group of runs (default: env and the fields that differ)."""


def plot_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`python experiments/plot.py RUN_DIR... [--out curves.png]`."""
    from gpu_sac.outputs.plot import plot_runs, summary

    argv = sys.argv[1:] if argv is None else argv
    prog = prog or os.path.basename(sys.argv[0]) or "plot.py"
    with _one_line_errors():
        try:
            args = tyro.cli(PlotArgs, args=argv, prog=prog,
                            config=(tyro.conf.PositionalRequiredArgs,))
        except UsageError as e:
            _fail(prog, str(e))
    if not args.run_dirs:
        _fail(prog, "run_dirs: give at least one run directory")
    out = args.out or (str(Path(args.run_dirs[0]) / "curve.png") if len(args.run_dirs) == 1 else "curves.png")
    try:
        path = plot_runs(list(args.run_dirs), out, title=args.title,
                         labels=list(args.labels) if args.labels else None)
        lines = summary(list(args.run_dirs))
    except (FileNotFoundError, ValueError) as e:
        _fail(prog, str(e))
    for line in lines:
        print(line)
    print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------------------------ export ONNX


@dataclasses.dataclass(frozen=True)
class ExportOnnxArgs:
    """Write a run's exported policy as an ONNX file (deterministic: obs -> action in the env's bounds),
    for onnxruntime and other runtimes without JAX. Needs the onnx extra: pip install 'gpu_sac[onnx]'."""

    run_dir: tyro.conf.Positional[str]
    """Run directory, its policy/ directory, or a policy.msgpack."""
    out: str | None = None
    """Output .onnx file. Default: policy.onnx beside policy.msgpack (policy_agent<i>.onnx for --agent i > 0)."""
    agent: int = 0
    """Which agent of a multi-seed run."""
    check: int = 0
    """Also run the file with onnxruntime on this many random observations and report the largest absolute
    difference from the JAX policy's actions (0: no check)."""


def export_onnx_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`python experiments/export_onnx.py RUN_DIR [--out policy.onnx] [--check 256]`; prints one JSON object."""
    args, prog = _parse_positional(ExportOnnxArgs, argv, prog, "export_onnx.py")
    if args.check < 0:
        _fail(prog, f"check={args.check} is invalid: must be >= 0")
    if args.out is not None and Path(args.out).suffix.lower() != ".onnx":
        _fail(prog, f"out={args.out!r} is invalid: the file name must end in .onnx")
    from gpu_sac.outputs import onnx_export
    from gpu_sac.outputs.export import load_policy

    try:
        act = load_policy(args.run_dir, agent=args.agent)
        path = onnx_export.export_onnx(args.run_dir, args.out, agent=args.agent)
        result: dict[str, Any] = {"onnx": str(path), "agent": args.agent, "env": act.meta["env"]}
        if args.check:
            result["max_abs_difference"] = onnx_export.check(path, act, args.check)
    except (FileNotFoundError, ValueError, ImportError) as e:
        _fail(prog, str(e))
    print(json.dumps(result))
    return 0
