"""One experiment end to end, for the command line and for notebooks alike: a run directory,
progress, logs, checkpoints, resume, the exported policy, the learning curve and a video.

    from gpu_sac import SACConfig, RunOptions, run_experiment, resume_experiment
    result = run_experiment(SACConfig(env="pendulum"), RunOptions(run_dir="runs/pendulum"))
    result = resume_experiment("runs/pendulum", total_steps=40_000)   # continue, exactly

`python experiments/train.py` is a thin command line over these two functions (`gpu_sac.cli`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np

from gpu_sac import memory
from gpu_sac import run_dir as rd
from gpu_sac.config import SACConfig


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


def _mean(value: Any) -> float:
    if isinstance(value, list):
        finite = [v for v in value if v is not None and math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan
    return float(value) if value is not None else math.nan


class Progress:
    """A tqdm bar (env steps, steps/s, eval return, α, ETA) or one plain line per chunk."""

    def __init__(self, mode: str, config: SACConfig, start_steps: int, stream=None):
        self.mode = mode
        self.config = config
        self.total = config.trained_steps
        self.done = start_steps
        self.stream = stream or sys.stderr
        self.bar = None
        self.first: tuple[float, int] | None = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.total, initial=start_steps, unit="step", unit_scale=True, dynamic_ncols=True,
                desc=f"{config.env} (compiling)", file=self.stream, smoothing=0.5,
            )

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        elif self.mode != "none":
            print(text, file=self.stream, flush=True)

    def update(self, record: dict[str, Any]) -> None:
        steps = int(record["env_steps"])
        alpha = _mean(record.get("alpha"))
        ret = _mean(record.get("eval_return", math.nan))
        sps = float(record["sps"])
        if self.bar is not None:
            self.bar.set_description(self.config.env, refresh=False)
            self.bar.set_postfix({"eval": f"{ret:.4g}", "α": f"{alpha:.3g}", "sps": f"{sps:.4g}"}, refresh=False)
            self.bar.update(steps - self.done)
        elif self.mode == "lines":
            # The rate since the first chunk of this process (the first one includes compiling).
            now = time.perf_counter()
            if self.first is None:
                self.first = (now, steps)
                rate = sps / self.config.num_seeds
            else:
                rate = (steps - self.first[1]) / max(now - self.first[0], 1e-9)
            eta = (self.total - steps) / rate if rate > 0 else math.nan
            print(
                f"[{self.config.env}] env_steps={steps}/{self.total} ({100 * steps / self.total:.0f}%) "
                f"eval_return={ret:.4g} train_return={_mean(record.get('train_return')):.4g} alpha={alpha:.3g} "
                f"critic_loss={_mean(record.get('critic_loss')):.4g} sps={sps:.4g} eta={_fmt_time(eta)}",
                file=self.stream, flush=True,
            )
        self.done = steps

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class TensorBoard:
    """Scalars per chunk, against env steps (the mean over agents, and each agent's eval return)."""

    def __init__(self, log_dir: Path, purge_step: int | None):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["env_steps"])
        names = {"eval_return": "eval/return", "eval_return_std": "eval/return_std", "train_return": "train/return",
                 "alpha": "train/alpha", "entropy": "train/entropy", "q": "train/q", "target_q": "train/target_q",
                 "critic_loss": "loss/critic", "actor_loss": "loss/actor", "alpha_loss": "loss/alpha",
                 "sps": "perf/steps_per_s", "updates": "perf/updates", "wall_s": "perf/wall_s"}
        for key, tag in names.items():
            if key in record:
                value = _mean(record[key])
                if math.isfinite(value):
                    self.writer.add_scalar(tag, value, step)
        if isinstance(record.get("eval_return"), list):
            for i, v in enumerate(record["eval_return"]):
                if v is not None and math.isfinite(v):
                    self.writer.add_scalar(f"eval/return_agent{i}", v, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class StopFlag:
    """Ctrl-C handling for the command line: the first SIGINT asks the run to stop at the end of the
    current chunk, after a checkpoint; a second one quits at once (the newest complete checkpoint
    stays loadable). A watcher thread reads the signal through a wakeup fd, so that the message
    shows at once even while the main thread waits on the device."""

    def __init__(self):
        self.requested = False
        self._count = 0
        self._installed = False

    def install(self) -> None:
        import signal

        if threading.current_thread() is not threading.main_thread():
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self._write_fd = write_fd
        self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._previous = signal.signal(signal.SIGINT, self._handle)
        self._installed = True
        threading.Thread(target=self._watch, args=(read_fd,), daemon=True).start()

    def _handle(self, signum, frame) -> None:  # runs in the main thread once it reaches Python code
        self.requested = True

    def _watch(self, read_fd: int) -> None:
        import signal

        while True:
            data = os.read(read_fd, 64)
            if not data:
                return
            for byte in data:
                if byte != signal.SIGINT:
                    continue
                self._count += 1
                self.requested = True
                if self._count == 1:
                    print("\nCtrl-C: stopping at the end of this chunk, after a checkpoint "
                          "(Ctrl-C again to quit now, losing the chunk)", file=sys.stderr, flush=True)
                else:
                    print("\nCtrl-C again: quitting now; the newest complete checkpoint is kept",
                          file=sys.stderr, flush=True)
                    os._exit(130)

    def uninstall(self) -> None:
        import signal

        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            signal.set_wakeup_fd(self._previous_fd)
            os.close(self._write_fd)  # the watcher reads end-of-file and exits
            self._installed = False


def resolved_options(options: RunOptions) -> RunOptions:
    if options.quiet and options.progress == "bar":
        options = dataclasses.replace(options, progress="lines")
    return options


def run_experiment(
    config: SACConfig,
    options: RunOptions = RunOptions(),  # noqa: B008 - frozen
    *,
    env: Any = None,
    stop: StopFlag | None = None,
) -> ExperimentResult:
    """Train `config` in a run directory (new, or `options.resume` to continue one).

    Raises ConfigError (including ConfigMismatch on resume), MemoryBudgetError before anything is
    allocated, TrainingDiverged (the newest checkpoint is the last good state). A StopFlag that is
    set ends the run after the current chunk, with a checkpoint (result.stopped).
    """
    import envs
    from gpu_sac import checkpoint as ckpt
    from gpu_sac.train import TrainingDiverged, build, train

    options = resolved_options(options)
    if options.checkpoint_every is not None and options.checkpoint_every <= 0:
        from gpu_sac.config import ConfigError

        raise ConfigError(f"checkpoint_every={options.checkpoint_every} is invalid: must be a positive integer or None")
    if options.keep_checkpoints < 1:
        from gpu_sac.config import ConfigError

        raise ConfigError(f"keep_checkpoints={options.keep_checkpoints} is invalid: must be >= 1")
    resume = options.resume is not None
    if resume:
        path = Path(options.resume)
        if options.run_dir is not None and Path(options.run_dir).resolve() != path.resolve():
            from gpu_sac.config import ConfigError

            raise ConfigError(f"run_dir={options.run_dir!r} is invalid with resume={options.resume!r}: "
                              "a resumed run stays in its directory")
        saved = rd.read_config_record(path)
        ckpt.check_config(saved["config"], config, where=f"{path / rd.CONFIG_FILE}")
        if not ckpt.steps(path / rd.CHECKPOINT_DIR):
            raise ckpt.CheckpointError(f"{path} has no complete checkpoint to resume from")
    else:
        path = Path(options.run_dir) if options.run_dir else rd.default_run_dir(config.env, config.seed)
        if (path / rd.CONFIG_FILE).exists():
            from gpu_sac.config import ConfigError

            raise ConfigError(f"run_dir={str(path)!r} is invalid: it holds a run already "
                              f"(continue it with --resume {path}, or choose another directory)")

    if env is None:
        env = envs.make(config.env, brax_backend=config.brax_backend, playground_impl=config.playground_impl)
    program = build(config, env)
    need = memory.check_fits(config, program.obs_dim, program.act_dim)

    progress_mode = options.progress

    def say(text: str) -> None:
        if progress_mode != "none":
            print(text, file=sys.stderr, flush=True)

    path.mkdir(parents=True, exist_ok=True)
    checkpoints = path / rd.CHECKPOINT_DIR
    state, history = None, []
    if resume:
        restored = ckpt.restore(checkpoints, program)
        state, history = restored.state, restored.history
        rd.write_metrics(path, history)  # drop chunks logged after the checkpoint: they are redone
        say(f"resuming {path} from its checkpoint at env step {restored.step}"
            + ("" if restored.buffer_saved else " (saved without its replay buffer: refilling it)"))
        if len(history) >= config.num_chunks:
            say(f"the run is already complete at {restored.step} env steps (total_steps={config.total_steps}); "
                "pass a larger --total-steps to continue it")
    option_dict = {k: v for k, v in dataclasses.asdict(options).items() if k not in ("resume",)}
    option_dict["run_dir"] = str(path)
    rd.write_config(path, config, option_dict)
    if config.trained_steps != config.total_steps:
        say(f"note: total_steps={config.total_steps} is not a whole number of chunks of "
            f"{config.iterations_per_chunk * config.num_envs} env steps: training {config.trained_steps}")
    if not options.checkpoint_buffer:
        say(f"note: checkpoints leave out the replay buffer ({need['replay'] / 2**20:.1f} MiB): a resumed run "
            f"refills {config.min_replay_size} transitions before it learns again and loses the older data")

    checkpointer = ckpt.Checkpointer(checkpoints, keep=options.keep_checkpoints,
                                     include_buffer=options.checkpoint_buffer)
    start_steps = int(history[-1]["env_steps"]) if history else 0
    tb = TensorBoard(path / rd.TB_DIR, purge_step=start_steps + 1 if resume else None) if options.tensorboard else None
    progress = Progress(progress_mode, config, start_steps)
    progress.message(f"run directory: {path}")
    low_high = _bounds(env)
    out = ExperimentResult(run_dir=path, history=history)
    last_saved = {"steps": start_steps, "path": None}
    if resume:
        last_saved["path"] = restored.path

    def save(ts, record_history) -> None:
        last_saved["path"] = checkpointer.save(ts, record_history, config)
        last_saved["steps"] = int(record_history[-1]["env_steps"])
        _export(path, config, ts.agent, low_high, program, record_history[-1])

    def callback(ts, record) -> None:
        rd.append_metrics(path, record)
        if tb is not None:
            tb.write(record)
        progress.update(record)
        history.append(record)
        steps = int(record["env_steps"])
        every = options.checkpoint_every
        due = (
            every is None
            or steps // every > last_saved["steps"] // every
            or record["chunk"] == config.num_chunks - 1
            or (stop is not None and stop.requested)
        )
        if due:
            save(ts, history)
        if stop is not None and stop.requested and record["chunk"] < config.num_chunks - 1:
            raise StopRequested

    # train() gets its own copy of the history: it appends each record before the callback, and
    # the callback keeps ours (the one checkpoints store) in step.
    train_history = list(history)
    try:
        if len(history) < config.num_chunks:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="total_steps=.*is not a whole number of chunks")
                out.result = train(config, env, callback=callback, state=state, history=train_history)
    except StopRequested:
        out.stopped = True
    except TrainingDiverged as e:
        last = last_saved["path"]
        _finish(path, config, env, program, options, history, say, video=False)
        raise TrainingDiverged(
            f"{e}; the last good checkpoint is {last} (env step {last_saved['steps']})" if last
            else f"{e}; no checkpoint was saved before it"
        ) from e
    finally:
        progress.close()
        if tb is not None:
            tb.close()
        checkpointer.close()
    out.history = history
    out.checkpoint = last_saved["path"]
    out.artifacts = _finish(path, config, env, program, options, history, say, video=not out.stopped)
    return out


def _bounds(env: Any) -> tuple[np.ndarray, np.ndarray]:
    from gpu_sac.rollout import action_bounds

    low, high = action_bounds(env)
    return np.asarray(low), np.asarray(high)


def _export(path: Path, config: SACConfig, agent: Any, low_high, program, record: dict[str, Any]) -> Path:
    from gpu_sac.export import export_policy

    return export_policy(
        path / rd.POLICY_DIR, config, agent, low_high[0], low_high[1], program.obs_dim, program.act_dim,
        extra={"env_steps": int(record["env_steps"]), "run_dir": str(path), "config": config.to_dict()},
    )


def _finish(path, config, env, program, options, history, say, video: bool) -> dict[str, Path]:
    """The learning curve, and (at the end of a run) a video of the exported policy."""
    artifacts: dict[str, Path] = {}
    if any("eval_return" in r for r in history):
        from gpu_sac.plot import plot_runs

        try:
            artifacts["curve"] = plot_runs([path], path / rd.CURVE_FILE)
        except Exception as e:  # noqa: BLE001 - a plot must not fail a finished run
            say(f"warning: could not plot the learning curve: {e}")
    if video and options.video and history:
        from gpu_sac.export import load_policy
        from gpu_sac.video import VideoUnsupported, record_video

        try:
            act = load_policy(path)
            key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 7)
            height, width = options.video_size
            artifacts["video"], _ = record_video(env, act, config.episode_length, path / rd.VIDEO_FILE, key,
                                                 height, width)
        except VideoUnsupported as e:
            say(f"note: no video: {e}")
        except Exception as e:  # noqa: BLE001 - a video must not fail a finished run
            say(f"warning: could not record a video: {type(e).__name__}: {e}")
    return artifacts


def resume_experiment(run_dir: str | os.PathLike, options: RunOptions | None = None, *, env: Any = None,
                      stop: StopFlag | None = None, **config_changes: Any) -> ExperimentResult:
    """Continue the run in `run_dir` from its newest checkpoint, with its stored options unless given.
    config_changes: fields to change (only checkpoint.RESUMABLE_FIELDS may differ)."""
    record = rd.read_config_record(run_dir)
    config = dataclasses.replace(rd.config_from_dict(record["config"]), **config_changes)
    if options is None:
        known = {f.name for f in dataclasses.fields(RunOptions)}
        stored = {k: v for k, v in record.get("options", {}).items() if k in known}
        if isinstance(stored.get("video_size"), list):
            stored["video_size"] = tuple(stored["video_size"])
        options = RunOptions(**stored)
    options = dataclasses.replace(options, resume=str(run_dir), run_dir=None)
    return run_experiment(config, options, env=env, stop=stop)
