"""Render the benchmark's JSON records as Markdown tables and a PNG plot per device and case.

    python -m experiments.render_benchmark                              # experiments/results/BENCHMARK.md
    python -m experiments.render_benchmark --readme docs/throughput.md  # and that page's block between
                                                # <!-- benchmark:begin --> and <!-- benchmark:end -->

Nothing here is typed by hand: every figure comes from a record written by
`python -m experiments.benchmark`. Cells read "median (min–max)" over the timed repeats; a figure
taken while other processes used more than 10 % of the CPUs is marked with †.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments import harness  # noqa: E402

BEGIN, END = harness.markers("benchmark")
CONTENDED = 0.10
# Speed targets of issue 4.
TARGET_VS_BRAX = {"cpu": 1.5, "gpu": 3.0}
TARGET_COLLECT = 0.90
TARGET_SEEDS = 0.80
TRAINER_LABEL = {
    "raw_sim": "raw simulator",
    "gpu_sac": "gpu_sac",
    "brax_sac": "Brax SAC",
    "gpu_sac_collect": "gpu_sac, no updates",
    "raw_sim_vmap": "raw simulator, one vmapped batch",
}


def load(results: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Records grouped by (device folder, case), from results/<device>/<case>/*.json."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for path, record in harness.load_records(results, "*/*/*.json"):
        if record.get("schema") != 1 or "case" not in record:  # other experiments' records (scaling, her)
            continue
        record["_path"] = path
        groups[(path.parent.parent.name, record["case"])].append(record)
    return dict(groups)


def index(records: list[dict[str, Any]]) -> dict[tuple[str, int, int, int], dict[str, Any]]:
    out = {}
    for r in records:
        p = r["point"]
        out[(r["trainer"], p["num_envs"], p["grad_updates_per_step"], p["num_seeds"])] = r
    return out


def sps(record: dict[str, Any] | None) -> float | None:
    return None if record is None else record["figures"]["env_steps_per_s"]["median"]


def contended(record: dict[str, Any] | None) -> bool:
    share = None if record is None else record["contention"].get("max_foreign_cpu_share")
    return share is not None and share > CONTENDED


def fmt_num(x: float | None) -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(record: dict[str, Any] | None, figure: str = "env_steps_per_s") -> str:
    if record is None:
        return "–"
    f = record["figures"][figure]
    text = f"{fmt_num(f['median'])} ({fmt_num(f['min'])}–{fmt_num(f['max'])})"
    return text + (" †" if contended(record) else "")


def ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def mib(x: int | None) -> str:
    return "–" if x is None else f"{x / 2**20:,.1f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def device_class(records: list[dict[str, Any]]) -> str:
    return "cpu" if records[0]["device"]["platform"] == "cpu" else "gpu"


def config_line(records: list[dict[str, Any]]) -> str:
    ref = next((r for r in records if r["trainer"] == "gpu_sac"), records[0])
    c = ref["config"]
    timing = (f"{len(ref['figures']['env_steps_per_s']['values'])} timed chunks of {ref['chunk']['iterations']} "
              f"vectorised steps each (at num_envs={ref['point']['num_envs']})")
    if "buffer_size" not in c:  # the raw simulator alone: no learner settings to show
        policy = c.get("policy", "raw simulator")
        return f"`{ref['env']}`; {policy}, episodes of {c.get('episode_length')} steps; {timing}"
    return (
        f"`{ref['env']}`; networks {tuple(c.get('hidden_sizes', ()))}, batch {c.get('batch_size')}, "
        f"replay capacity {c.get('buffer_size'):,}, min replay {c.get('min_replay_size'):,}, "
        f"LayerNorm critics {'on' if c.get('critic_layer_norm') else 'off'}, obs normalisation "
        f"{'on' if c.get('normalize_observations') else 'off'}, episodes of {c.get('episode_length')} steps; "
        f"{timing}"
    )


def render_group(
    device_dir: str, case: str, records: list[dict[str, Any]], png: Path | None, md_dir: Path
) -> list[str]:
    by = index(records)
    sweeps = max(records, key=lambda r: r["date"])["case_sweeps"]
    device = records[0]["device"]["name"]
    versions = records[0]["versions"]
    u0 = sweeps["updates"][0]
    cls = device_class(records)
    out = [f"### {case} on {device}", ""]
    out.append(records[0].get("case_description", "") + ". " + config_line(records) + ".")
    out.append("")
    out.append(
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ". "
        f"Dates: {min(r['date'] for r in records)[:10]} to {max(r['date'] for r in records)[:10]}."
    )
    out.append("")
    if png is not None:
        out += [f"![env steps/s against num_envs, {case}, {device}]({harness.link(png, md_dir)})", ""]

    # num_envs sweep
    # The raw simulator stepped as one vmapped batch (as Brax SAC steps), where the case steps gpu_sac
    # and the raw simulator in groups: a column of its own, so that both limits are on the page.
    with_vmap = any(r["trainer"] == "raw_sim_vmap" for r in records)
    rows = []
    for n in sweeps["num_envs"]:
        g, b, raw = by.get(("gpu_sac", n, u0, 1)), by.get(("brax_sac", n, u0, 1)), by.get(("raw_sim", n, 0, 1))
        rows.append([
            str(n), cell(g), cell(b), ratio(sps(g), sps(b)), cell(raw), ratio(sps(g), sps(raw)),
            *([cell(by.get(("raw_sim_vmap", n, 0, 1)))] if with_vmap else []),
            cell(g, "updates_per_s"), cell(b, "updates_per_s"),
            " / ".join(fmt_num(r["figures"]["compile_s"]) if r else "–" for r in (g, b, raw)),
        ])
    out += [f"**Env steps per second against num_envs** ({u0} update(s) per vectorised step, one agent)", ""]
    out += table(
        ["num_envs", "gpu_sac", "Brax SAC", "gpu_sac / Brax", "raw simulator", "gpu_sac / raw",
         *(["raw simulator, one vmapped batch"] if with_vmap else []),
         "gpu_sac updates/s", "Brax updates/s", "compile s (gpu_sac / Brax / raw)"],
        rows,
    )
    out.append("")

    # updates sweep (a case that sweeps them)
    if len(set(sweeps["updates"])) > 1:
        n = sweeps["updates_at"]
        rows = []
        for u in sorted(set(sweeps["updates"])):
            g, b = by.get(("gpu_sac", n, u, 1)), by.get(("brax_sac", n, u, 1))
            rows.append(
                [str(u), cell(g), cell(b), ratio(sps(g), sps(b)), cell(g, "updates_per_s"), cell(b, "updates_per_s")]
            )
        out += [f"**Gradient updates per vectorised step** (num_envs={n})", ""]
        out += table(["updates per step", "gpu_sac env steps/s", "Brax SAC env steps/s", "gpu_sac / Brax",
                      "gpu_sac updates/s", "Brax updates/s"], rows)
        out.append("")

    # seeds sweep (a case that sweeps them)
    if len(sweeps["seeds"]) > 1:
        n = sweeps["seeds_at"]
        single = sps(by.get(("gpu_sac", n, u0, 1)))
        rows = []
        for s in sweeps["seeds"]:
            g = by.get(("gpu_sac", n, u0, s))
            total = sps(g)
            scale = "–" if total is None or not single else f"{total / single:.2f} (≥ {TARGET_SEEDS * s:.1f} wanted)"
            rows.append([str(s), cell(g), fmt_num(None if total is None else total / s), scale])
        out += [
            f"**Seeds trained at once** (`SACConfig(num_seeds=S)`, num_envs={n} per agent, {u0} update(s) per step)", ""
        ]
        out += table(["S", "env steps/s, all agents", "per agent", "throughput / single agent"], rows)
        out.append("")

    # collection (a case that measures it)
    if sweeps["collect_at"]:
        rows = []
        for n in sweeps["collect_at"]:
            c, raw = by.get(("gpu_sac_collect", n, 0, 1)), by.get(("raw_sim", n, 0, 1))
            rows.append([str(n), cell(c), cell(raw), ratio(sps(c), sps(raw))])
        out += ["**Collection against the raw simulator** (gpu_sac with gradient updates off; raw: vmapped "
                "step of the same env with random actions)", ""]
        out += table(["num_envs", "gpu_sac, no updates", "raw simulator", "ratio"], rows)
        out.append("")

    # memory
    rows = []
    for r in sorted(records, key=lambda r: (r["trainer"], r["point"]["num_envs"], r["point"]["grad_updates_per_step"],
                                             r["point"]["num_seeds"])):
        if r["trainer"].startswith("raw_sim"):
            continue
        p = r["point"]
        rows.append([TRAINER_LABEL[r["trainer"]], str(p["num_envs"]), str(p["grad_updates_per_step"]),
                     str(p["num_seeds"]), str(r["figures"]["replay_bytes_per_transition"]),
                     mib(r["figures"]["resident_bytes"]), mib(r["figures"]["peak_device_bytes"])])
    out += ["**Memory** (resident: live device arrays between chunks, above what was live before; peak: the "
            "device's running peak, where it reports one)", ""]
    out += table(["trainer", "num_envs", "updates/step", "seeds", "replay bytes/transition", "resident MiB",
                  "peak device MiB"], rows)
    out.append("")
    out += targets(by, sweeps, cls)
    if any(contended(r) for r in records):
        out += ["", "† taken while other processes used more than 10 % of the CPUs: slower than the machine can do."]
    out.append("")
    return out


def targets(by: dict, sweeps: dict[str, Any], cls: str) -> list[str]:
    """Each speed target of issue 4 with the measured figure beside it."""
    u0 = sweeps["updates"][0]
    rows = []
    want = TARGET_VS_BRAX[cls]
    pairs = sorted({(n, u0) for n in sweeps["num_envs"]} | {(sweeps["updates_at"], u) for u in sweeps["updates"]})
    for n, u in pairs:
        g, b = sps(by.get(("gpu_sac", n, u, 1))), sps(by.get(("brax_sac", n, u, 1)))
        if g and b:
            rows.append([f"env steps/s ≥ {want}× Brax SAC (num_envs={n}, {u} update(s)/step)", f"{g / b:.2f}×",
                         "yes" if g / b >= want else "no"])
    for n in sweeps["collect_at"]:
        c, raw = sps(by.get(("gpu_sac_collect", n, 0, 1))), sps(by.get(("raw_sim", n, 0, 1)))
        if c and raw:
            rows.append([f"collection ≥ {TARGET_COLLECT:.0%} of the raw simulator (num_envs={n})", f"{c / raw:.0%}",
                         "yes" if c / raw >= TARGET_COLLECT else "no"])
    ours = [r for k, r in by.items() if k[0] == "gpu_sac"]
    theirs = [r for k, r in by.items() if k[0] == "brax_sac"]
    if ours and theirs:
        a = ours[0]["figures"]["replay_bytes_per_transition"]
        b = theirs[0]["figures"]["replay_bytes_per_transition"]
        rows.append(["replay bytes per transition ≤ Brax's", f"{a} vs {b}", "yes" if a <= b else "no"])
    n = sweeps["seeds_at"]
    single = sps(by.get(("gpu_sac", n, u0, 1)))
    for s in sweeps["seeds"]:
        total = sps(by.get(("gpu_sac", n, u0, s)))
        if s > 1 and total and single:
            rows.append([f"{s} seeds at once ≥ {TARGET_SEEDS * s:.1f}× one agent's env steps/s (num_envs={n})",
                         f"{total / single:.2f}×", "yes" if total / single >= TARGET_SEEDS * s else "no"])
    if not rows:  # a case without the points the targets compare (one trainer, one point)
        return []
    return ["**Targets** (issue 4)", ""] + table(["target", "measured", "met"], rows)


def plot(records: list[dict[str, Any]], sweeps: dict[str, Any], path: Path, title: str) -> None:
    plt = harness.pyplot()
    by = index(records)
    u0 = sweeps["updates"][0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lines = [
        ("raw_sim", 0, "raw simulator (no learning)", "k", "s"),
        ("raw_sim_vmap", 0, "raw simulator, one vmapped batch (as Brax steps)", "tab:gray", "x"),
        ("gpu_sac_collect", 0, "gpu_sac, no updates", "tab:green", "^"),
        ("gpu_sac", u0, f"gpu_sac ({u0} update/step)", "tab:blue", "o"),
        ("brax_sac", u0, f"Brax SAC ({u0} update/step)", "tab:orange", "D"),
    ]
    for trainer, u, label, color, marker in lines:
        xs, ys, lo, hi = [], [], [], []
        for n in sorted({r["point"]["num_envs"] for r in records}):
            r = by.get((trainer, n, u, 1))
            if r is None:
                continue
            f = r["figures"]["env_steps_per_s"]
            xs.append(n)
            ys.append(f["median"])
            lo.append(f["median"] - f["min"])
            hi.append(f["max"] - f["median"])
        if xs:
            ax.errorbar(xs, ys, yerr=[lo, hi], label=label, color=color, marker=marker, capsize=3,
                        linestyle="--" if trainer in ("raw_sim", "raw_sim_vmap", "gpu_sac_collect") else "-")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("num_envs (parallel envs per agent)")
    ax.set_ylabel("env steps per second")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    harness.save(fig, path, dpi=120)


def render(results: Path, md_path: Path, with_png: bool = True, write_png: bool = True) -> str:
    """Markdown for every (device, case) in results; image links relative to md_path's folder."""
    groups = load(results)
    lines = [
        "<!-- generated by `python -m experiments.render_benchmark --readme docs/throughput.md` from "
        "experiments/results/*/*/*.json -->",
        "",
    ]
    if not groups:
        lines.append("No benchmark records yet: run `python -m experiments.benchmark`.")
    for (device_dir, case), records in sorted(groups.items()):
        sweeps = max(records, key=lambda r: r["date"])["case_sweeps"]
        png = results / device_dir / case / "throughput.png" if with_png else None
        if png is not None and write_png:
            plot(records, sweeps, png, f"{case}: {records[0]['device']['name']}")
        lines += render_group(device_dir, case, records, png, md_path.parent)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the benchmark records as Markdown and PNG.")
    parser.add_argument("--results", type=Path, default=harness.RESULTS)
    parser.add_argument("--out", type=Path, help="Markdown file (default: <results>/BENCHMARK.md)")
    parser.add_argument("--readme", type=Path, metavar="PAGE",
                        help=f"also replace the {BEGIN} ... {END} block of this file (its page: docs/throughput.md)")
    parser.add_argument("--no-png", action="store_true")
    args = parser.parse_args(argv)
    out = args.out or args.results / "BENCHMARK.md"
    text = render(args.results, out, with_png=not args.no_png)
    out.write_text(text)
    print(f"wrote {out}")
    if args.readme is not None:
        block = render(args.results, args.readme, with_png=not args.no_png, write_png=False)
        harness.write_block(args.readme, "benchmark", block)
        print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
