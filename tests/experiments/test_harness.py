"""experiments/harness.py: records written atomically and read back, where a record lies, the CPU shares,
spread, a call in a fresh process, and the generated blocks of a page with their links."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from experiments import harness

CPU = {"platform": "cpu", "device_kind": "cpu", "host_cpu": "AMD EPYC 7B13", "host_cpus": 2}


def test_a_record_round_trips_through_its_device_folder(tmp_path):
    path = harness.record_path(tmp_path, CPU, "seed_tables", "cpu_100000", "alpha_0.5")
    assert path == tmp_path / "cpu-amd-epyc-7b13-2c" / "seed_tables" / "cpu_100000" / "alpha_0.5.json"
    record = {"sps": np.array([1.5, 2.0]), "steps": np.int64(3), "out": Path("/x"), "nan": float("nan")}
    assert harness.write_record(path, record) == path
    text = path.read_text()
    assert text.endswith("}\n") and text.startswith("{\n \"sps\"")  # indent 1, one newline at the end
    harness.write_record(path.with_name("full.json"), {"row": "full"})
    loaded = harness.load_records(tmp_path, "*/seed_tables/*/*.json")
    assert [p.name for p, _ in loaded] == ["alpha_0.5.json", "full.json"]
    first = loaded[0][1]
    assert first["sps"] == [1.5, 2.0] and first["steps"] == 3 and first["out"] == "/x" and first["nan"] != first["nan"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["alpha_0.5.json", "full.json"]  # no file left over


def test_a_record_that_cannot_be_written_leaves_the_old_one_whole(tmp_path):
    path = tmp_path / "r.json"
    harness.write_record(path, {"a": 1})
    circular: dict = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular"):
        harness.write_record(path, circular)
    assert json.loads(path.read_text()) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_spread_and_a_curve_per_seed():
    assert harness.spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0,
                                                      "values": [3.0, 1.0, 2.0, 10.0]}
    assert harness.spread([]) == {"median": None, "min": None, "max": None, "values": []}
    history = [{"env_steps": 8, "wall_s": 1.5, "eval_return": 2, "q": 0.0},
               {"env_steps": 16, "wall_s": 3.0, "eval_return": [2.0, float("nan")]}]
    assert harness.curve(history, "eval_return", "alpha") == [
        {"env_steps": 8, "wall_s": 1.5, "eval_return": [2.0], "alpha": [None]},
        {"env_steps": 16, "wall_s": 3.0, "eval_return": [2.0, None], "alpha": [None]}]


def test_cpu_shares_split_busy_time_into_this_process_and_the_others():
    ticks = harness.CpuMonitor.HZ * harness.CpuMonitor.NCPU  # all CPUs' ticks in one second
    a, b = (10.0, 1000, 50), (11.0, 1000 + ticks // 2, 50 + ticks // 4)
    foreign, own = harness.CpuMonitor.shares(a, b)
    assert own == pytest.approx(0.25, abs=0.01) and foreign == pytest.approx(0.25, abs=0.01)
    assert harness.CpuMonitor.shares(a, (10.1, 2000, 60)) == (None, None)  # too short a window to tell
    assert harness.CpuMonitor.shares(None, b) == (None, None)


def test_a_call_in_a_fresh_process_returns_its_value_or_fails_with_its_error():
    assert harness.call_in_child("os.path", "join", "a", "b") == "a/b"
    with pytest.raises(harness.ChildFailed, match=r"os\.path\.join\(1\) failed \(exit 1\):(.|\n)*TypeError"):
        harness.call_in_child("os.path", "join", 1)


def test_the_block_writer_replaces_one_block_and_links_from_the_page_folder(tmp_path, capsys):
    page = tmp_path / "docs" / "x.md"
    page.parent.mkdir()
    begin, end = harness.markers("x")
    page.write_text(f"head\n{begin}\nold\n{end}\ntail\n")
    args = argparse.Namespace(render=True, readme=page, out=tmp_path / "results")
    record = tmp_path / "results" / "cpu" / "r.json"

    def render(out: Path, page_dir: Path) -> str:
        return f"[r]({harness.link(out / 'cpu' / 'r.json', page_dir)})\n"

    assert harness.render_if_asked(args, "x", render)
    assert page.read_text() == f"head\n{begin}\n[r](../results/cpu/r.json)\n{end}\ntail\n"
    assert (page.parent / "../results/cpu/r.json").resolve() == record.resolve()
    assert "[r](../results/cpu/r.json)" in capsys.readouterr().out
    assert not harness.render_if_asked(argparse.Namespace(render=False), "x", render)
    with pytest.raises(SystemExit, match="no <!-- y:begin -->"):
        harness.write_block(page, "y", "new\n")
