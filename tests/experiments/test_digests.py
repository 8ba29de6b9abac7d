"""experiments/digests.py: --write then --check of the cheapest case agree; a perturbed record, state or
history, fails with the part named; the digest sees one bit of one leaf and a renamed keypath; the
committed record covers every case."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from experiments import digests

ROOT = Path(__file__).resolve().parents[2]


def cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "experiments.digests", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_check_matches_what_write_just_recorded_and_a_perturbed_record_fails(tmp_path, monkeypatch, capsys):
    record_path = tmp_path / "digests.json"
    wrote = cli("--write", str(record_path), "--cases", "plain")
    assert wrote.returncode == 0, wrote.stderr[-3000:]
    record = json.loads(record_path.read_text())
    case = record["cases"]["plain"]
    assert set(record["cases"]) == {"plain"} and record["env"]["platform"] == "cpu"
    assert all(len(case[k]) == 64 for k in ("state", "state_values", "history"))
    assert [r["env_steps"] for r in case["records"]] == [128, 256]
    assert not any(k in r for r in case["records"] for k in digests.CLOCK_FIELDS)

    # A second fresh process gives the same bits.
    checked = cli("--check", str(record_path), "--cases", "plain")
    assert checked.returncode == 0, checked.stdout + checked.stderr[-3000:]
    assert checked.stdout.strip().splitlines()[-1] == "plain: match"

    # A record with the state's agent and one figure of the history changed fails, naming both (the case's
    # run is the one just recorded, rather than a third training run).
    bad = copy.deepcopy(record)
    bad["cases"]["plain"]["state"] = bad["cases"]["plain"]["state_values"] = "0" * 64
    bad["cases"]["plain"]["parts"]["agent.actor_params"] = "0" * 64
    bad["cases"]["plain"]["history"] = "0" * 64
    bad["cases"]["plain"]["records"][1]["q"] += 1.0
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    monkeypatch.setattr(digests, "run_in_process", lambda name: {**case, "env": record["env"]})
    assert digests.main(["--check", str(bad_path), "--cases", "plain"]) == 1
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("plain: DIFFERS: state (parts agent.actor_params); history (chunk 1 q: "), line
    assert digests.main(["--check", str(record_path)]) == 2  # a case the record lacks: cannot compare
    assert digests.main(["--check", str(record_path), "--cases", "nope"]) == 2


def test_state_digest_sees_one_bit_and_a_renamed_keypath():
    state = {"agent": {"w": jnp.arange(6, dtype=jnp.float32).reshape(2, 3)}, "key": jnp.zeros((1, 2), jnp.uint32)}
    base = digests.state_digests(state)
    flipped = np.asarray(state["agent"]["w"]).copy()
    flipped.view(np.uint32)[0, 0] ^= 1
    one_bit = digests.state_digests({**state, "agent": {"w": jnp.asarray(flipped)}})
    assert one_bit["state"] != base["state"] and one_bit["parts"]["key"] == base["parts"]["key"]
    assert one_bit["parts"]["agent.w"] != base["parts"]["agent.w"]
    renamed = digests.state_digests({"agent": {"v": state["agent"]["w"]}, "key": state["key"]})
    assert renamed["state"] != base["state"] and renamed["state_values"] == base["state_values"]
    same, line = digests.compare("x", {**base, "history": "h"}, {**renamed, "history": "h"})
    assert not same and line == "x: DIFFERS: state (values identical, keypaths differ)"
    reshaped = digests.state_digests({**state, "agent": {"w": state["agent"]["w"].reshape(3, 2)}})
    assert reshaped["state_values"] != base["state_values"]  # same bytes, other shape


def test_history_digest_leaves_out_the_clock_and_keeps_nan():
    records = [{"chunk": 0, "env_steps": 128, "sps": 1000.0, "wall_s": 3.0, "q": float("nan"),
                "eval_return": [1.0, 2.0]}]
    later = [{**records[0], "sps": 5.0, "wall_s": 9.5}]
    assert digests.history_digest(records) == digests.history_digest(later)
    assert digests.history_digest(records) != digests.history_digest([{**records[0], "q": 0.0}])
    assert digests.history_json(records) == '[{"chunk": 0, "env_steps": 128, "eval_return": [1.0, 2.0], "q": NaN}]'


def test_clock_fields_are_every_metric_that_reads_the_clock():
    from gpu_sac.training.metrics import METRICS

    assert {m.name for m in METRICS if "second" in m.meaning} == set(digests.CLOCK_FIELDS)


def test_committed_record_covers_every_case():
    record = json.loads((ROOT / "experiments" / "results" / "digests.json").read_text())
    assert set(record["cases"]) == set(digests.CASES)
    for name, case in record["cases"].items():
        assert case["config"] == json.loads(json.dumps(digests.CASES[name].config_fields())), name
    assert record["clock_fields_removed"] == list(digests.CLOCK_FIELDS)
