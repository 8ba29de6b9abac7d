"""Learning curves from run directories: eval return (and, for goal envs, success rate) against env
steps and against wall time.

Runs whose configs are equal but for the seed are one group, drawn as the mean over its agents
(every seed of every run) with a band of ± one standard deviation; a multi-seed run (num_seeds > 1)
brings all its agents. Groups are labelled by env and by the fields that tell them apart.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from gpu_sac.store.run_dir import read_config_record, read_metrics


def _per_agent(rows: list[dict[str, Any]], name: str, num_seeds: int) -> np.ndarray:
    """(A, T): a per-agent figure of each row (NaN where a row lacks it)."""
    values = [r.get(name, math.nan) for r in rows]
    return np.array([v if isinstance(v, list) else [v] * num_seeds for v in values],
                    np.float64).reshape(len(rows), num_seeds).T


def _curves(records: list[dict[str, Any]], num_seeds: int) -> dict[str, np.ndarray]:
    """env_steps (T,), wall_s (T,), eval_return (A, T) and eval_success (A, T; NaN but for goal envs)
    for the chunks that were evaluated."""
    rows = [r for r in records if "eval_return" in r]
    return {
        "env_steps": np.array([r["env_steps"] for r in rows], np.float64),
        "wall_s": np.array([r["wall_s"] for r in rows], np.float64),
        "eval_return": _per_agent(rows, "eval_return", num_seeds),
        "eval_success": _per_agent(rows, "eval_success", num_seeds),
    }


def load_groups(run_dirs: list[str | os.PathLike]) -> list[dict[str, Any]]:
    """Group runs by their config less the seed: [{label, runs, env_steps, wall_s, returns (A, T),
    success (A, T) or None (no goal env)}]."""
    groups: dict[str, dict[str, Any]] = {}
    for run_dir in run_dirs:
        record = read_config_record(run_dir)
        config = dict(record["config"])
        metrics = read_metrics(run_dir)
        curves = _curves(metrics, int(config.get("num_seeds", 1)))
        if curves["env_steps"].size == 0:
            continue
        key_fields = {k: v for k, v in config.items() if k not in ("seed", "num_seeds", "total_steps")}
        key = repr(sorted(key_fields.items()))
        group = groups.setdefault(key, {"config": key_fields, "runs": [], "curves": []})
        group["runs"].append(str(run_dir))
        group["curves"].append(curves)
    out = []
    for group in groups.values():
        # Align the runs of a group on the chunks they all reached.
        t = min(c["env_steps"].size for c in group["curves"])
        returns = np.concatenate([c["eval_return"][:, :t] for c in group["curves"]])
        success = np.concatenate([c["eval_success"][:, :t] for c in group["curves"]])
        out.append({
            "config": group["config"],
            "runs": group["runs"],
            "env_steps": group["curves"][0]["env_steps"][:t],
            "wall_s": np.mean([c["wall_s"][:t] for c in group["curves"]], axis=0),
            "returns": returns,
            "success": None if np.isnan(success).all() else success,
        })
    _label(out)
    return out


def _label(groups: list[dict[str, Any]]) -> None:
    """env, then the fields whose values differ between groups."""
    fields = sorted({k for g in groups for k in g["config"]})
    differ = [k for k in fields if k != "env" and len({repr(g["config"].get(k)) for g in groups}) > 1]
    for g in groups:
        parts = [str(g["config"].get("env"))] + [f"{k}={g['config'].get(k)}" for k in differ[:4]]
        n = g["returns"].shape[0]
        g["label"] = " ".join(parts) + f" ({n} seed{'s' if n > 1 else ''})"


def plot_runs(
    run_dirs: list[str | os.PathLike], out: str | os.PathLike, title: str | None = None,
    labels: list[str] | None = None,
) -> Path:
    """Write the learning curves of `run_dirs` to `out` (PNG); return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = load_groups(run_dirs)
    if not groups:
        raise ValueError(f"no evaluated chunks in {', '.join(map(str, run_dirs))} (was eval_episodes 0?)")
    if labels is not None:
        if len(labels) != len(groups):
            raise ValueError(f"{len(labels)} labels for {len(groups)} groups of runs")
        for g, label in zip(groups, labels, strict=True):
            g["label"] = label
    # A row of axes per figure: the return, and the success rate where a group reports one.
    figures = [("returns", "eval return (deterministic)")]
    if any(g["success"] is not None for g in groups):
        figures.append(("success", "eval success rate"))
    fig, grid = plt.subplots(len(figures), 2, figsize=(11, 4 * len(figures)), constrained_layout=True, squeeze=False)
    for axes, (key, ylabel) in zip(grid, figures, strict=True):
        for g in groups:
            if g[key] is not None:
                _draw_band(axes, g, g[key])
        axes[0].set_xlabel("env steps (per agent)")
        axes[1].set_xlabel("wall time (min)")
        for ax in axes:
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    grid[0][0].legend(fontsize="small")
    if title is None:
        title = groups[0]["label"] if len(groups) == 1 else "eval return: mean ± std over seeds"
    fig.suptitle(title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _draw_band(axes: Any, group: dict[str, Any], values: np.ndarray) -> None:
    """values (A, T) of a group against env steps and wall time: the mean, ± one std over agents."""
    mean = np.nanmean(values, axis=0) if values.shape[0] > 1 else values[0]
    std = np.nanstd(values, axis=0) if values.shape[0] > 1 else None
    for ax, x in zip(axes, (group["env_steps"], group["wall_s"] / 60.0), strict=True):
        (line,) = ax.plot(x, mean, label=group["label"])
        if std is not None:
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def summary(run_dirs: list[str | os.PathLike]) -> list[str]:
    """One line per group: label, final env steps and final eval return mean ± std."""
    lines = []
    for g in load_groups(run_dirs):
        final = g["returns"][:, -1]
        std = float(np.nanstd(final)) if final.size > 1 else math.nan
        lines.append(f"{g['label']}: {int(g['env_steps'][-1])} env steps, eval return {np.nanmean(final):.1f}"
                     + (f" ± {std:.1f}" if final.size > 1 else ""))
    return lines
