"""The time-to-score harness: thresholds, medians over seeds with unreached runs, the Brax ÷ gpu_sac
ratio and its lower bound, records skipped when present, the deadline, the sweep preset, and a real
pendulum run of each trainer (no timing is asserted)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `experiments` is not a package

from experiments import time_to_score as tts  # noqa: E402


def curve(*points):
    return [{"env_steps": s, "wall_s": w, "eval_return": r} for s, w, r in points]


def run_record(trainer, seed, points, thresholds=(-400.0, -200.0), arm="same"):
    c = curve(*points)
    return {
        "case": "pendulum", "env": "pendulum", "arm": arm, "arm_source": "test", "trainer": trainer, "seed": seed,
        "device": {"name": "CPU: test"}, "config": {"num_envs": 4, "grad_updates_per_step": 4, "batch_size": 256},
        "budget_s": 60, "total_steps": 20_000, "eval_every": 1_000, "eval_episodes": 10,
        "thresholds": {str(t): tts.reached(c, t) for t in thresholds},
        "return_at_budget": c[-1]["eval_return"], "curve": c,
    }


def test_reached_is_the_first_evaluation_at_or_above_the_threshold():
    c = curve((1000, 5.0, -900.0), (2000, 7.0, None), (3000, 9.0, -200.0), (4000, 11.0, -150.0))
    assert tts.reached(c, -200.0) == {"wall_s": 9.0, "env_steps": 3000}
    assert tts.reached(c, -100.0) is None


def test_time_to_counts_unreached_runs_as_infinite():
    hit = run_record("gpu_sac", 0, [(1000, 10.0, -150.0)])
    miss = run_record("gpu_sac", 1, [(1000, 60.0, -900.0)])
    assert tts.time_to([hit, hit, miss], "-200.0") == (10.0, 2)
    median, hits = tts.time_to([hit, miss, miss], "-200.0")
    assert median == math.inf and hits == 1


def test_ratio_is_a_lower_bound_when_brax_never_reached_the_threshold():
    ours = [run_record("gpu_sac", 0, [(1000, 10.0, -150.0)])]
    brax_hit = [run_record("brax_sac", 0, [(1000, 25.0, -150.0)])]
    brax_miss = [run_record("brax_sac", 0, [(1000, 30.0, -900.0), (2000, 62.0, -500.0)])]
    assert tts._ratio(brax_hit, ours, "-200.0") == "2.5×"
    assert tts._ratio(brax_miss, ours, "-200.0") == "> 6.2×"
    assert tts._ratio(ours, brax_miss, "-200.0") == "—"


def test_render_writes_the_table_and_the_plot(tmp_path):
    folder = tmp_path / "cpu-test" / "time_to_score" / "pendulum"
    folder.mkdir(parents=True)
    records = [run_record("gpu_sac", 0, [(1000, 8.0, -380.0), (2000, 12.0, -180.0)]),
               run_record("brax_sac", 0, [(0, 5.0, -1200.0), (1000, 20.0, -350.0), (2000, 30.0, -190.0)])]
    for r in records:
        (folder / f"same_{r['trainer']}_seed0.json").write_text(json.dumps(r))
    block = tts.render(tmp_path)
    assert "| same | gpu_sac | 8 s (1/1) | 12 s (1/1) |" in block
    assert "| same | brax_sac | 20 s (1/1) | 30 s (1/1) |" in block
    assert "| same | Brax ÷ gpu_sac | 2.5× | 2.5× |" in block
    assert (tmp_path / "cpu-test" / "time_to_score" / "pendulum.png").stat().st_size > 0


def test_plan_is_seed_major_and_filters_trainers():
    case = tts.PRESETS["cpu"][0]
    runs = tts.plan((case,), ("gpu_sac", "brax_sac"), seeds=2)
    assert [(a.name, t, s) for _, a, t, s in runs] == [
        ("same", "gpu_sac", 0), ("same", "brax_sac", 0), ("batch256", "gpu_sac", 0), ("batch64", "gpu_sac", 0),
        ("h64", "gpu_sac", 0),
        ("same", "gpu_sac", 1), ("same", "brax_sac", 1), ("batch256", "gpu_sac", 1), ("batch64", "gpu_sac", 1),
        ("h64", "gpu_sac", 1)]
    assert all(t == "brax_sac" for _, _, t, _ in tts.plan((case,), ("brax_sac",), seeds=2))


def test_every_preset_config_is_valid():
    for cases in tts.PRESETS.values():
        for case in cases:
            for arm in case.arms:
                if arm.trainers == ("brax_ppo",):
                    params = tts.ppo_params(case, arm)  # Playground's PPO config for the env, the case's budget
                    assert params["num_timesteps"] == case.total_steps and params["num_eval_envs"] == case.eval_episodes
                else:
                    tts.sac_config(case, arm, seed=0)


def test_sweep_arms_cover_the_grid_and_stop_at_the_last_threshold():
    case = tts.PRESETS["sweep-cpu"][0]
    assert len(case.arms) == 3 * 2 * 2 and len({a.name for a in case.arms}) == len(case.arms)
    assert case.stop_when_reached
    assert tts.done({"wall_s": 5.0, "eval_return": -150.0}, budget_s=60, goal=-200.0)
    assert not tts.done({"wall_s": 5.0, "eval_return": -250.0}, budget_s=60, goal=-200.0)
    assert tts.done({"wall_s": 61.0, "eval_return": None}, budget_s=60, goal=-200.0)


def test_smoke_run_of_gpu_sac_writes_a_record_and_skips_it_the_second_time(tmp_path, capsys):
    argv = ["--preset", "smoke", "--trainers", "gpu_sac", "--out", str(tmp_path)]
    assert tts.main(argv) == 0
    (path,) = tmp_path.glob("*/time_to_score/pendulum-smoke/same_gpu_sac_seed0.json")
    record = json.loads(path.read_text())
    assert record["trainer"] == "gpu_sac" and record["config"]["seed"] == 0
    assert [p["env_steps"] for p in record["curve"]] == [256, 512, 768, 1024]
    assert all(p["wall_s"] > 0 for p in record["curve"])
    assert record["process_start_s"] > 0
    assert tts.main(argv) == 0
    assert "exists, skipped" in capsys.readouterr().out


def test_process_start_counts_what_ran_before_the_call():
    """The seconds a run's record adds for the time from the command: a process that slept 1 s before
    asking reports at least that, and not minutes."""
    import subprocess

    code = ("import sys, time; time.sleep(1.0); sys.path.insert(0, '.'); "
            "from experiments.harness import seconds_since_process_start as s; print(s())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert 1.0 <= float(done.stdout.split()[-1]) < 60, done.stderr[-2000:]


def test_deadline_starts_no_run_it_cannot_give_its_minimum(tmp_path, capsys):
    assert tts.main(["--preset", "smoke", "--out", str(tmp_path), "--deadline-s", "1"]) == 0
    assert "not started" in capsys.readouterr().out
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.slow
def test_smoke_run_of_brax_sac_has_its_evaluation_before_training(tmp_path):
    assert tts.main(["--preset", "smoke", "--trainers", "brax_sac", "--out", str(tmp_path), "--in-process"]) == 0
    (path,) = tmp_path.glob("*/time_to_score/pendulum-smoke/same_brax_sac_seed0.json")
    record = json.loads(path.read_text())
    assert record["curve"][0]["env_steps"] == 0 and record["curve"][-1]["env_steps"] >= 1024


TINY_PPO = dict(num_envs=8, batch_size=8, num_minibatches=2, unroll_length=5, num_updates_per_batch=1,
                episode_length=50)


@pytest.mark.slow
def test_brax_ppo_at_playgrounds_config_writes_a_curve(tmp_path):
    """Brax's PPO through Playground's config and training wrapper, shrunk to seconds on a DM Control env."""
    case = tts.Case("ppo-smoke", "CartpoleBalance", (100.0,), budget_s=300, total_steps=4_000, eval_every=2_000,
                    eval_episodes=2, seeds=1,
                    arms=(tts.Arm("ppo", ("brax_ppo",), TINY_PPO, "tiny"),))
    record = tts.run_one(case, case.arms[0], "brax_ppo", 0, 300.0, {"name": "test"})
    assert record["config"]["num_envs"] == 8 and record["config"]["discounting"] > 0  # Playground's, overridden
    assert len(record["curve"]) >= 2 and record["curve"][-1]["env_steps"] >= 4_000
    assert all(p["eval_return"] is not None for p in record["curve"])
