"""The training command line: every config field a flag with the env's preset as default, one-line
errors before anything compiles, the run directory, progress, Ctrl-C, divergence."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gpu_sac import SACConfig, envs
from gpu_sac.cli import EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_MEMORY, EXIT_USAGE, parse_train_args, train_main
from gpu_sac.store import checkpoint as ckpt
from gpu_sac.store.run_dir import read_config, read_metrics

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--env", "pendulum", "--num-envs", "4", "--steps-per-chunk", "128", "--hidden-sizes", "32", "32",
        "--batch-size", "32", "--buffer-size", "1024", "--min-replay-size", "64", "--start-steps", "64",
        "--eval-episodes", "2", "--episode-length", "50"]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def test_help_lists_every_config_field_with_the_env_presets_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_train_args(["--env", "halfcheetah", "--preset", "gpu", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for field in dataclasses.fields(SACConfig):
        assert flag(field.name) in text, field.name
    for name in ("--run-dir", "--resume", "--checkpoint-every", "--keep-checkpoints", "--no-checkpoint-buffer",
                 "--quiet", "--progress", "--no-video"):
        assert name in text
    # Defaults shown are halfcheetah's GPU preset (Playground's DM Control SAC config), not the seed's.
    assert "(default: 4194304)" in text and "(default: 128)" in text
    assert "Polyak rate" in text  # field docs


def test_flags_override_the_preset_one_by_one():
    config, options = parse_train_args([
        "--env", "halfcheetah", "--num-envs", "16", "--hidden-sizes", "64", "64", "64", "--max-grad-norm", "1.0",
        "--no-critic-layer-norm", "--target-entropy", "-3", "--actor-q", "mean", "--run-dir", "x", "--quiet",
        "--checkpoint-every", "5000",
    ])
    expected = SACConfig(env="halfcheetah", num_envs=16, hidden_sizes=(64, 64, 64), max_grad_norm=1.0,
                         critic_layer_norm=False, target_entropy=-3.0, actor_q="mean")
    assert config == expected
    assert config.batch_size == envs.preset("halfcheetah", "cpu")["batch_size"]  # the rest: the (CPU) preset
    assert config.normalize_observations
    assert options.run_dir == "x" and options.quiet and options.checkpoint_every == 5000
    config, _ = parse_train_args([])
    assert config == SACConfig(env="pendulum")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--env", "nope"], ["env='nope'", "pendulum, ant, halfcheetah", "CheetahRun"]),
        (["--num-envs", "0"], ["num_envs=0", "positive integer"]),
        (["--batch-size", "-5"], ["batch_size=-5", "positive integer"]),
        (["--buffer-size", "0"], ["buffer_size=0", "positive integer"]),
        (["--actor-lr", "nan"], ["actor_lr=nan", "finite number > 0"]),
        (["--critic-lr", "inf"], ["critic_lr=inf", "finite number > 0"]),
        (["--gamma", "1.5"], ["gamma=1.5", "(0, 1]"]),
        (["--gamma", "0"], ["gamma=0.0", "(0, 1]"]),
        (["--tau", "0"], ["tau=0.0", "(0, 1]"]),
        (["--tau", "2"], ["tau=2.0", "(0, 1]"]),
        (["--batch-size", "2048"], ["batch_size=2048", "min_replay_size=1000"]),
        (["--hidden-sizes", "64", "0"], ["hidden_sizes=(64, 0)", "positive integers"]),
        (["--batch-size", "abc"], ["--batch-size", "'abc'"]),
        (["--actor-q", "max"], ["--actor-q='max'", "min, mean"]),
        (["--no-such-flag", "3"], ["unrecognized arguments: --no-such-flag 3"]),
        (["--checkpoint-every", "0"], ["checkpoint_every=0", "positive integer"]),
        (["--resume", "/nonexistent/run"], ["/nonexistent/run", "config.json"]),
        # Flags read before the rest (they pick the defaults) fail in one line too, naming the flag.
        (["--preset", "tpu"], ["--preset", "'tpu'", "fastsac"]),
        (["--resume"], ["--resume", "expected one argument"]),
        # Integers past what JAX counts in (int32) or seeds (32 bits): one line, not an OverflowError.
        (["--seed", "1180591620717411303424"], ["seed=1180591620717411303424", "32-bit PRNG seed"]),
        (["--seed", "4294967295", "--num-seeds", "2"], ["seed=4294967295", "seed + s"]),
        (["--episode-length", str(2**31)], ["episode_length=2147483648", "<= 2147483647"]),
        (["--policy-delay", str(2**31)], ["policy_delay=2147483648", "int32"]),
        (["--n-step", str(2**31)], ["n_step=2147483648", "int32"]),
        (["--start-steps", str(2**40)], ["start_steps=1099511627776", "vectorised steps", "int32"]),
        (["--eval-episodes", str(2**63)], ["eval_episodes=9223372036854775808", "int32"]),
        (["--n-critics", str(2**63)], ["n_critics=9223372036854775808", "int32"]),
        # Run options: values that cannot work, and options that need another.
        (["--video-size", "0", "0"], ["video_size=(0, 0)", "positive integers"]),
        (["--video-size", "-5", "10"], ["video_size=(-5, 10)", "positive integers"]),
        (["--init-parts", "bogus"], ["init_parts=('bogus',)", "actor, critic"]),
        (["--init-parts"], ["init_parts=()", "one or more"]),
        (["--init-parts", "actor"], ["init_parts is given without init_from", "--init-from"]),
        (["--init-buffer"], ["init_buffer is given without init_from"]),
        (["--heartbeat-timeout-s", "0"], ["heartbeat_timeout_s=0", "[1, 86400]"]),
        (["--heartbeat-timeout-s", "60"], ["heartbeat_timeout_s is given without a multi-process run"]),
    ],
)
def test_bad_input_is_one_line_naming_field_value_and_what_is_allowed(args, expected, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        train_main([*args, "--run-dir", str(tmp_path / "run")], prog="train.py")
    assert exit_.value.code == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("train.py: error: ")
    for text in expected:
        assert text in err, (text, err)
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before anything was made


def test_replay_buffer_over_the_memory_budget_names_a_capacity_that_fits(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        # The largest ring the int32 indices allow, for 64 agents: 64 x 2**31 x 36 bytes, about 4.9 TB.
        train_main(["--buffer-size", str(2**31 - 1), "--num-seeds", "64", "--run-dir", str(tmp_path / "run")])
    assert exit_.value.code == EXIT_MEMORY
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "buffer_size=2147483647" in err and "use buffer_size <=" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--episodes", str(2**31)], "episodes=2147483648 is invalid: must be a positive integer <= 2147483647"),
        (["--episode-length", "0"], "episode_length=0 is invalid"),
        (["--width", "100000"], "width=100000 is invalid: must be a positive integer <= 8192"),
        (["--seed", str(2**64)], "seed=18446744073709551616 is invalid"),
        (["--agent", "-1"], "agent=-1 is invalid"),
    ],
)
def test_evaluate_refuses_values_out_of_range_in_one_line(args, expected, capsys, tmp_path):
    from gpu_sac.cli import evaluate_main

    with pytest.raises(SystemExit) as exit_:
        evaluate_main([str(tmp_path), *args], prog="evaluate.py")
    assert exit_.value.code == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err == f"evaluate.py: error: {expected}" or (len(err.splitlines()) == 1 and expected in err), err


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--n-step", str(2**31 - 1)], "n_step=2147483647"),  # the n-step window: num_envs x n_step transitions
        (["--eval-episodes", str(2**31 - 1)], "eval_episodes=2147483647"),  # the evaluation envs' states
        (["--hidden-sizes", str(10**9)], "hidden_sizes=(1000000000,)"),  # the networks and Adam's moments
    ],
)
def test_the_memory_check_names_the_field_whose_arrays_do_not_fit(args, field, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:  # 64 agents: terabytes, over any machine's memory
        train_main([*args, "--num-seeds", "64", "--run-dir", str(tmp_path / "run")])
    assert exit_.value.code == EXIT_MEMORY
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err and "buffer_size" not in err, err
    assert f"lower {field.split('=')[0]}" in err
    assert not (tmp_path / "run").exists()


def test_run_directory_holds_config_metrics_tensorboard_checkpoints_policy_curve_video(capsys, tmp_path):
    run = tmp_path / "run"
    assert train_main([*TINY, "--total-steps", "300", "--run-dir", str(run), "--quiet"]) == 0
    captured = capsys.readouterr()
    # 300 env steps is not a whole number of 128-step chunks: rounded up, and said.
    assert "total_steps=300 is not a whole number of chunks" in captured.err and "training 384" in captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("[pendulum] env_steps=")]
    assert len(lines) == 3 and "eval_return=" in lines[0] and "alpha=" in lines[0] and "eta=" in lines[0]
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["env_steps"] == 384 and summary["run_dir"] == str(run)

    config = read_config(run)
    assert config.total_steps == 300 and config.hidden_sizes == (32, 32)
    record = json.loads((run / "config.json").read_text())
    assert record["options"]["quiet"] is True and "jax" in record["versions"]
    metrics = read_metrics(run)
    assert [m["env_steps"] for m in metrics] == [128, 256, 384]
    assert {"eval_return", "alpha", "critic_loss", "sps", "wall_s", "updates"} <= set(metrics[0])
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert ckpt.steps(run / "checkpoints") == [128, 256, 384]
    assert (run / "policy" / "policy.msgpack").is_file()
    assert (run / "curve.png").stat().st_size > 10_000
    assert (run / "video.mp4").stat().st_size > 1_000


def test_progress_bar_shows_steps_rate_eval_return_and_alpha(capsys, tmp_path):
    assert train_main([*TINY, "--total-steps", "256", "--run-dir", str(tmp_path / "run"), "--no-video"]) == 0
    err = capsys.readouterr().err
    assert "256/256" in err and "step/s" in err and "eval=" in err and "α=" in err and "sps=" in err


def test_a_running_directory_is_not_overwritten(capsys, tmp_path):
    run = tmp_path / "run"
    assert train_main([*TINY, "--total-steps", "128", "--run-dir", str(run), "--progress", "none",
                       "--no-video"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        train_main([*TINY, "--total-steps", "128", "--run-dir", str(run)])
    assert exit_.value.code == EXIT_USAGE
    assert f"--resume {run}" in capsys.readouterr().err


def test_a_run_dir_that_is_a_file_is_one_line_and_exit_2(capsys, tmp_path):
    """Was a FileExistsError traceback (exit 1), after the program was built."""
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    for run_dir in (file, file / "run"):  # the file itself, or a directory under it
        with pytest.raises(SystemExit) as exit_:
            train_main([*TINY, "--total-steps", "128", "--run-dir", str(run_dir)], prog="train.py")
        assert exit_.value.code == EXIT_USAGE
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert err.startswith(f"train.py: error: run_dir={str(run_dir)!r} is invalid: "), err
    assert file.read_text() == "keep me"


def test_divergence_stops_with_the_metric_and_step_and_keeps_the_last_good_checkpoint(capsys, tmp_path):
    """Rewards scaled by 1e38 overflow float32 once learning starts (in chunk 2, at 160 transitions)."""
    run = tmp_path / "run"
    args = [*TINY, "--total-steps", "512", "--min-replay-size", "160", "--start-steps", "160",
            "--reward-scale", "1e38", "--run-dir", str(run), "--progress", "none"]
    with pytest.raises(SystemExit) as exit_:
        train_main(args)
    assert exit_.value.code == EXIT_DIVERGED
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "training diverged" in err and "non-finite by env step 256" in err
    assert f"last good checkpoint is {run / 'checkpoints' / '128'}" in err
    assert ckpt.steps(run / "checkpoints") == [128]
    assert [m["env_steps"] for m in read_metrics(run)] == [128]


def test_ctrl_c_stops_after_the_chunk_with_a_checkpoint_then_resume_finishes(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "experiments" / "train.py"), *TINY, "--total-steps", str(128 * 200),
           "--run-dir", str(run), "--quiet", "--no-video"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("[pendulum] env_steps="):
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "stopping at the end of this chunk" in err and f"--resume {run}" in err
    assert "Traceback" not in err
    metrics = read_metrics(run)
    assert 1 <= len(metrics) < 200
    assert ckpt.steps(run / "checkpoints")[-1] == metrics[-1]["env_steps"]  # saved at the stop
    assert (run / "policy" / "policy.msgpack").is_file()
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "train.py"), "--resume", str(run),
                           "--total-steps", str(metrics[-1]["env_steps"] + 256), "--progress", "none"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [m["env_steps"] for m in read_metrics(run)][-3:] == [metrics[-1]["env_steps"] + k for k in (0, 128, 256)]


@pytest.mark.slow
def test_halfcheetah_from_the_command_line_kill_resume_plot_evaluate_and_video(tmp_path):
    """The README's walk-through on a tiny MJX config: train halfcheetah, kill it, resume it, plot its
    curve, evaluate the exported policy in a fresh process and render its video (about 4 min on a
    2-core CPU: each process compiles the MJX env again)."""
    import imageio_ffmpeg

    run = tmp_path / "halfcheetah"
    tiny_mjx = ["--env", "halfcheetah", "--num-envs", "8", "--hidden-sizes", "32", "32", "--episode-length", "20",
                "--steps-per-chunk", "64", "--total-steps", "192", "--batch-size", "32", "--min-replay-size", "64",
                "--start-steps", "64", "--buffer-size", "4096", "--eval-episodes", "1"]
    train = [sys.executable, str(ROOT / "experiments" / "train.py")]
    proc = subprocess.Popen([*train, *tiny_mjx, "--run-dir", str(run), "--quiet", "--no-video"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if line.startswith("[halfcheetah] env_steps=64/"):
            break
    while not ckpt.steps(run / "checkpoints"):
        time.sleep(0.1)
    proc.kill()  # SIGKILL
    proc.wait()
    assert ckpt.steps(run / "checkpoints")[0] == 64
    done = subprocess.run([*train, "--resume", str(run), "--progress", "none"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [m["env_steps"] for m in read_metrics(run)] == [64, 128, 192]
    assert ckpt.steps(run / "checkpoints")[-1] == 192
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "plot.py"), str(run)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and (run / "curve.png").is_file(), done.stderr[-3000:]
    video = tmp_path / "halfcheetah.mp4"
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "evaluate.py"), str(run), "--episodes", "3",
                           "--video", str(video), "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["env"] == "halfcheetah" and len(result["returns"]) == 3 and result["lengths"] == [20] * 3
    reader = imageio_ffmpeg.read_frames(str(video))
    assert next(reader)["size"] == (320, 240)
    frames = [np.frombuffer(f, np.uint8) for f in reader]
    assert len(frames) == 21 and frames[0].std() > 5


def test_one_program_per_run(monkeypatch, tmp_path):
    """run_experiment builds the Program once and train() uses it (it used to build a second one)."""
    import importlib

    from gpu_sac import RunOptions, run_experiment

    train_module = importlib.import_module("gpu_sac.training.train")
    built = []
    real_build = train_module.build
    monkeypatch.setattr(train_module, "build", lambda *args, **kwargs: built.append(1) or real_build(*args, **kwargs))
    config, _ = parse_train_args([*TINY, "--total-steps", "128"])
    out = run_experiment(config, RunOptions(run_dir=str(tmp_path / "run"), progress="none", video=False,
                                            tensorboard=False))
    assert len(built) == 1 and out.result is not None and out.result.program.config == config


def test_tensorboard_tags_come_from_the_metrics_table(tmp_path):
    from types import SimpleNamespace

    from gpu_sac.outputs.tensorboard_log import TensorBoard
    from gpu_sac.training.metrics import METRICS

    tb = TensorBoard(tmp_path / "tb")
    tb.writer.close()
    written = []
    tb.writer = SimpleNamespace(add_scalar=lambda tag, value, step: written.append((tag, value, step)),
                                flush=lambda: None, close=lambda: None)
    record = {**{m.name: [1.0, 3.0] for m in METRICS}, "chunk": 0, "env_steps": 128}  # two agents
    tb(None, record)  # a (state, record) callback
    per_agent = {"eval/return_agent0": 1.0, "eval/return_agent1": 3.0}
    assert {tag for tag, _, _ in written} == {m.tag for m in METRICS if m.tag is not None} | set(per_agent)
    for tag, value, step in written:
        assert step == 128 and value == per_agent.get(tag, 2.0)  # the mean over agents
