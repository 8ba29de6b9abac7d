"""MJX against MuJoCo Warp, from the records: raw simulator and gpu_sac steps/s (benchmark presets
physics-cpu / physics-gpu), command to first chunk with the caches cold and warm (startup --physics), and
XLA's cost analysis of gpu_sac's program (program_cost, in the gpu_sac records).

    python -m experiments.render_physics                     # writes docs/physics.md
    python -m experiments.render_physics --readme docs/envs.md  # and that page's physics block (headline rows)

Nothing is typed by hand: every figure is read from a JSON record under experiments/results/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments import harness  # noqa: E402
from experiments.render_benchmark import sps  # noqa: E402

DOC = harness.DOCS / "physics.md"
IMPLS = {"jax": "MJX", "warp": "Warp"}


def _records(results: Path) -> list[dict[str, Any]]:
    out = []
    for path, record in harness.load_records(results, "*/*/*.json"):
        impl = record.get("case", "").rsplit("-", 1)[-1]  # the physics cases are named ENV-jax, ENV-warp
        if record.get("schema") == 1 and impl in IMPLS:
            record["_path"], record["_impl"] = path, impl
            out.append(record)
    return out


def _fmt(x: float | None, digits: int = 0) -> str:
    return "" if x is None else f"{x:,.{digits}f}"


def _link(record: dict[str, Any] | None, text: str, page_dir: Path) -> str:
    return text if record is None or not text else f"[{text}]({harness.link(record['_path'], page_dir)})"


def throughput_rows(records: list[dict[str, Any]], page_dir: Path = DOC.parent) -> dict[str, list[str]]:
    """Per device: one row per (env, trainer, num_envs): MJX, Warp, Warp/MJX, compile of each; records
    linked relative to page_dir (the folder of the page the rows are written into)."""
    by: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in records:
        key = (r["_path"].parent.parent.name, r["env"], r["trainer"], r["point"]["num_envs"],
               r["point"]["grad_updates_per_step"])
        by.setdefault(key, {})[r["_impl"]] = r
    out: dict[str, list[str]] = {}
    for (device, env, trainer, n, u), pair in sorted(by.items()):
        mjx, warp = pair.get("jax"), pair.get("warp")
        ratio = sps(warp) / sps(mjx) if mjx and warp else None
        any_record = warp or mjx
        foreign = max((x["contention"]["max_foreign_cpu_share"] or 0.0) for x in pair.values())
        what = {"raw_sim": "raw simulator", "raw_sim_vmap": "raw simulator, one vmap", "gpu_sac": f"gpu_sac, U={u}"}
        out.setdefault(device, [f"On {any_record['device']['name']}:", "",
                                "| env | what | envs | MJX env steps/s | Warp env steps/s | Warp / MJX | "
                                "compile MJX / Warp (s) | foreign CPU |",
                                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"])
        compile_s = " / ".join(_fmt(x["figures"]["compile_s"], 1) if x else "" for x in (mjx, warp))
        out[device].append(
            f"| {env} | {what.get(trainer, trainer)} | {n} | {_link(mjx, _fmt(sps(mjx)), page_dir)} | "
            f"{_link(warp, _fmt(sps(warp)), page_dir)} | {_fmt(ratio, 2)} | {compile_s} | {foreign:.0%} |")
    return out


def startup_rows(results: Path, page_dir: Path = DOC.parent) -> list[str]:
    rows = []
    for path, r in harness.load_records(results, "*/startup/*-physics.json"):
        for impl, runs in r["runs"].items():
            cold, warm = runs.get("cold"), runs.get("warm")
            rows.append(
                f"| {r['device']['name']} | [{r['env']}]({harness.link(path, page_dir)}) ({r['preset']}) | "
                f"{IMPLS[impl]} | "
                + " | ".join(_fmt(x["command_to_first_chunk_s"], 1) if x else "" for x in (cold, warm))
                + f" | {_fmt((warm or cold or {}).get('xla_cache_bytes', 0) / 2**20, 1)} | "
                + f"{_fmt((warm or cold or {}).get('warp_kernel_cache_bytes', 0) / 2**20, 1)} |")
    if not rows:
        return []
    return ["| device | env (preset) | physics | cold (s) | warm (s) | XLA cache (MiB) | Warp kernels (MiB) |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: |", *rows]


def cost_rows(records: list[dict[str, Any]], page_dir: Path = DOC.parent) -> list[str]:
    rows = []
    for r in records:
        c = r.get("program_cost")
        if not c:
            continue
        rows.append(f"| {r['device']['name']} | {r['env']} | {IMPLS[r['_impl']]} | "
                    f"{r['point']['num_envs']} | {_fmt(c['flops_per_env_step'] / 1e3, 1)} | "
                    f"{_fmt(c['bytes_per_env_step'] / 1e3, 1)} | {_fmt(c['flops_per_update'] / 1e6, 1)} | "
                    f"{_fmt(c['bytes_per_update'] / 1e6, 2)} | {c['ffi_calls_per_step']} | "
                    f"{_link(r, str(c['host_transfers_in_chunk']), page_dir)} |")
    if not rows:
        return []
    return ["| device | env | physics | envs | kflop / env step | kB / env step | Mflop / update | MB / update | "
            "custom calls / step | host transfers in the chunk |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", *rows]


def render(results: Path, page_dir: Path = DOC.parent) -> str:
    """docs/physics.md, whole; records linked relative to page_dir (the page's folder)."""
    records = _records(results)
    lines = ["# Physics: MJX against MuJoCo Warp", "",
             "<!-- generated by `python -m experiments.render_physics`: every figure from a record -->", "",
             "## Throughput", "",
             "`python -m experiments.benchmark --preset physics-cpu` (CPU) and `--preset physics-gpu` (GPU; "
             "`bash experiments/gpu_session.sh all`). Medians of the timed chunks; each cell links its record.", ""]
    for rows in throughput_rows(records, page_dir).values():
        lines += [*rows, ""]
    startup = startup_rows(results, page_dir)
    lines += ["## From the command to the first chunk", "",
              "`python -m experiments.startup --env ENV --physics jax warp`: a fresh process each, first with empty "
              "JAX compilation and Warp kernel caches (cold), then the same command again (warm).", ""]
    lines += startup + [""] if startup else ["No record yet.", ""]
    cost = cost_rows(records, page_dir)
    lines += ["## XLA's cost analysis of gpu_sac's program", "",
              "`experiments/program_cost.py`: per env step, one vectorised collect step over its envs; per update, "
              "one SAC update. XLA counts a loop's body once (an MJX solver's iterations count as one) and cannot "
              "see into Warp's kernels (FFI calls), so compare configs of one physics, not the two physics.", ""]
    lines += cost + [""] if cost else ["No record yet.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_out_argument(parser)
    parser.add_argument("--doc", type=Path, default=DOC, help="the Markdown page to write")
    parser.add_argument("--readme", type=Path, metavar="PAGE",
                        help="also rewrite this file's physics block (the throughput rows; its page: docs/envs.md)")
    args = parser.parse_args(argv)
    text = render(args.out, harness.page_dir(args.doc))
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text)
    print(f"wrote {args.doc}")
    if args.readme:
        page = harness.page_dir(args.readme)
        rows = [line for rows in throughput_rows(_records(args.out), page).values() for line in rows]
        doc = harness.link(args.doc, page)
        block = "\n".join([*rows, "", f"More (start-up, cost analysis): [{doc}]({doc}).", ""])
        harness.write_block(args.readme, "physics", block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
