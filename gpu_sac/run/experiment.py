"""One experiment end to end, for the command line and for notebooks alike: a run directory,
progress, logs, checkpoints, resume, the exported policy, the learning curve and a video.

    from gpu_sac import SACConfig, RunOptions, run_experiment, resume_experiment
    result = run_experiment(SACConfig(env="pendulum"), RunOptions(run_dir="runs/pendulum"))
    result = resume_experiment("runs/pendulum", total_steps=40_000)   # continue, exactly

A run is one Program (`train.build`), trained by `train.train` whose host loop calls, after each
chunk, the run's `(state, record)` callbacks in order: the metrics file, TensorBoard
(`gpu_sac.outputs.tensorboard_log`), the progress display (`gpu_sac.outputs.progress`), W&B where asked for
(`gpu_sac.outputs.wandb_log`), then the checkpoint and exported policy (`_Saver`), which also ends the run
early when a StopFlag (`gpu_sac.run.signals`) is set. At the end: the curve, the ONNX policy (where the
onnx extra is installed) and the video.
`python experiments/train.py` is a thin command line over these two functions (`gpu_sac.cli`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np

from gpu_sac.config import ConfigError, SACConfig
from gpu_sac.run import compile_cache, distributed
from gpu_sac.run.signals import StopFlag
from gpu_sac.store import run_dir as rd
from gpu_sac.store.transfer import PARTS
from gpu_sac.training import memory, mesh

__all__ = ["ExperimentResult", "RunOptions", "StopFlag", "StopRequested", "resume_experiment", "run_experiment"]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a run is kept and shown (the algorithm's settings are SACConfig's)."""

    run_dir: str | None = None
    """Run directory (created). Default: runs/<env>_s<seed>_<date-time>."""
    resume: str | None = None
    """Continue the run in this directory from its newest checkpoint (same config; --total-steps may grow)."""
    checkpoint_every: int | None = None
    """Save a full checkpoint every this many env steps (at chunk ends); None: after every chunk."""
    keep_checkpoints: int = 3
    """Keep the newest this many checkpoints."""
    checkpoint_buffer: bool = True
    """Store the replay buffer in checkpoints. Without it checkpoints are small, but a resumed run starts
    from an empty buffer: it refills min_replay_size transitions before learning again and loses the
    older data, so it no longer matches the uninterrupted run."""
    progress: Literal["bar", "lines", "none"] = "bar"
    """Progress display: a live bar (tqdm), one line per chunk (for logs), or nothing."""
    quiet: bool = False
    """Same as --progress lines: one plain line per chunk, for log files."""
    tensorboard: bool = True
    """Write TensorBoard event files to RUN_DIR/tb."""
    video: bool = True
    """At the end, render one deterministic episode to RUN_DIR/video.mp4 (MuJoCo envs and pendulum)."""
    video_size: tuple[int, int] = (240, 320)
    """Video frame height and width in pixels."""
    init_from: str | None = None
    """Start a new run from this run directory's newest checkpoint: the parts named by init_parts
    (optimiser states fresh); see gpu_sac.store.transfer. Ignored on resume."""
    init_parts: tuple[str, ...] = tuple(PARTS)
    """The parts init_from takes: actor, critic, target_critic, log_alpha, obs_stats."""
    init_buffer: bool = False
    """With init_from: also carry its replay buffer over (same buffer_size, num_envs, num_seeds)."""
    compile_cache: str | None = compile_cache.DEFAULT_DIR
    """Keep compiled programs in this folder, so that a rerun of the same config and env skips most of
    its compilation (JAX's persistent cache; see gpu_sac.run.compile_cache). None or "": off."""
    wandb_project: str | None = None
    """Track the run in this Weights & Biases project (config, metrics, curve, video; gpu_sac.outputs.wandb_log).
    None or "": off. Needs the wandb extra: pip install 'gpu_sac[wandb]'."""
    wandb_entity: str | None = None
    """W&B entity (user or team); None: wandb's default."""
    wandb_name: str | None = None
    """W&B run name; None: the run directory's name."""
    wandb_mode: Literal["online", "offline", "disabled"] | None = None
    """W&B mode; None: $WANDB_MODE, else online. Offline runs are kept under $WANDB_DIR (else RUN_DIR/wandb)
    for `wandb sync`."""


MAX_VIDEO_SIDE = 8192  # pixels: a frame larger than this is a typo, not a video


class StopRequested(Exception):
    """Raised inside train()'s callback to end a run early, after the chunk was checkpointed."""


@dataclasses.dataclass
class ExperimentResult:
    """run_dir; history: every chunk's record; result: train()'s TrainResult (None if stopped early);
    stopped: ended by a stop request (Ctrl-C) after checkpointing; checkpoint: the newest one."""

    run_dir: Path
    history: list[dict[str, Any]]
    result: Any = None
    stopped: bool = False
    checkpoint: Path | None = None
    artifacts: dict[str, Path] = dataclasses.field(default_factory=dict)


def resolved_options(options: RunOptions) -> RunOptions:
    """`options` checked (ConfigError), with --quiet turned into progress="lines"."""
    if options.checkpoint_every is not None and options.checkpoint_every <= 0:
        raise ConfigError(f"checkpoint_every={options.checkpoint_every} is invalid: must be a positive integer or None")
    if options.keep_checkpoints < 1:
        raise ConfigError(f"keep_checkpoints={options.keep_checkpoints} is invalid: must be >= 1")
    size = options.video_size
    if not (isinstance(size, tuple | list) and len(size) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_VIDEO_SIDE for n in size)):
        raise ConfigError(f"video_size={size!r} is invalid: must be two positive integers (height width), "
                          f"each <= {MAX_VIDEO_SIDE}")
    if not options.init_parts or any(p not in PARTS for p in options.init_parts):
        raise ConfigError(f"init_parts={tuple(options.init_parts)!r} is invalid: must name one or more of "
                          f"{', '.join(PARTS)}")
    if options.init_from is None and options.resume is None:  # only init_from reads them
        if tuple(options.init_parts) != tuple(PARTS):
            raise ConfigError("init_parts is given without init_from: name the run to take them from (--init-from)")
        if options.init_buffer:
            raise ConfigError("init_buffer is given without init_from: name the run to take it from (--init-from)")
    if options.wandb_project:
        from gpu_sac.outputs import wandb_log

        if options.wandb_mode not in (None, *wandb_log.MODES):
            raise ConfigError(f"wandb_mode={options.wandb_mode!r} is invalid: must be one of "
                              f"{', '.join(wandb_log.MODES)}")
        if not wandb_log.available():
            raise ConfigError(f"wandb_project={options.wandb_project!r}: {wandb_log.MISSING}")
    if options.quiet and options.progress == "bar":
        options = dataclasses.replace(options, progress="lines")
    if options.init_from is not None and options.resume is None:
        from gpu_sac.store import checkpoint as ckpt
        from gpu_sac.store.transfer import TransferError

        _init_from(options)  # checks the parts
        if not ckpt.steps(Path(options.init_from) / rd.CHECKPOINT_DIR):
            raise TransferError(f"init_from={options.init_from!r} is invalid: it holds no complete checkpoint")
    return options


def run_experiment(
    config: SACConfig,
    options: RunOptions = RunOptions(),  # noqa: B008 - frozen
    *,
    env: Any = None,
    stop: StopFlag | None = None,
) -> ExperimentResult:
    """Train `config` in a run directory (new, or `options.resume` to continue one).

    env: the env object (default: `envs.make_env(config)`). Raises ConfigError (including
    ConfigMismatch on resume, and a run_dir that cannot be a run directory) and MemoryBudgetError
    before anything is allocated or written, TrainingDiverged (the newest checkpoint is the last good
    state), run_dir.DiskFault where the disk refuses a write (full, read-only; it names the last good
    checkpoint). A StopFlag that is set ends the run after the current chunk, with a checkpoint
    (result.stopped).

    In a multi-process run (`gpu_sac.run.distributed`) every process calls this with the same config and
    run directory; process 0 alone writes the directory's files and shows progress.
    """
    from gpu_sac.training.train import build

    options = resolved_options(options)
    compile_cache.enable(options.compile_cache)
    main = distributed.is_main_process()
    if not main:
        options = dataclasses.replace(options, progress="none")
    path = _run_path(config, options, check_new=main)
    program = build(config, env)  # the one Program of this run: train() gets it too
    need = memory.check_fits(config, program.obs_dim, program.act_dim, nets=program.nets, env=program.env)
    say = _say(options.progress)
    _make_dir(path)
    state, history, restored_from = None, [], None
    if options.resume is not None:
        state, history, restored_from = _restore(path, program, say, write=main)
    if main:
        option_dict = {k: v for k, v in dataclasses.asdict(options).items() if k != "resume"}
        rd.write_config(path, config, {**option_dict, "run_dir": str(path)})
    _notes(config, options, need, say)
    if getattr(program.env, "physics", None):  # Playground envs: which physics runs, and why (gpu_sac/envs/physics.py)
        say(f"physics: {program.env.physics}")
    return _tracked(path, config, options, history, lambda tracker: _train(
        path, program, options, state, history, restored_from, stop, say, tracker))


def _run_path(config: SACConfig, options: RunOptions, check_new: bool = True) -> Path:
    """The run directory, checked but not yet created: ConfigError for a directory that holds a run
    already (unless resuming it; not checked where check_new is False: the other processes of a run
    whose process 0 may have written it already), a file, or a resume of a run without a checkpoint."""
    from gpu_sac.store import checkpoint as ckpt

    if options.resume is None:
        if distributed.process_count() > 1 and not options.run_dir:
            raise ConfigError("a multi-process run needs --run-dir: one directory that every process reaches "
                              "(each writes its share of the checkpoints there)")
        path = Path(options.run_dir) if options.run_dir else rd.default_run_dir(config.env, config.seed)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"run_dir={str(path)!r} is invalid: it is a file, not a directory")
        if check_new and (path / rd.CONFIG_FILE).exists():
            raise ConfigError(f"run_dir={str(path)!r} is invalid: it holds a run already "
                              f"(continue it with --resume {path}, or choose another directory)")
        return path
    path = Path(options.resume)
    if options.run_dir is not None and Path(options.run_dir).resolve() != path.resolve():
        raise ConfigError(f"run_dir={options.run_dir!r} is invalid with resume={options.resume!r}: "
                          "a resumed run stays in its directory")
    saved = rd.read_config_record(path)
    ckpt.check_config(saved["config"], config, where=f"{path / rd.CONFIG_FILE}")
    if not ckpt.steps(path / rd.CHECKPOINT_DIR):
        raise ckpt.CheckpointError(f"{path} has no complete checkpoint to resume from")
    return path


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file on the way, no permission, ...
        if rd.disk_errno(e) is not None:
            raise rd.disk_fault(e, "the run directory", path) from None
        raise ConfigError(f"run_dir={str(path)!r} is invalid: cannot create it ({e.strerror or e})") from e


def _say(progress_mode: str) -> Callable[[str], None]:
    """print to stderr, unless the run shows nothing."""

    def say(text: str) -> None:
        if progress_mode != "none":
            print(text, file=sys.stderr, flush=True)

    return say


def _restore(path: Path, program: Any, say: Callable[[str], None],
             write: bool = True) -> tuple[Any, list[dict[str, Any]], Path]:
    """(state, history, checkpoint path) of the newest checkpoint in `path`."""
    from gpu_sac.store import checkpoint as ckpt

    config = program.config
    with warnings.catch_warnings():  # restore's warnings about damaged checkpoints: said below, one line each
        warnings.simplefilter("ignore")
        restored = ckpt.restore(path / rd.CHECKPOINT_DIR, program)
    for i, line in enumerate(restored.damaged):  # shown even with --progress none
        last = i == len(restored.damaged) - 1
        print(f"warning: {line}" + (f"; resuming from {restored.path}" if last else ""), file=sys.stderr, flush=True)
    if write:  # drop chunks logged after the checkpoint: they are redone
        try:
            rd.write_metrics(path, restored.history)
        except rd.DiskFault as e:
            raise rd.DiskFault(f"{e}; the last good checkpoint is {restored.path}, untouched") from None
    say(f"resuming {path} from its checkpoint at env step {restored.step}"
        + ("" if restored.buffer_saved else " (saved without its replay buffer: refilling it)"))
    if len(restored.history) >= config.num_chunks:
        say(f"the run is already complete at {restored.step} env steps (total_steps={config.total_steps}); "
            "pass a larger --total-steps to continue it")
    return restored.state, restored.history, restored.path


def _notes(config: SACConfig, options: RunOptions, need: dict[str, int], say: Callable[[str], None]) -> None:
    if config.trained_steps != config.total_steps:
        say(f"note: total_steps={config.total_steps} is not a whole number of chunks of "
            f"{config.iterations_per_chunk * config.num_envs} env steps: training {config.trained_steps}")
    if not options.checkpoint_buffer:
        say(f"note: checkpoints leave out the replay buffer ({need['replay'] / 2**20:.1f} MiB): a resumed run "
            f"refills {config.min_replay_size} transitions before it learns again and loses the older data")


def _train(path: Path, program: Any, options: RunOptions, state: Any, history: list[dict[str, Any]],
           restored_from: Path | None, stop: StopFlag | None, say: Callable[[str], None],
           tracker: Any = None) -> ExperimentResult:
    """train() with the run's callbacks (and `tracker`'s, a W&B run), from `state` (None: a new run);
    then the artifacts."""
    from gpu_sac.store import checkpoint as ckpt
    from gpu_sac.training.train import TrainingDiverged, train

    config = program.config
    out, diverged = ExperimentResult(run_dir=path, history=history), None
    with contextlib.ExitStack() as stack:
        with rd.writing("the checkpoints folder", path / rd.CHECKPOINT_DIR):
            checkpointer = ckpt.Checkpointer(path / rd.CHECKPOINT_DIR, keep=options.keep_checkpoints,
                                             include_buffer=options.checkpoint_buffer)
        stack.callback(checkpointer.close)
        saver = _Saver(path, program, checkpointer, options.checkpoint_every, stop, history, last=restored_from)
        with rd.writing("the TensorBoard events", path / rd.TB_DIR):
            loggers = _loggers(path, config, options, history, stack) if distributed.is_main_process() else []
        loggers += [tracker] if tracker is not None else []
        try:
            if len(history) < config.num_chunks:
                with warnings.catch_warnings():  # said once already, by _notes
                    warnings.filterwarnings("ignore", message="total_steps=.*is not a whole number of chunks")
                    # train() appends each record to its own copy of the history; the saver keeps ours.
                    out.result = train(config, program=program, callback=_chain(*loggers, saver), state=state,
                                       history=list(history), init_from=_init_from(options))
        except StopRequested:
            out.stopped = True
        except TrainingDiverged as e:
            diverged = e
        except rd.DiskFault as e:
            last = f"the last good checkpoint is {saver.last} (env step {saver.last_steps})" if saver.last \
                else "no checkpoint was saved"
            raise rd.DiskFault(f"{e}; {last}") from None
    main = distributed.is_main_process()
    if diverged is not None:
        if main:
            _finish(path, program, options, history, say, video=False)
        raise TrainingDiverged(saver.diverged_message(diverged)) from diverged
    out.checkpoint = saver.last
    out.artifacts = _finish(path, program, options, history, say, video=not out.stopped) if main else {}
    return out


def _tracked(path: Path, config: SACConfig, options: RunOptions, history: list[dict[str, Any]],
             run: Callable[[Any], ExperimentResult]) -> ExperimentResult:
    """run(tracker): with a W&B run as tracker where options.wandb_project is set (process 0 alone),
    finished after the run's artifacts, which it logs; else run(None)."""
    if not options.wandb_project or not distributed.is_main_process():
        return run(None)
    from gpu_sac.outputs.wandb_log import WandB

    tracker = WandB(path, config.to_dict(), options.wandb_project, options.wandb_entity, options.wandb_name,
                    options.wandb_mode, start_steps=int(history[-1]["env_steps"]) if history else 0)
    try:
        out = run(tracker)
    except BaseException:
        tracker.finish({"curve": path / rd.CURVE_FILE}, exit_code=1)  # a diverged run's curve is drawn
        raise
    tracker.finish(out.artifacts)
    return out


def _init_from(options: RunOptions) -> Any:
    if options.init_from is None:
        return None
    from gpu_sac.store.transfer import InitFrom

    return InitFrom(options.init_from, options.init_parts, options.init_buffer)


def _loggers(path: Path, config: SACConfig, options: RunOptions, history: list[dict[str, Any]],
             stack: contextlib.ExitStack) -> list[Callable[[Any, dict[str, Any]], None]]:
    """The run's logging callbacks, in order: metrics file, TensorBoard, progress (closed by `stack`)."""
    from gpu_sac.outputs.progress import Progress
    from gpu_sac.outputs.tensorboard_log import TensorBoard

    start_steps = int(history[-1]["env_steps"]) if history else 0
    loggers: list[Callable[[Any, dict[str, Any]], None]] = [lambda state, record: rd.append_metrics(path, record)]
    if options.tensorboard:
        resumed = options.resume is not None
        tb = TensorBoard(path / rd.TB_DIR, purge_step=start_steps + 1 if resumed else None)
        stack.callback(tb.close)
        loggers.append(tb)
    progress = Progress(options.progress, config.env, config.trained_steps, config.num_seeds, start_steps)
    stack.callback(progress.close)
    progress.message(f"run directory: {path}")
    loggers.append(progress)
    return loggers


def _chain(*callbacks: Callable[[Any, dict[str, Any]], None]) -> Callable[[Any, dict[str, Any]], None]:
    def callback(state: Any, record: dict[str, Any]) -> None:
        for fn in callbacks:
            fn(state, record)

    return callback


@dataclasses.dataclass
class _Saver:
    """The checkpointing callback: appends each record to the run's history, and when due (every
    `every` env steps, after every chunk when None, at the last chunk, on a stop request) saves a
    checkpoint and exports the policy; then raises StopRequested if a stop was asked for."""

    path: Path
    program: Any
    checkpointer: Any
    every: int | None
    stop: StopFlag | None
    history: list[dict[str, Any]]
    last: Path | None = None  # the newest checkpoint
    last_steps: int = 0  # its env step

    def __post_init__(self):
        self.last_steps = int(self.history[-1]["env_steps"]) if self.history else 0

    def __call__(self, state: Any, record: dict[str, Any]) -> None:
        self.history.append(record)
        steps, last_chunk = int(record["env_steps"]), record["chunk"] == self.program.config.num_chunks - 1
        stopping = self.stop is not None and self.stop.requested
        if self.every is None or steps // self.every > self.last_steps // self.every or last_chunk or stopping:
            self.last = self.checkpointer.save(state, self.history, self.program.config)  # every process
            self.last_steps = steps
            agent = mesh.to_host(state.agent)  # every process: gathering a sharded agent is a collective
            if distributed.is_main_process():
                _export(self.path, self.program, agent, record)
        if stopping and not last_chunk:
            raise StopRequested

    def diverged_message(self, error: Exception) -> str:
        if self.last is None:
            return f"{error}; no checkpoint was saved before it"
        return f"{error}; the last good checkpoint is {self.last} (env step {self.last_steps})"


def _export(path: Path, program: Any, agent: Any, record: dict[str, Any]) -> Path:
    from gpu_sac.outputs.export import export_policy
    from gpu_sac.training.rollout import action_bounds

    config = program.config
    low, high = (np.asarray(b) for b in action_bounds(program.env))
    with rd.writing("the exported policy", path / rd.POLICY_DIR):
        return export_policy(
            path / rd.POLICY_DIR, config, agent, low, high, program.obs_dim, program.act_dim,
            extra={"env_steps": int(record["env_steps"]), "run_dir": str(path), "config": config.to_dict()},
            actor_obs=program.nets.actor_obs,
        )


def _finish(path: Path, program: Any, options: RunOptions, history: list[dict[str, Any]],
            say: Callable[[str], None], video: bool) -> dict[str, Path]:
    """The learning curve, and (at the end of a run) a video of the exported policy. Neither can fail
    a finished run: a problem is one line on stderr."""
    artifacts: dict[str, Path] = {}
    if any("eval_return" in r for r in history):
        from gpu_sac.outputs.plot import plot_runs

        try:
            artifacts["curve"] = plot_runs([path], path / rd.CURVE_FILE)
        except Exception as e:  # noqa: BLE001 - a plot must not fail a finished run
            say(f"warning: could not plot the learning curve: {e}")
    if history and (path / rd.POLICY_DIR).is_dir():
        onnx_file = _export_onnx(path, say)
        if onnx_file is not None:
            artifacts["onnx"] = onnx_file
    if video and options.video and history:
        from gpu_sac.outputs.export import load_policy
        from gpu_sac.outputs.video import VideoUnsupported, record_video

        config = program.config
        try:
            key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 7)
            artifacts["video"], _ = record_video(program.env, load_policy(path), config.episode_length,
                                                 path / rd.VIDEO_FILE, key, *options.video_size)
        except VideoUnsupported as e:
            say(f"note: no video: {e}")
        except Exception as e:  # noqa: BLE001 - a video must not fail a finished run
            say(f"warning: could not record a video: {type(e).__name__}: {e}")
    return artifacts


def _export_onnx(path: Path, say: Callable[[str], None]) -> Path | None:
    """policy/policy.onnx from the exported policy, where the onnx extra is installed (None otherwise,
    or with one line on stderr when this policy cannot be written as ONNX: it must not fail a run)."""
    from gpu_sac.outputs import onnx_export

    if not onnx_export.available():
        return None
    try:
        return onnx_export.export_onnx(path)
    except onnx_export.OnnxExportError as e:
        say(f"note: no ONNX policy: {e}")
    except Exception as e:  # noqa: BLE001 - an export must not fail a finished run
        say(f"warning: could not write the ONNX policy: {type(e).__name__}: {e}")
    return None


def resume_experiment(run_dir: str | os.PathLike, options: RunOptions | None = None, *, env: Any = None,
                      stop: StopFlag | None = None, **config_changes: Any) -> ExperimentResult:
    """Continue the run in `run_dir` from its newest checkpoint, with its stored options unless given.
    config_changes: fields to change (only checkpoint.RESUMABLE_FIELDS may differ)."""
    record = rd.read_config_record(run_dir)
    config = dataclasses.replace(rd.config_from_dict(record["config"]), **config_changes)
    if options is None:
        options = stored_options(record)
    options = dataclasses.replace(options, resume=str(run_dir), run_dir=None)
    return run_experiment(config, options, env=env, stop=stop)


def stored_options(record: dict[str, Any]) -> RunOptions:
    """The RunOptions kept in a run's config record (fields this version does not know are left out)."""
    known = {f.name for f in dataclasses.fields(RunOptions)}
    stored = {k: v for k, v in record.get("options", {}).items() if k in known}
    for name in ("video_size", "init_parts"):
        if isinstance(stored.get(name), list):
            stored[name] = tuple(stored[name])
    return RunOptions(**stored)
