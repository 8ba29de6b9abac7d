"""The start-up comparison runs end to end: each mode in fresh processes, alternated, both recorded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `experiments` is not a package

from experiments import startup  # noqa: E402


@pytest.mark.slow
def test_both_modes_are_timed_in_fresh_processes_and_recorded(tmp_path):
    assert startup.main(["--env", "pendulum", "--repeats", "1", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*/startup/pendulum.json")
    record = json.loads(path.read_text())
    assert set(record["runs"]) == {"serial", "concurrent"}
    assert all(len(r) == 1 and r[0]["compile_s"] > 0 and r[0]["ready_s"] >= r[0]["compile_s"]
               for r in record["runs"].values())
    assert record["serial_over_concurrent"] > 0
