"""Two processes, one run (gpu_sac.run.distributed): jax.distributed on localhost, 2 forced CPU devices per
process, 4 in the mesh. Every process is a subprocess started here, with a timeout and a kill at the end."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
           PYTHONUNBUFFERED="1")
TINY = ["--env", "pendulum", "--num-envs", "8", "--steps-per-chunk", "128", "--hidden-sizes", "32", "32",
        "--batch-size", "32", "--buffer-size", "1024", "--min-replay-size", "64", "--start-steps", "64",
        "--eval-episodes", "2", "--episode-length", "50", "--num-devices", "4", "--normalize-observations",
        "--progress", "lines", "--no-video", "--no-tensorboard"]


def port() -> int:
    return random.randint(20000, 40000)


def start(args: list[str], out: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=open(out.with_suffix(".out"), "w"),
                            stderr=open(out.with_suffix(".err"), "w"), start_new_session=True)


def finish(procs: list[subprocess.Popen], timeout: float) -> list[int]:
    """Exit codes; whatever is still running after `timeout` s is killed (and the test fails)."""
    deadline = time.monotonic() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for q in procs:
                os.killpg(q.pid, signal.SIGKILL)
            pytest.fail(f"process {p.args} still running after {timeout} s")
    return codes


def cluster(address: str, i: int) -> list[str]:
    return ["--coordinator-address", address, "--num-processes", "2", "--process-id", str(i), "--heartbeat-timeout-s",
            "5"]


def test_two_processes_train_one_agent(tmp_path):
    """Both processes end with the same parameters (each its own copy), and the run matches the same
    config on 4 devices of one process (to float32 rounding: gloo's all-reduce sums in another order)."""
    address = f"localhost:{port()}"
    worker = ROOT / "tests" / "run" / "distributed_worker.py"
    procs = [start([sys.executable, str(worker), address.split(":")[1], str(i), str(tmp_path / "run")],
                   tmp_path / f"p{i}") for i in range(2)]
    codes = finish(procs, 300)
    logs = [(tmp_path / f"p{i}.err").read_text()[-3000:] for i in range(2)]
    assert codes == [0, 0], logs
    lines = [json.loads((tmp_path / f"p{i}.out").read_text().strip().splitlines()[-1]) for i in range(2)]
    assert lines[0]["digest"] == lines[1]["digest"]
    assert lines[0]["devices"] == 4 and lines[0]["chunks"] == 3
    # Process 0 wrote the run directory, every process its share of each checkpoint.
    run = tmp_path / "run"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["128", "256", "384"]
    single = subprocess.run([sys.executable, "-c", SINGLE], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(ENV, XLA_FLAGS="--xla_force_host_platform_device_count=4"))
    assert single.returncode == 0, single.stderr[-3000:]
    np.testing.assert_allclose(float(single.stdout.split()[-1]), lines[0]["eval_return"], rtol=1e-3)


SINGLE = """
import sys; sys.path.insert(0, "tests/run")
from distributed_worker import tiny_config
from gpu_sac import train
print(train(tiny_config()).history[-1]["eval_return"])
"""


def test_a_killed_process_stops_the_other_and_the_run_resumes(tmp_path):
    """kill -9 of process 1 after the first checkpoint: process 0 stops within the heartbeat timeout
    (5 s here) with JAX's message; both started again with --resume finish the run."""
    run = tmp_path / "run"
    chunks = 24
    train = [sys.executable, "experiments/train.py", *TINY, "--total-steps", str(128 * chunks), "--run-dir", str(run)]
    address = f"localhost:{port()}"
    procs = [start([*train, *cluster(address, i)], tmp_path / f"a{i}") for i in range(2)]
    deadline = time.monotonic() + 240
    while not any(p.name.isdigit() for p in (run / "checkpoints").glob("*")) and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), [(tmp_path / f"a{i}.err").read_text()[-2000:] for i in range(2)]
        time.sleep(0.2)
    os.killpg(procs[1].pid, signal.SIGKILL)
    killed = time.monotonic()
    codes = finish(procs, 120)
    stopped_after = time.monotonic() - killed
    err0 = (tmp_path / "a0.err").read_text()
    assert codes[0] != 0, err0[-2000:]
    assert stopped_after < 60, stopped_after
    assert "another task died" in err0 and "resume every process with --resume" in err0
    done = len((run / "metrics.jsonl").read_text().splitlines())
    assert done < chunks  # it really stopped early

    address = f"localhost:{port()}"
    resume = [sys.executable, "experiments/train.py", "--resume", str(run)]
    procs = [start([*resume, *cluster(address, i)], tmp_path / f"b{i}") for i in range(2)]
    codes = finish(procs, 300)
    assert codes == [0, 0], [(tmp_path / f"b{i}.err").read_text()[-3000:] for i in range(2)]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["env_steps"] for r in records] == [128 * (i + 1) for i in range(chunks)]
    assert "resuming" in (tmp_path / "b0.err").read_text()
