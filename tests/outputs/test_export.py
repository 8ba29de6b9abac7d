"""The exported policy: a small file without critics, optimisers or replay buffer, that
`gpu_sac.load_policy` turns into a jittable act function in a fresh process; evaluate.py over it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from gpu_sac import RunOptions, load_policy, run_experiment
from gpu_sac.cli import evaluate_main

ROOT = Path(__file__).resolve().parents[2]
OBS = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -2.0], [-1.0, 0.0, 7.0]], np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two agents with normalised observations (so the exported file carries the statistics)."""
    run = tmp_path_factory.mktemp("export") / "run"
    config = tiny_config(total_steps=256, num_seeds=2, normalize_observations=True)
    out = run_experiment(config, RunOptions(run_dir=str(run), progress="none", video=False, tensorboard=False))
    return run, out.result


def test_exported_file_holds_the_policy_alone(trained):
    from flax import serialization

    run, _ = trained
    payload = serialization.msgpack_restore((run / "policy" / "policy.msgpack").read_bytes())
    assert set(payload) == {"meta", "actor_params", "obs_stats", "low", "high"}
    assert set(payload["obs_stats"]) == {"mean", "var", "count"}
    meta = json.loads(payload["meta"])
    assert meta["env"] == "pendulum" and meta["num_agents"] == 2 and meta["env_steps"] == 256
    assert (run / "policy" / "policy.msgpack").stat().st_size < 50_000  # the buffer alone is 37 kB per agent


def test_load_policy_in_a_fresh_process_acts_as_the_trained_agent(trained):
    run, result = trained
    script = f"""
import json, sys
import jax, numpy as np
import gpu_sac
acts = [gpu_sac.load_policy({str(run)!r}, agent=i) for i in (0, 1)]
obs = np.array({OBS.tolist()!r}, np.float32)
out = [np.asarray(jax.jit(a)(obs)).tolist() for a in acts]
single = np.asarray(acts[0](obs[0])).tolist()
assert "orbax.checkpoint" not in sys.modules  # nothing of the checkpoint machinery is needed
print(json.dumps({{"batch": out, "single": single}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for i in (0, 1):
        expected = np.asarray(result.for_seed(i).act(jnp.asarray(OBS)))
        np.testing.assert_allclose(np.array(got["batch"][i]), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.array(got["single"]), np.array(got["batch"][0][0]), rtol=1e-6, atol=1e-6)


def test_loaded_policy_is_deterministic_by_default_and_stochastic_with_a_key(trained):
    run, _ = trained
    act = load_policy(run / "policy")
    assert act.meta["obs_dim"] == 3 and act.meta["act_dim"] == 1
    obs = jnp.tile(jnp.asarray(OBS[:1]), (256, 1))
    deterministic = np.asarray(act(obs))
    assert np.all(deterministic == deterministic[0])
    sampled = np.asarray(act(obs, key=jax.random.PRNGKey(0), deterministic=False))
    assert sampled.std() > 0 and np.all(np.abs(sampled) <= 2.0)  # pendulum's torque bounds
    with pytest.raises(ValueError, match=r"obs has shape \(4,\): this policy takes \(\.\.\., 3\)"):
        act(jnp.zeros(4))
    with pytest.raises(ValueError, match="agent=2 is invalid"):
        load_policy(run, agent=2)
    with pytest.raises(FileNotFoundError, match="no exported policy"):
        load_policy(run / "nothing")


def test_evaluate_reports_mean_std_and_per_episode_returns(trained, capsys):
    run, _ = trained
    assert evaluate_main([str(run), "--episodes", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    returns = np.array(out["returns"])
    assert out["env"] == "pendulum" and len(returns) == 4 and out["lengths"] == [50] * 4
    assert out["mean"] == pytest.approx(returns.mean()) and out["std"] == pytest.approx(returns.std())
    assert evaluate_main([str(run), "--episodes", "2", "--agent", "1"]) == 0
    text = capsys.readouterr().out
    assert "return mean" in text and "per episode:" in text and "agent 1" in text


def test_evaluate_writes_a_video(trained, tmp_path, capsys):
    import imageio_ffmpeg

    run, _ = trained
    video = tmp_path / "pendulum.mp4"
    assert evaluate_main([str(run), "--episodes", "2", "--video", str(video), "--width", "160",
                          "--height", "120"]) == 0
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    frames = list(reader)
    assert meta["size"] == (160, 120) and meta["fps"] == pytest.approx(20.0)
    assert len(frames) == 51  # the initial state and 50 steps


def test_evaluate_bad_input_is_one_line(trained, capsys, tmp_path):
    run, _ = trained
    for args, text in (
        ([str(tmp_path)], "no exported policy"),
        ([str(run), "--episodes", "0"], "episodes=0 is invalid"),
        ([str(run), "--video", str(tmp_path / "x.txt")], "must end in .mp4"),
        ([str(run), "--agent", "5"], "agent=5 is invalid"),
    ):
        with pytest.raises(SystemExit) as exit_:
            evaluate_main(args, prog="evaluate.py")
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and text in err, err
