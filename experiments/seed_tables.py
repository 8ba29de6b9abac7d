"""The seed's experiment tables (sac.md section 8) on halfcheetah (Brax, MJX), at a step budget this
machine can run: sample efficiency, ablations, robustness to α₀ and target entropy, stability.

    python -m experiments.seed_tables --budget 100000 --rows full        # one row (~20 min, 2-core CPU)
    python -m experiments.seed_tables --budget 100000                    # every row not yet recorded
    python -m experiments.seed_tables --base gpu --budget 1000000        # the seed's 1 M-step tables (GPU)
    python -m experiments.seed_tables --list                             # the rows and their configs
    python -m experiments.seed_tables --render --readme docs/seed_tables.md   # tables and plot from the records

A row is one config: the base config with the row's changes (ROWS). Each (base, budget, row) is one
program of --seeds agents trained at once (num_seeds) and one JSON record,
experiments/results/<device>/seed_tables/<base>_<budget>/<row>.json, skipped when it exists
(--force reruns it), so the tables fill a few rows at a time. A row's figure is the deterministic
eval return (eval_episodes episodes) at the end of its budget; the sample-efficiency table reads the
full row's curve at 100k, 250k, 500k and 1M env steps. Rows not yet run show as such; the seed's
figures stay beside ours, and the budget is printed with each table.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import numpy as np  # noqa: E402

from experiments import harness  # noqa: E402

BLOCK = "seed_tables"
ENV = "halfcheetah"
ACT_DIM = 6  # halfcheetah's dim(A): the target entropies below are multiples of it

# Base configs over the halfcheetah preset. cpu: issue 9's CPU settings (16 envs stepped in groups
# of 16, 8 updates per vectorised step, batch 256, replay 10⁶, 5 000 random steps, lr 1e-3);
# gpu: the preset itself (Playground's DM Control SAC config: 128 envs, 8 updates, batch 512).
BASES: dict[str, dict[str, Any]] = {
    "cpu": dict(preset="cpu", num_envs=16, env_group_size=16, grad_updates_per_step=8, batch_size=256,
                buffer_size=1_000_000, start_steps=5_000, min_replay_size=5_000, actor_lr=1e-3, critic_lr=1e-3,
                eval_episodes=10),
    "gpu": dict(preset="gpu", eval_episodes=16),
}

# Row → (its config changes, the seed's halfcheetah figure at 1 M steps, the seed's table).
ROWS: dict[str, tuple[dict[str, Any], float, str]] = {
    "full": ({}, 10214, "ablation"),
    "fixed_alpha": (dict(learn_alpha=False, init_alpha=0.2), 9834, "ablation"),
    "alpha_zero": (dict(learn_alpha=False, init_alpha=0.0), 7234, "ablation"),
    "one_critic": (dict(n_critics=1), 8123, "ablation"),
    "deterministic": (dict(deterministic_policy=True, learn_alpha=False, init_alpha=0.0), 7892, "ablation"),
    "alpha_0.05": (dict(learn_alpha=False, init_alpha=0.05), 8923, "alpha"),
    "alpha_0.1": (dict(learn_alpha=False, init_alpha=0.1), 9834, "alpha"),
    # α₀ = 0.2 fixed is the fixed_alpha row.
    "alpha_0.5": (dict(learn_alpha=False, init_alpha=0.5), 9923, "alpha"),
    "alpha_1.0": (dict(learn_alpha=False, init_alpha=1.0), 8734, "alpha"),
    "entropy_0.5": (dict(target_entropy=-0.5 * ACT_DIM), 9423, "entropy"),
    # target entropy −dim(A) is the full row (the default).
    "entropy_2": (dict(target_entropy=-2.0 * ACT_DIM), 9834, "entropy"),
}
# Where a row stands in a second table, the seed's figure there: its α₀ table gives fixed α = 0.2
# 10 214, its ablation table 9 834 for "no auto-tuning (fixed α)".
SEED_IN_TABLE = {("alpha", "fixed_alpha"): 10214}
SAMPLE_STEPS = {100_000: 3500, 250_000: 7200, 500_000: 9400, 1_000_000: 10214}  # the seed's SAC column
SEED_CV = 0.08  # the seed's coefficient of variation of SAC on HalfCheetah (10 seeds)


def eval_every(budget: int) -> int:
    """Env steps between evaluations: every sample-efficiency milestone within the budget is one."""
    return 50_000 if budget >= 500_000 else 10_000


def sac_config(base: str, budget: int, row: str, seeds: int, seed: int):
    from gpu_sac import SACConfig

    return SACConfig(env=ENV, seed=seed, num_seeds=seeds, total_steps=budget, steps_per_chunk=eval_every(budget),
                     **BASES[base], **ROWS[row][0])


def record_path(out: Path, device: dict, base: str, budget: int, row: str) -> Path:
    return harness.record_path(out, device, "seed_tables", f"{base}_{budget}", row)


def run_row(base: str, budget: int, row: str, seeds: int, seed: int, device: dict) -> dict[str, Any]:
    from gpu_sac import train

    config = sac_config(base, budget, row, seeds, seed)
    start = time.perf_counter()
    result = train(config, verbose=True)
    curve = harness.curve(result.history, "eval_return")
    return {
        "what": "seed table row: deterministic eval return per seed against env steps",
        "row": row,
        "base": base,
        "budget": budget,
        "changes": ROWS[row][0],
        "seed_figure": ROWS[row][1],
        "date": harness.utc_now(),
        "device": device,
        "versions": harness.versions(),
        "config": config.to_dict(),
        "wall_s": time.perf_counter() - start,
        "compile_s": result.compile_s,
        "final": curve[-1]["eval_return"],
        "curve": curve,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--base", choices=sorted(BASES), default="cpu")
    parser.add_argument("--budget", type=int, default=100_000, help="env steps per agent per row")
    parser.add_argument("--rows", nargs="*", choices=list(ROWS), help="rows to run (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="agents per row, trained at once (num_seeds)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--force", action="store_true", help="rerun rows whose record exists")
    parser.add_argument("--list", action="store_true", help="print the rows and their configs and exit")
    harness.add_out_argument(parser)
    harness.add_render_arguments(parser, BLOCK)
    args = parser.parse_args(argv)
    if harness.render_if_asked(args, BLOCK, render):
        return 0
    rows = args.rows or list(ROWS)
    if args.list:
        for row in rows:
            print(f"{row:>14}: {ROWS[row][0]}  (seed: {ROWS[row][1]})")
        return 0
    device = harness.device_info()
    for row in rows:
        path = record_path(args.out, device, args.base, args.budget, row)
        if path.exists() and not args.force:
            print(f"exists, skipped: {path}", flush=True)
            continue
        print(f"row {row} ({args.base}, {args.budget:,} steps, {args.seeds} seeds)", flush=True)
        record = run_row(args.base, args.budget, row, args.seeds, args.seed, device)
        harness.write_record(path, record)
        print(f"  -> final {record['final']} in {record['wall_s']:.0f} s: {path}", flush=True)
    return 0


def load(out: Path) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """Every record under out, grouped by (device folder, base_budget folder), keyed by row."""
    groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for path, record in harness.load_records(out, "*/seed_tables/*/*.json"):
        groups.setdefault((path.parts[-4], path.parts[-2]), {})[record["row"]] = record
    return groups


def _stats(values: list[float | None]) -> tuple[float, float]:
    x = np.asarray([math.nan if v is None else v for v in values], np.float64)
    return float(x.mean()), float(x.std())


def _cell(record: dict[str, Any] | None) -> str:
    if record is None:
        return "not run yet"
    mean, std = _stats(record["final"])
    return f"{mean:.0f} ± {std:.0f}"


def at_steps(record: dict[str, Any], steps: int) -> list[float | None] | None:
    """The per-seed eval return of the first evaluation at or after `steps` env steps (None if the
    record's budget ends before)."""
    for point in record["curve"]:
        if point["env_steps"] >= steps:
            return point["eval_return"]
    return None


def _order(records: dict[str, dict[str, Any]], names: list[str]) -> str:
    ran = [n for n in names if n in records]
    if len(ran) < 2:
        return f"Order: too few rows run to compare (run: {', '.join(ran) or 'none'})."
    ours = sorted(ran, key=lambda n: -_stats(records[n]["final"])[0])
    seed = sorted(ran, key=lambda n: -ROWS[n][1])
    verdict = "the seed's order holds" if ours == seed else "the order differs from the seed's"
    return f"Order here: {' > '.join(ours)} (seed: {' > '.join(seed)}): {verdict}" + (
        f"; rows not run yet: {', '.join(n for n in names if n not in records)}." if len(ran) < len(names) else ".")


def render_group(out: Path, device: str, folder: str, records: dict[str, dict[str, Any]],
                 page_dir: Path = harness.ROOT) -> list[str]:
    some = next(iter(records.values()))
    budget, c = some["budget"], some["config"]
    seeds = c["num_seeds"]
    lines = [
        f"### halfcheetah, {some['base']} base, {budget:,} env steps per agent, on {some['device']['name']}",
        "",
        f"{c['num_envs']} envs, {c['grad_updates_per_step']} updates per vectorised step, batch {c['batch_size']}, "
        f"replay {c['buffer_size']:,}, {c['start_steps']:,} random steps; {seeds} seeds per row trained at once; "
        f"deterministic eval return over {c['eval_episodes']} episodes, mean ± std over seeds. The sample-efficiency "
        "columns compare equal env steps; the seed's other figures are at 1 M steps"
        f"{'' if budget >= 1_000_000 else f', ours at {budget:,}: compare their orders, not their values'}.",
        "",
        "| sample efficiency | " + " | ".join(f"{s // 1000}k" for s in SAMPLE_STEPS) + " |",
        "|---" * (len(SAMPLE_STEPS) + 1) + "|",
        "| seed (SAC) | " + " | ".join(f"{v:,}" for v in SAMPLE_STEPS.values()) + " |",
    ]
    full = records.get("full")
    cells = []
    for steps in SAMPLE_STEPS:
        values = at_steps(full, steps) if full else None
        cells.append("not run yet" if full is None else "beyond budget" if values is None
                     else "{:.0f} ± {:.0f}".format(*_stats(values)))
    lines += ["| ours | " + " | ".join(cells) + " |", ""]
    for table, title in (("ablation", "ablation"), ("alpha", "fixed α₀ (no tuning)"),
                         ("entropy", "target entropy (α tuned)")):
        names = [n for n, (_, _, t) in ROWS.items() if t == table]
        if table == "alpha":
            names.insert(2, "fixed_alpha")  # α₀ = 0.2
        if table == "entropy":
            names.insert(1, "full")  # −dim(A)
        if not any(n in records for n in names if n != "full"):
            # A budget run for the sample-efficiency row alone: a table of "not run yet" says nothing.
            rows = " ".join(n for n in names if n != "full")
            lines += [f"The {title} table is not run at this budget "
                      f"(`python -m experiments.seed_tables --budget {budget} --rows {rows}`).", ""]
            continue
        lines += [f"| {title} | seed (1 M steps) | ours ({budget // 1000}k steps) | CV (std/mean) |",
                  "|---|---|---|---|"]
        for n in names:
            r = records.get(n)
            mean, std = _stats(r["final"]) if r else (math.nan, math.nan)
            cv = f"{std / abs(mean):.2f}" if r and mean else "—"
            lines.append(f"| {n} {_changes(n)} | {SEED_IN_TABLE.get((table, n), ROWS[n][1]):,} | {_cell(r)} | {cv} |")
        lines += ["", _order(records, names), ""] if table == "ablation" else [""]
    if full:
        mean, std = _stats(full["final"])
        lines += [f"Stability: coefficient of variation of the full row over {seeds} seeds: {std / abs(mean):.2f} "
                  f"(seed: {SEED_CV}, over 10 seeds at 1 M steps).", ""]
    png = out / device / "seed_tables" / f"{folder}.png"
    plot(records, png)
    lines += [f"![seed tables, {folder}]({harness.link(png, page_dir)})", ""]
    return lines


def _changes(row: str) -> str:
    changes = ROWS[row][0]
    return "(" + ", ".join(f"{k}={v}" for k, v in changes.items()) + ")" if changes else "(the base config)"


def render(out: Path, page_dir: Path = harness.ROOT) -> str:
    """The block of docs/seed_tables.md (links relative to page_dir)."""
    lines = ["<!-- generated by `python -m experiments.seed_tables --render --readme docs/seed_tables.md` -->", ""]
    groups = load(out)
    if not groups:
        lines.append("No rows run yet.")
    for (device, folder), records in sorted(groups.items()):
        lines += render_group(out, device, folder, records, page_dir)
    return "\n".join(lines) + "\n"


def plot(records: dict[str, dict[str, Any]], path: Path) -> None:
    """Mean eval return over seeds against env steps, one line per row run."""
    plt = harness.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in records.items():
        steps = [p["env_steps"] for p in r["curve"]]
        ax.plot(steps, [_stats(p["eval_return"])[0] for p in r["curve"]], label=name, lw=1.3)
    ax.set(xlabel="env steps (per agent)", ylabel="deterministic eval return (mean of seeds)", title="halfcheetah")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    harness.save(fig, path)


if __name__ == "__main__":
    sys.exit(main())
