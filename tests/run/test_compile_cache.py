"""The persistent compilation cache: a rerun of the same config loads its programs instead of
compiling them; --compile-cache "" turns it off. Each run is a fresh process (the cache folder is
process-wide JAX state, fixed at its first use)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import ROOT, TINY

# Counts JAX's cache hits during one CLI run and prints them last, as JSON.
RUN = """
import json, sys, jax
hits = []
jax.monitoring.register_event_listener(lambda event, **_: hits.append(event) if event.endswith("cache_hits") else None)
from gpu_sac.cli import train_main
try:
    train_main(sys.argv[1:])
except SystemExit as exit_:
    assert not exit_.code, exit_.code
print(json.dumps({"hits": len(hits)}))
"""


def run(tmp_path: Path, name: str, cache: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # the tiny programs compile in under 1 s
    args = [*TINY, "--total-steps", "256", "--run-dir", str(tmp_path / name), "--quiet", "--no-video",
            "--no-tensorboard", "--compile-cache", cache]
    done = subprocess.run([sys.executable, "-c", RUN, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["hits"]


def test_a_rerun_loads_its_programs_from_the_cache_and_an_empty_flag_turns_it_off(tmp_path):
    cache = tmp_path / "xla"
    assert run(tmp_path, "first", str(cache)) == 0
    entries = sorted(p.name for p in cache.iterdir())
    assert entries  # the run's programs were written
    # Init, the training chunk and the evaluation (at least) come back from disk.
    assert run(tmp_path, "second", str(cache)) >= 3
    assert run(tmp_path, "off", "") == 0


@pytest.mark.slow
def test_the_compile_cache_experiment_writes_a_record_of_both_runs(tmp_path):
    from experiments import compile_cache

    assert compile_cache.main(["--env", "pendulum", "--total-steps", "1024", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*/compile_cache/pendulum.json")
    record = json.loads(path.read_text())
    assert record["same_result"] and record["cache_bytes"] > 0
    assert record["cold"]["wall_s"] > 0 and record["warm"]["wall_s"] > 0
