"""Runs tests/training/test_mesh.py on 4 forced CPU devices, in a subprocess (JAX fixes its device
count when it starts, and this process has started with one). The subprocess selects by this run's -m expression,
so `pytest -m "not slow"` leaves out the slow mesh tests there too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FORCE_4 = "--xla_force_host_platform_device_count=4"


def test_mesh_tests_on_four_forced_cpu_devices(request):
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {FORCE_4}".strip(), JAX_PLATFORMS="cpu")
    here = Path(__file__).parent
    select = ["-m", request.config.option.markexpr] if request.config.option.markexpr else []
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *select,
                           str(here / "test_mesh.py")], env=env, capture_output=True, text=True, cwd=here.parents[1])
    summary = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, summary
    assert "skipped" not in proc.stdout.splitlines()[-1], summary  # the 4 devices were seen
