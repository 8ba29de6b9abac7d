"""Hindsight experience replay (seed §8): success rate against env steps, with and without HER, on the
goal tasks this machine can train (several seeds per arm, trained as one program).

    python -m experiments.her                         # CPU budget: point_reach, arm_reach (~20 min on 2 cores)
    python -m experiments.her --tasks reacher_goal --total-steps 150000   # the MJX task (~20 min)
    python -m experiments.her --render --readme docs/her.md   # docs/her.md's block and plot from the records

Each task runs its preset (gpu_sac/envs/reach.py) with her = future (the HER paper's default, k = 4) and
her = off, and on `ablate` tasks the final and episode strategies too. The seed quotes success
rates on FetchReach / FetchPush / FetchPickAndPlace (98 / 92 / 87 %); our tasks are not those (no
Fetch robot, no objects), and the table says which task stands where. Success: the fraction of
evaluation episodes (deterministic policy) whose last step is within ε of the goal.
JSON: experiments/results/<device>/her/<task>.json; plot: success.png beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments import readme_block  # noqa: E402
from experiments.benchmark import device_info, device_slug, versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEED_CLAIMS = {"FetchReach": 98, "FetchPush": 92, "FetchPickAndPlace": 87}
REACHED = 0.9  # success rate that counts as solved in the table's "steps to" column

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": dict(tasks=("point_reach", "arm_reach"), ablate=("point_reach",), seeds=3, config={}),
    # Tests: seconds of training.
    "smoke": dict(tasks=("point_reach",), ablate=("point_reach",), seeds=2,
                  config=dict(total_steps=400, steps_per_chunk=200, hidden_sizes=(16, 16), batch_size=16,
                              buffer_size=400, min_replay_size=64, start_steps=64, eval_episodes=2)),
}


def run_arm(task: str, her: str, seeds: int, fields: dict[str, Any]) -> dict[str, Any]:
    from gpu_sac import SACConfig, train

    config = SACConfig(env=task, her=her, num_seeds=seeds, **fields)
    result = train(config, verbose=True)
    curve = [{"env_steps": r["env_steps"], "wall_s": r["wall_s"], "eval_success": _per_seed(r["eval_success"]),
              "eval_return": _per_seed(r["eval_return"])} for r in result.history]
    return {"config": config.to_dict(), "compile_s": result.compile_s, "curve": curve}


def _per_seed(value: Any) -> list[float]:
    return [float(v) for v in (value if isinstance(value, list) else [value])]


def steps_to(arm: dict[str, Any], level: float = REACHED) -> list[int | None]:
    """Per seed: env steps of the first evaluation with success >= level, None if none."""
    seeds = len(arm["curve"][0]["eval_success"])
    return [next((c["env_steps"] for c in arm["curve"] if c["eval_success"][s] >= level), None) for s in range(seeds)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--tasks", nargs="+", help="goal envs to run (default: the preset's)")
    parser.add_argument("--total-steps", type=int, help="env steps per agent (default: each task's preset)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    readme_block.add_arguments(parser, "her")
    args = parser.parse_args(argv)
    if readme_block.render_if_asked(args, "her", render):
        return 0
    preset = PRESETS[args.preset]
    fields = dict(preset["config"], **({} if args.total_steps is None else {"total_steps": args.total_steps}))
    for task in args.tasks or preset["tasks"]:
        strategies = ("future", "off") + (("final", "episode") if task in preset["ablate"] else ())
        arms = {her: run_arm(task, her, preset["seeds"], fields) for her in strategies}
        record = {"schema": 1, "preset": args.preset, "task": task, "device": device_info(), "versions": versions(),
                  "arms": arms, "steps_to": {her: steps_to(arm) for her, arm in arms.items()}, "reached": REACHED}
        suffix = "" if args.preset == "cpu" else f"_{args.preset}"
        path = args.out / device_slug(record["device"]) / "her" / f"{task}{suffix}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {path}", flush=True)
    return 0


def _mean_std(values: list[float]) -> str:
    import numpy as np

    return f"{100 * np.mean(values):.0f} ± {100 * np.std(values):.0f} %"


def _records(out: Path) -> list[tuple[Path, dict[str, Any]]]:
    paths = sorted(out.glob("*/her/*.json"))
    return [(p, r) for p in paths if (r := json.loads(p.read_text()))["preset"] != "smoke"]


def render(out: Path, page_dir: Path = readme_block.ROOT) -> str:
    """Markdown of every HER record under `out` (smoke records left out), and their plot (linked
    relative to page_dir, the folder of the page it is written into)."""
    records = _records(out)
    parts = ["<!-- generated by `python -m experiments.her --render --readme docs/her.md` -->", ""]
    claims = ", ".join(f"{k} {v} %" for k, v in SEED_CLAIMS.items())
    parts.append(f"The seed's claim (SAC + HER on Fetch): {claims}. Ours, on tasks that are not Fetch (the "
                 "reaching tasks stand where FetchReach does; no pushing or pick-and-place task is measured): "
                 "final success rate of the deterministic policy, mean ± std over seeds; then env steps (per "
                 f"agent) to the first evaluation at ≥ {REACHED:.0%} success, per seed.\n")
    strategies = ("future", "final", "episode", "off")
    parts.append("| task (stands for) | device | seeds × steps | HER future (k = 4) | HER final | HER episode "
                 "| no HER |")
    parts.append("|---|---|---|---|---|---|---|")
    for _, r in records:
        arms = r["arms"]
        cells = [f"{_mean_std(arms[h]['curve'][-1]['eval_success'])}; "
                 + ", ".join("never" if s is None else f"{round(s / 1000, 1):g}k" for s in r["steps_to"][h])
                 if h in arms else "—" for h in strategies]
        last = arms["future"]["curve"][-1]
        parts.append(f"| {r['task']} (FetchReach) | {r['device']['name']} | {len(last['eval_success'])} × "
                     f"{last['env_steps']:,} | {' | '.join(cells)} |")
    if records:
        parts.append("\nRecords: " + ", ".join(f"`{p.relative_to(out.parent.parent)}`" for p, _ in records) + ".")
        plot = plot_records(records, out / device_slug(records[0][1]["device"]) / "her" / "success.png")
        parts.append(f"\n![success rate against env steps]({readme_block.link(plot, page_dir)})")
    return "\n".join(parts) + "\n"


def plot_records(records: list[tuple[Path, dict[str, Any]]], path: Path) -> Path:
    """Success rate against env steps, one panel per task, mean ± std over seeds per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(records), figsize=(5.5 * len(records), 4), constrained_layout=True, squeeze=False)
    for ax, (_, r) in zip(axes[0], records, strict=True):
        for her, arm in r["arms"].items():
            steps = np.array([c["env_steps"] for c in arm["curve"]])
            success = np.array([c["eval_success"] for c in arm["curve"]])  # (T, seeds)
            mean, std = success.mean(1), success.std(1)
            (line,) = ax.plot(steps, mean, label="no HER" if her == "off" else f"HER ({her})")
            ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(f"{r['task']} ({len(success[0])} seeds, {r['device']['name']})", fontsize="medium")
        ax.set_xlabel("env steps (per agent)")
        ax.set_ylabel("eval success rate")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
