"""The progress display of a run: a `(state, record)` callback of train()'s host loop.

    progress = Progress("bar", config.env, config.trained_steps, config.num_seeds, start_steps=0)
    # mode "bar", or "lines" (one line per chunk) or "none"
    train(config, callback=progress)
    progress.close()
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np


def agent_mean(value: Any) -> float:
    """A record's figure as one number: the mean over agents of the finite values of a per-agent list
    (NaN if none is finite); a scalar as a float; None as NaN."""
    if isinstance(value, list):
        finite = [v for v in value if v is not None and math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan
    return float(value) if value is not None else math.nan


def format_time(seconds: float) -> str:
    """H:MM:SS, or ? when unknown."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """A tqdm bar (env steps, steps/s, eval return, α, ETA), one plain line per chunk, or nothing."""

    def __init__(self, mode: str, env: str, total: int, num_seeds: int, start_steps: int, stream=None):
        """mode: bar, lines or none; env: the name shown; total: env steps the run trains (per agent);
        num_seeds: agents trained at once (a record's sps counts all of them)."""
        self.mode, self.env, self.total, self.num_seeds = mode, env, total, num_seeds
        self.done = start_steps
        self.stream = stream or sys.stderr
        self.bar = None
        self.first: tuple[float, int] | None = None  # (time, env steps) at this process's first chunk
        if mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.total, initial=start_steps, unit="step", unit_scale=True, dynamic_ncols=True,
                desc=f"{env} (compiling)", file=self.stream, smoothing=0.5,
            )

    def message(self, text: str) -> None:
        """A line of text that does not break the bar."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        elif self.mode != "none":
            print(text, file=self.stream, flush=True)

    def __call__(self, state: Any, record: dict[str, Any]) -> None:
        self.update(record)

    def update(self, record: dict[str, Any]) -> None:
        steps = int(record["env_steps"])
        if self.bar is not None:
            self.bar.set_description(self.env, refresh=False)
            postfix = {"eval": f"{agent_mean(record.get('eval_return')):.4g}"}
            if "eval_success" in record:
                postfix["success"] = f"{agent_mean(record['eval_success']):.0%}"
            postfix.update({"α": f"{agent_mean(record.get('alpha')):.3g}", "sps": f"{float(record['sps']):.4g}"})
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(steps - self.done)
        elif self.mode == "lines":
            print(self._line(record, steps), file=self.stream, flush=True)
        self.done = steps

    def _line(self, record: dict[str, Any], steps: int) -> str:
        # The rate since the first chunk of this process (the first one includes compiling).
        now, sps = time.perf_counter(), float(record["sps"])
        if self.first is None:
            self.first = (now, steps)
            rate = sps / self.num_seeds
        else:
            rate = (steps - self.first[1]) / max(now - self.first[0], 1e-9)
        eta = (self.total - steps) / rate if rate > 0 else math.nan
        return (
            f"[{self.env}] env_steps={steps}/{self.total} ({100 * steps / self.total:.0f}%) "
            f"eval_return={agent_mean(record.get('eval_return')):.4g} "
            + (f"eval_success={agent_mean(record['eval_success']):.0%} " if "eval_success" in record else "")
            + f"train_return={agent_mean(record.get('train_return')):.4g} alpha={agent_mean(record.get('alpha')):.3g} "
            f"critic_loss={agent_mean(record.get('critic_loss')):.4g} sps={sps:.4g} eta={format_time(eta)}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
