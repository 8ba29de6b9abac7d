"""The interleaved replay-layout comparison runs end to end on a tiny pendulum config: both layouts
fill their ring, learn in every timed chunk, and the record holds the per-pair ratios."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `experiments` is not a package

from experiments import replay_ab  # noqa: E402


def test_interleaved_plain_and_compact_chunks_are_recorded(tmp_path):
    assert replay_ab.main(["--env", "pendulum", "--pairs", "2", "--buffer-size", "512", "--chunk-steps", "128",
                           "--num-envs", "4", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*/replay_ab/pendulum.json")
    record = json.loads(path.read_text())
    assert [c["replay_layout"] for c in record["config"].values()] == ["plain", "compact"]
    assert all(len(v["values"]) == 2 for v in record["env_steps_per_s"].values())
    ratios = record["compact_over_plain"]["values"]
    assert ratios == [c / p for p, c in zip(record["env_steps_per_s"]["plain"]["values"],
                                            record["env_steps_per_s"]["compact"]["values"], strict=True)]
    assert record["bytes_per_transition"]["compact"] < record["bytes_per_transition"]["plain"]
    assert record["setup"]["plain"]["fill_chunks"] >= 512 // 128
