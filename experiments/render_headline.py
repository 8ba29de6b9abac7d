"""The README's headline results, from the records: time to score (one row per case of
experiments/time_to_score.py that is not a sweep or a recipe study) and throughput (one row per
benchmark case and per end of its num_envs sweep), CPU and GPU, each row linking its records.

    python -m experiments.render_headline                     # print the block
    python -m experiments.render_headline --readme README.md  # and rewrite README.md's headline block

Nothing is typed by hand: every figure is read from a JSON record under experiments/results/; the
full tables are on docs/time_to_score.md and docs/throughput.md.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments import harness, render_benchmark, time_to_score  # noqa: E402

BLOCK = "headline"
STUDIES = ("-sweep", "-recipe")  # time-to-score cases that tune a preset or study the recipe: docs page only


def _device(records: list[dict[str, Any]]) -> str:
    return records[0]["device"]["name"]


def _seconds(runs: list[dict[str, Any]], threshold: str) -> str:
    median, hits = time_to_score.time_to(runs, threshold)
    return f"{'—' if median == math.inf else f'{median:.0f} s'} ({hits}/{len(runs)})"


def _arm(runs: list[dict[str, Any]]) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """The arm shown: "same" (both trainers at the same settings) where it ran, else the first arm
    that gpu_sac ran; its runs by trainer."""
    arms: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in runs:
        arms.setdefault(r["arm"], {}).setdefault(r["trainer"], []).append(r)
    name = "same" if "same" in arms else min(a for a, t in arms.items() if "gpu_sac" in t)
    return name, arms[name]


def _threshold(ours: list[dict[str, Any]]) -> str:
    """The highest return that half or more of gpu_sac's runs reached (the lowest when none did)."""
    thresholds = list(ours[0]["thresholds"])
    reached = [t for t in thresholds if time_to_score.time_to(ours, t)[0] < math.inf]
    return max(reached, key=float) if reached else min(thresholds, key=float)


def time_to_score_rows(out: Path, page_dir: Path) -> list[str]:
    rows = []
    groups = sorted(time_to_score.load(out).items(), key=lambda kv: (kv[1][0]["device"]["platform"] != "cpu", kv[0]))
    for (_, case), runs in groups:
        if case.endswith(STUDIES) or not any(r["trainer"] == "gpu_sac" for r in runs):
            continue
        arm, by = _arm(runs)
        ours, brax = by["gpu_sac"], by.get("brax_sac")
        t = _threshold(ours)
        ratio = time_to_score._ratio(brax, ours, t) if brax else "—"
        ends = [r["return_at_budget"] for r in ours if r["return_at_budget"] is not None]
        end = f"{sum(ends) / len(ends):,.0f}" if ends else "—"
        folder = ours[0]["path"].parent
        rows.append(f"| {_device(runs)} | {ours[0]['env']} | {arm} | ≥ {float(t):,g} | {_seconds(ours, t)} | "
                    f"{_seconds(brax, t) if brax else '—'} | {ratio} | {end} | "
                    f"[{len(runs)} record{'s' * (len(runs) != 1)}]({harness.link(folder, page_dir)}) |")
    if not rows:
        return ["No time-to-score records yet.", ""]
    return ["**Time to score**: wall-clock from the start of a run (compile and evaluations included) to the "
            "first deterministic evaluation at or above the return shown, median over seeds (reached/run); "
            "\"same\": both trainers at the same settings. Return: the highest that half or more of gpu_sac's "
            "runs reached. All arms and returns: [docs/time_to_score.md]"
            f"({harness.link(harness.DOCS / 'time_to_score.md', page_dir)}).", "",
            "| device | env | arm | return | gpu_sac | Brax SAC | Brax ÷ gpu_sac | gpu_sac's return at the end (mean) "
            "| records |",
            "|---|---|---|---|---|---|---|---|---|", *rows, ""]


def _sps(record: dict[str, Any] | None, page_dir: Path) -> str:
    if record is None:
        return "–"
    text = render_benchmark.fmt_num(render_benchmark.sps(record)) + (" †" if render_benchmark.contended(record) else "")
    return f"[{text}]({harness.link(record['_path'], page_dir)})"


def throughput_rows(out: Path, page_dir: Path) -> list[str]:
    rows, contended = [], False
    groups = sorted(render_benchmark.load(out).items(), key=lambda kv: (kv[1][0]["device"]["platform"] != "cpu", kv[0]))
    for (_, case), records in groups:
        by = render_benchmark.index(records)
        sweeps = max(records, key=lambda r: r["date"])["case_sweeps"]
        u = sweeps["updates"][0]
        ends = sorted({min(sweeps["num_envs"]), max(sweeps["num_envs"])})
        points = [n for n in ends if ("gpu_sac", n, u, 1) in by] or [n for n in ends if ("raw_sim", n, 0, 1) in by][:1]
        for n in points:
            g, b, raw = by.get(("gpu_sac", n, u, 1)), by.get(("brax_sac", n, u, 1)), by.get(("raw_sim", n, 0, 1))
            contended |= any(render_benchmark.contended(r) for r in (g, b, raw))
            ratio = render_benchmark.ratio(render_benchmark.sps(g), render_benchmark.sps(b))
            rows.append(f"| {_device(records)} | {case} | {n} | {u if g else '–'} | {_sps(g, page_dir)} | "
                        f"{_sps(b, page_dir)} | {ratio} | {_sps(raw, page_dir)} |")
    if not rows:
        return ["No benchmark records yet.", ""]
    return ["**Throughput**: env steps per second of training (one agent), median of the timed chunks, at each end "
            "of a case's num_envs sweep; the raw simulator steps the same envs with random actions and no "
            "learning. Each figure links its record; every case in full: "
            f"[docs/throughput.md]({harness.link(harness.DOCS / 'throughput.md', page_dir)}).", "",
            "| device | case | envs | updates per vectorised step | gpu_sac | Brax SAC | gpu_sac ÷ Brax "
            "| raw simulator |",
            "|---|---|---|---|---|---|---|---|", *rows, "",
            *(["† taken while other processes used more than 10 % of the CPUs.", ""] if contended else [])]


def render(out: Path, page_dir: Path = harness.ROOT) -> str:
    """The README's headline block; links relative to page_dir (the folder of the page it goes into)."""
    return "\n".join(["<!-- generated by `python -m experiments.render_headline --readme README.md` -->", "",
                      *time_to_score_rows(out, page_dir), *throughput_rows(out, page_dir)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_out_argument(parser)
    parser.add_argument("--readme", type=Path, metavar="PAGE", help=f"also rewrite this file's {BLOCK} block")
    args = parser.parse_args(argv)
    block = render(args.out, harness.page_dir(args.readme))
    print(block)
    if args.readme:
        harness.write_block(args.readme, BLOCK, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
