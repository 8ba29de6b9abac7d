"""Weights & Biases tracking of a run: a `(state, record)` callback of train()'s host loop, like
`gpu_sac.outputs.tensorboard_log`. Needs the `wandb` extra: `pip install 'gpu_sac[wandb]'`.

What it logs: the resolved config once (every SACConfig field, plus the run directory); each chunk's
history record against step = env_steps, under the TensorBoard tags of `gpu_sac.training.metrics.METRICS`
(the mean over agents with num_seeds > 1, and each agent's eval return as `eval/return_agent<i>`);
and at the end the learning curve (`curve`, an image) and the video (`video`), where the run made them.

The W&B run id is kept in RUN_DIR/wandb_id, written before the first record, so that a resumed run
(`--resume`) continues the same W&B run. W&B's own files go to $WANDB_DIR when it is set, else to
RUN_DIR/wandb/. W&B's console capture is off: the run's figures are logged explicitly.

    tracker = WandB("runs/x", config.to_dict(), project="gpu_sac", mode="offline")
    train(config, callback=tracker)
    tracker.finish({"curve": Path("runs/x/curve.png")})
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gpu_sac.outputs.progress import agent_mean
from gpu_sac.outputs.tensorboard_log import TAGS
from gpu_sac.training.metrics import BY_NAME

ID_FILE = "wandb_id"
MODES = ("online", "offline", "disabled")
MISSING = "Weights & Biases tracking needs the wandb package: pip install 'gpu_sac[wandb]'"


def available() -> bool:
    """Whether the wandb package is installed (without importing it: its import takes ~0.5 s)."""
    import importlib.util

    return importlib.util.find_spec("wandb") is not None


def run_id(run_dir: str | os.PathLike) -> str:
    """The W&B run id of a run directory: the stored one, or a new one stored now."""
    file = Path(run_dir) / ID_FILE
    if file.is_file() and file.read_text().strip():
        return file.read_text().strip()
    import secrets
    import string

    from gpu_sac.store.run_dir import write_atomic

    new = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))  # W&B's id style
    write_atomic(file, new + "\n")
    return new


def metrics(record: dict[str, Any]) -> dict[str, float]:
    """The finite figures of one history record, by TensorBoard tag (per-agent lists as their mean,
    and each agent's eval return under `<eval tag>_agent<i>`)."""
    out = {}
    for name, tag in TAGS.items():
        if name in record:
            value = agent_mean(record[name])
            if math.isfinite(value):
                out[tag] = value
    if isinstance(record.get("eval_return"), list):
        for i, value in enumerate(record["eval_return"]):
            if value is not None and math.isfinite(value):
                out[f"{BY_NAME['eval_return'].tag}_agent{i}"] = float(value)
    return out


class WandB:
    """One W&B run for one run directory (the same W&B run again when the directory is resumed).

    config: the run's config as a dict (logged once, updated on resume: total_steps may grow).
    project, entity, name (default: the run directory's name), mode: "online", "offline",
    "disabled", or None for wandb's own default ($WANDB_MODE, else online). start_steps: the env
    step the run resumes from (0 for a new run): where the media go if no chunk is left to run.
    """

    def __init__(self, run_dir: str | os.PathLike, config: dict[str, Any], project: str,
                 entity: str | None = None, name: str | None = None, mode: str | None = None,
                 start_steps: int = 0):
        if not available():
            raise ImportError(MISSING)
        import wandb

        run_dir = Path(run_dir)
        self.run = wandb.init(
            project=project, entity=entity, name=name or run_dir.name, mode=mode, id=run_id(run_dir),
            resume="allow", dir=None if os.environ.get("WANDB_DIR") else str(run_dir),
            settings=wandb.Settings(console="off"),
        )
        self.run.config.update({**config, "run_dir": str(run_dir)}, allow_val_change=True)
        self.last_step = int(start_steps)

    def __call__(self, state: Any, record: dict[str, Any]) -> None:
        self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        self.last_step = int(record["env_steps"])
        self.run.log(metrics(record), step=self.last_step)

    def finish(self, artifacts: dict[str, Path] | None = None, exit_code: int = 0) -> None:
        """Log the curve and the video among `artifacts` (ExperimentResult.artifacts), then end the run."""
        import wandb

        media = {}
        artifacts = artifacts or {}
        if artifacts.get("curve") is not None and Path(artifacts["curve"]).is_file():
            media["curve"] = wandb.Image(str(artifacts["curve"]))
        if artifacts.get("video") is not None and Path(artifacts["video"]).is_file():
            video = Path(artifacts["video"])
            media["video"] = wandb.Video(str(video), format=video.suffix.lstrip(".").lower() or "mp4")
        if media:
            self.run.log(media, step=self.last_step)
        self.run.finish(exit_code=exit_code)
