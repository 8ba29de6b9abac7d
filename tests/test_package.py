"""The installed distribution: a built wheel holds `gpu_sac` alone at top level (no `envs`, `experiments`
or `tests` to collide with another project's), and trains pendulum from a folder outside the repo with
nothing of the repo on the path."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_has_only_gpu_sac_and_trains_outside_the_repo(tmp_path):
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("gpu_sac-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry_points = next(z.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"gpu_sac"}
    assert "gpu_sac/envs/pendulum.py" in names and "gpu_sac/replay/__init__.py" in names
    assert "gpu-sac-train = gpu_sac.cli:train_main" in entry_points

    # Unpacked into a folder of its own (its dependencies are this interpreter's), run from another folder.
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = ("import sys, gpu_sac; print(gpu_sac.__file__); from gpu_sac.cli import train_main; "
              "sys.argv = ['gpu-sac-train', '--env', 'pendulum', '--total-steps', '256', '--num-envs', '4', "
              "'--steps-per-chunk', '128', '--hidden-sizes', '16', '16', '--eval-episodes', '1', "
              "'--no-video', '--quiet', '--run-dir', 'runs/p']; sys.exit(train_main())")
    env = dict(os.environ, PYTHONPATH=str(site), JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines()[0].startswith(str(site / "gpu_sac")), run.stdout  # not the repo's copy
    assert (elsewhere / "runs" / "p" / "metrics.jsonl").read_text().count("\n") == 2
