"""experiments/update_probe.py: times the recipe's update on random data at G1's sizes (tiny here)."""

from __future__ import annotations

import json
import math

from experiments import update_probe


def test_the_probe_times_each_variant_and_writes_them(tmp_path):
    out = tmp_path / "probe.json"
    assert update_probe.main(["--batch", "16", "--updates", "2", "--repeats", "1",
                              "--variants", "fastsac", "scalar_float32", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["batch"] == 16 and record["dims"] == update_probe.G1_DIMS
    for name in ("fastsac", "scalar_float32"):
        variant = record["variants"][name]
        assert variant["ms_per_update"] > 0 and math.isfinite(variant["final_loss"])
