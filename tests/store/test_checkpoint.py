"""Checkpoints hold the whole TrainState; resuming continues the run bit for bit; a process killed
during a save leaves the last complete checkpoint loadable; a changed config is refused by name."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import QUIET, assert_trees_equal, tiny_config

from gpu_sac import RunOptions, resume_experiment, run_experiment
from gpu_sac.config import ConfigError
from gpu_sac.store import checkpoint as ckpt
from gpu_sac.training.train import build, seed_keys

ROOT = Path(__file__).resolve().parents[2]
def full_config(**overrides):
    """Every optional part of the state present: normaliser, n-step window, priorities, LayerNorm,
    clipped gradients, delayed actor; two agents."""
    fields = dict(normalize_observations=True, n_step=3, prioritized_replay=True, critic_layer_norm=True,
                  max_grad_norm=1.0, policy_delay=2, num_seeds=2)
    fields.update(overrides)
    return tiny_config(**fields)


def without_clock(history):
    return [{k: v for k, v in r.items() if k not in ("sps", "wall_s")} for r in history]


def same_records(a, b):
    """Records equal, NaN included (json round trip keeps floats exact)."""
    return json.dumps(without_clock(a)) == json.dumps(without_clock(b))


def test_checkpoint_holds_the_whole_train_state(tmp_path):
    config = full_config()
    program = build(config)
    state = program.init(seed_keys(config))
    state, _ = program.run_chunk(state)
    history = [{"chunk": 0, "env_steps": 128, "eval_return": [1.5, float("nan")], "wall_s": 1.0}]
    checkpointer = ckpt.Checkpointer(tmp_path, keep=2)
    checkpointer.save(state, history, config)
    checkpointer.close()
    restored = ckpt.restore(tmp_path, program)
    # actor, critics, targets, log α, optimiser states, normaliser, envs, n-step window, replay buffer
    # (rows, position, size, priorities), keys, counters: every leaf, bit for bit.
    assert_trees_equal(state, restored.state)
    assert int(restored.state.buffer.size[0]) == 128 - 2 * 4  # n-step: the first 2 steps of each env wait
    assert restored.state.buffer.obs_dim == 3 and restored.state.buffer.act_dim == 1
    assert restored.history[0]["eval_return"][0] == 1.5 and np.isnan(restored.history[0]["eval_return"][1])
    assert restored.step == 128 and restored.buffer_saved


def test_checkpoint_without_buffer_restores_an_empty_one(tmp_path):
    config = tiny_config(buffer_size=65_536)
    program = build(config)
    state, _ = program.run_chunk(program.init(seed_keys(config)))
    checkpointer = ckpt.Checkpointer(tmp_path, include_buffer=False)
    checkpointer.save(state, [{"chunk": 0, "env_steps": 128}], config)
    checkpointer.close()
    full = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert full < config.buffer_size * 4 * 9 / 10  # the buffer's rows (65 536 x 9 floats) are not in it
    restored = ckpt.restore(tmp_path, program)
    assert not restored.buffer_saved
    assert int(restored.state.buffer.size[0]) == 0 and int(restored.state.buffer.insert_pos[0]) == 0
    assert not np.asarray(restored.state.buffer.data).any()
    assert_trees_equal(state.agent, restored.state.agent)
    assert_trees_equal(state.env, restored.state.env)
    # The run goes on: it refills min_replay_size (64) transitions, 16 vectorised steps, before learning.
    before = int(restored.state.updates)
    after, metrics = program.run_chunk(restored.state)
    assert int(after.updates) - before == config.grad_updates_per_step * (32 - 15)


def test_resume_is_bitwise_the_uninterrupted_run(tmp_path):
    """N steps, checkpoint, resume, M more steps == N + M steps in one go: every parameter and
    optimiser state, and every metric that does not read the clock."""
    config = full_config(total_steps=256)
    first = run_experiment(config, RunOptions(run_dir=str(tmp_path / "split"), progress="none", video=False))
    assert first.checkpoint == tmp_path / "split" / "checkpoints" / "256"
    resumed = resume_experiment(tmp_path / "split", total_steps=512)
    whole = run_experiment(full_config(total_steps=512), dataclasses_replace(QUIET, run_dir=str(tmp_path / "whole")))
    assert [r["env_steps"] for r in resumed.history] == [128, 256, 384, 512]
    assert same_records(resumed.history, whole.history)
    assert_trees_equal(resumed.result.state.agent, whole.result.state.agent)
    assert_trees_equal(resumed.result.state, whole.result.state)
    # The run directory's metrics file has each chunk once, and the same figures.
    from gpu_sac.store.run_dir import read_metrics

    assert same_records(read_metrics(tmp_path / "split"), whole.history)
    assert (tmp_path / "split" / "tb").is_dir()


def dataclasses_replace(options, **changes):
    return dataclasses.replace(options, **changes)


def test_resume_with_a_different_config_names_the_fields(tmp_path):
    config = tiny_config(total_steps=128)
    run_experiment(config, dataclasses_replace(QUIET, run_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"batch_size: 32 .* 16 now.*gamma: 0.99 .* 0.9 now"):
        run_experiment(tiny_config(batch_size=16, gamma=0.9, total_steps=256),
                       dataclasses_replace(QUIET, resume=str(tmp_path)))
    program = build(tiny_config(n_critics=3))
    with pytest.raises(ckpt.ConfigMismatch, match="n_critics: 2 in checkpoint"):
        ckpt.restore(tmp_path / "checkpoints", program)
    # total_steps may grow with a constant learning rate, but not under a schedule.
    with pytest.raises(ConfigError, match="total_steps"):
        ckpt.check_config(tiny_config(lr_schedule="linear").to_dict(),
                          tiny_config(lr_schedule="linear", total_steps=512))


def test_checkpoints_every_n_steps_keep_the_last_k(tmp_path):
    config = tiny_config(total_steps=128 * 7)
    options = dataclasses_replace(QUIET, run_dir=str(tmp_path), checkpoint_every=256, keep_checkpoints=2)
    run_experiment(config, options)
    # Saved at 256, 512, 768 and at the end (896); the newest two are kept.
    assert ckpt.steps(tmp_path / "checkpoints") == [768, 896]


def _train_cmd(run_dir, *extra):
    return [sys.executable, str(ROOT / "experiments" / "train.py"), "--run-dir", str(run_dir), "--env", "pendulum",
            "--num-envs", "4", "--steps-per-chunk", "128", "--hidden-sizes", "32", "32", "--batch-size", "32",
            "--min-replay-size", "64", "--start-steps", "64", "--eval-episodes", "1", "--episode-length", "50",
            "--progress", "none", "--no-video", "--no-tensorboard", "--keep-checkpoints", "2", *extra]


def _kill_during_save(proc, checkpoints: Path, timeout=120.0) -> bool:
    """SIGKILL proc as soon as orbax has a save in flight (a temporary directory) after at least one
    complete checkpoint; True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        names = [p.name for p in checkpoints.iterdir()] if checkpoints.is_dir() else []
        if any(n.isdigit() for n in names) and any(not n.isdigit() for n in names):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    return False


def test_sigkill_during_saves_leaves_a_loadable_checkpoint_and_resume_is_exact(tmp_path):
    """A real training process is killed twice while a checkpoint is being written; each time the
    newest complete checkpoint loads, and the run resumed to the end equals the uninterrupted one."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    # A large buffer (2 M transitions, 72 MB) makes each save long, so the kill lands inside one.
    big = ["--buffer-size", "2000000", "--total-steps", str(128 * 40)]
    run_dir = tmp_path / "killed"
    checkpoints = run_dir / "checkpoints"
    program = build(tiny_config(buffer_size=2_000_000, total_steps=128 * 40, eval_episodes=1))
    kills = 0
    for attempt in range(2):
        cmd = _train_cmd(run_dir, *big) if attempt == 0 else [sys.executable, str(ROOT / "experiments" / "train.py"),
                                                               "--resume", str(run_dir)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if attempt == 1:  # let the resumed run write at least one new checkpoint before killing it
            start = max(ckpt.steps(checkpoints))
            while proc.poll() is None and max(ckpt.steps(checkpoints), default=0) <= start:
                time.sleep(0.01)
        kills += _kill_during_save(proc, checkpoints)
        assert ckpt.steps(checkpoints), proc.stderr.read().decode()[-2000:]
        restored = ckpt.restore(checkpoints, program)  # the newest complete one
        assert restored.step == max(ckpt.steps(checkpoints))
        assert len(restored.history) == restored.step // 128
    assert kills == 2
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "train.py"), "--resume", str(run_dir)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    whole = tmp_path / "whole"
    done = subprocess.run(_train_cmd(whole, *big, "--checkpoint-every", str(128 * 40)), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    from gpu_sac.store.run_dir import read_metrics

    assert same_records(read_metrics(run_dir), read_metrics(whole))
    a = ckpt.restore(checkpoints, program)
    b = ckpt.restore(whole / "checkpoints", program)
    assert a.step == b.step == 128 * 40
    assert_trees_equal(a.state, b.state)
