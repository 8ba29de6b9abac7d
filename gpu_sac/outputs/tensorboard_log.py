"""TensorBoard scalars of a run: a `(state, record)` callback of train()'s host loop.

Each figure of a record that gpu_sac.training.metrics.METRICS gives a tag is written against env steps (the
mean over agents with num_seeds > 1), and each agent's eval return as `<eval tag>_agent<i>`.

    tb = TensorBoard("runs/x/tb")
    train(config, callback=tb)
    tb.close()
"""

from __future__ import annotations

import math
import os
from typing import Any

from gpu_sac.outputs.progress import agent_mean
from gpu_sac.training.metrics import BY_NAME, METRICS

TAGS: dict[str, str] = {m.name: m.tag for m in METRICS if m.tag is not None}


class TensorBoard:
    """Event files in log_dir. purge_step: on resume, the first step to write again (TensorBoard
    hides what an earlier process wrote from there on: the chunks redone after the checkpoint)."""

    def __init__(self, log_dir: str | os.PathLike, purge_step: int | None = None):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def __call__(self, state: Any, record: dict[str, Any]) -> None:
        self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["env_steps"])
        for name, tag in TAGS.items():
            if name in record:
                value = agent_mean(record[name])
                if math.isfinite(value):
                    self.writer.add_scalar(tag, value, step)
        if isinstance(record.get("eval_return"), list):
            for i, value in enumerate(record["eval_return"]):
                if value is not None and math.isfinite(value):
                    self.writer.add_scalar(f"{BY_NAME['eval_return'].tag}_agent{i}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
