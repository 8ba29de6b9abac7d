"""Learning curves: runs grouped by config less the seed, mean ± std over seeds, against env steps
and wall time, written as PNG (from run directories made by hand: no training needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpu_sac import SACConfig
from gpu_sac.cli import plot_main
from gpu_sac.outputs.plot import load_groups, plot_runs
from gpu_sac.store.run_dir import append_metrics, write_config


def fake_run(path, seed, returns, num_seeds=1, **fields):
    path.mkdir(parents=True)
    config = SACConfig(env="pendulum", seed=seed, num_seeds=num_seeds, **fields)
    write_config(path, config)
    for i, r in enumerate(returns):
        append_metrics(path, {"chunk": i, "env_steps": 1000 * (i + 1), "wall_s": 2.0 * (i + 1) + seed,
                              "eval_return": r, "alpha": 0.1, "sps": 500.0})
    return path


def test_seeds_are_grouped_as_mean_and_spread(tmp_path):
    a = fake_run(tmp_path / "a", 0, [-900.0, -400.0, -200.0])
    b = fake_run(tmp_path / "b", 1, [-800.0, -300.0, -150.0, -140.0])  # one chunk further: aligned on 3
    c = fake_run(tmp_path / "c", 0, [[-1000.0, -990.0], [-700.0, -650.0], [-600.0, -500.0]], num_seeds=2,
                 actor_lr=3e-4)
    groups = load_groups([a, b, c])
    assert len(groups) == 2
    same = next(g for g in groups if len(g["runs"]) == 2)
    np.testing.assert_array_equal(same["env_steps"], [1000, 2000, 3000])
    np.testing.assert_array_equal(same["returns"], [[-900, -400, -200], [-800, -300, -150]])
    np.testing.assert_allclose(same["wall_s"], [2.5, 4.5, 6.5])
    other = next(g for g in groups if len(g["runs"]) == 1)
    assert other["returns"].shape == (2, 3)  # both agents of the multi-seed run
    assert "actor_lr=0.001" in same["label"] and "actor_lr=0.0003" in other["label"] and "(2 seeds)" in same["label"]
    out = plot_runs([a, b, c], tmp_path / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_plot_command(tmp_path, capsys):
    a = fake_run(tmp_path / "a", 0, [-900.0, float("nan"), -200.0])
    assert plot_main([str(a)]) == 0
    out = capsys.readouterr().out
    assert (a / "curve.png").is_file() and "3000 env steps, eval return -200.0" in out
    assert plot_main([str(a), "--out", str(tmp_path / "x.png"), "--title", "t"]) == 0
    assert (tmp_path / "x.png").is_file()
    with pytest.raises(SystemExit) as exit_:
        plot_main([str(tmp_path / "missing")], prog="plot.py")
    assert exit_.value.code == 2
    assert "not a gpu_sac run directory" in capsys.readouterr().err


def test_nan_metrics_are_null_in_jsonl(tmp_path):
    a = fake_run(tmp_path / "a", 0, [float("nan")])
    line = json.loads((a / "metrics.jsonl").read_text().splitlines()[0])
    assert line["eval_return"] is None
