"""Weights & Biases tracking, offline: a tiny pendulum run with --wandb-project logs its config, each
chunk's figures against env steps, the learning curve and the video; a resumed run continues the same
W&B run id; the flags parse; a missing wandb package is one line naming the extra.

The offline run is read back from the files wandb wrote (its `.wandb` transaction log, decoded with
wandb's own protobuf Record; wandb 0.31 no longer ships a Python reader for that file, so the
LevelDB-style framing is read here). Needs the `wandb` extra; `pip install -e '.[test]'` installs it.
"""

from __future__ import annotations

import json
import math
import struct
import time
from pathlib import Path

import pytest
from conftest import tiny_config

pytest.importorskip("wandb", reason="the wandb extra is not installed: pip install -e '.[wandb]'")

from wandb.proto import wandb_internal_pb2  # noqa: E402

from gpu_sac import ConfigError, RunOptions, resume_experiment, run_experiment  # noqa: E402
from gpu_sac.cli import parse_train_args, train_main  # noqa: E402
from gpu_sac.outputs.wandb_log import ID_FILE  # noqa: E402
from gpu_sac.run.experiment import resolved_options  # noqa: E402
from gpu_sac.store import run_dir as rd  # noqa: E402

BLOCK = 32 * 1024  # the framing of wandb's transaction log: LevelDB's log format in 32 KiB blocks
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Every Record of a .wandb file, in order."""
    data = path.read_bytes()
    ident, magic, _version = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B" and magic == 0xBEE1, f"{path} is not a wandb transaction log"
    pos, parts, out = 7, [], []
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:  # zero padding to the end of the block
            pos += left
            continue
        parts.append(data[pos + 7:pos + 7 + length])
        pos += 7 + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(parts))
            out.append(record)
            parts = []
    return out


def read_finished(path: Path, timeout: float = 60.0) -> list[wandb_internal_pb2.Record]:
    """The records of a finished run's .wandb file. wandb's service process writes the file: its last
    block can land a moment after `run.finish()` returns, so wait (a bounded time) for the exit record."""
    deadline = time.monotonic() + timeout
    while True:
        records = read_records(path)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def offline_run(records: list[wandb_internal_pb2.Record]) -> dict:
    """The run record, the config, the history rows and the files of an offline run's records."""
    out = {"run": None, "config": {}, "history": [], "files": [], "summary": {}}
    for r in records:
        kind = r.WhichOneof("record_type")
        if kind == "run":
            out["run"] = r.run
            out["config"].update({u.key: json.loads(u.value_json) for u in r.run.config.update})
        elif kind == "config":
            out["config"].update({u.key: json.loads(u.value_json) for u in r.config.update})
        elif kind == "history":
            out["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item})
        elif kind == "files":
            out["files"] += [f.path for f in r.files.files]
        elif kind == "summary":
            out["summary"].update({u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in r.summary.update})
    return out


def offline_dirs(wandb_dir: Path, run_id: str) -> list[Path]:
    return sorted((wandb_dir / "wandb").glob(f"offline-run-*-{run_id}"))


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A pendulum run tracked offline (WANDB_MODE=offline, WANDB_DIR in tmp), with its curve and video."""
    root = tmp_path_factory.mktemp("wandb")
    run, wandb_dir = root / "run", root / "wandb_dir"
    wandb_dir.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_MODE", "offline")
        env.setenv("WANDB_DIR", str(wandb_dir))
        env.setenv("WANDB_SILENT", "true")
        out = run_experiment(tiny_config(total_steps=256), RunOptions(
            run_dir=str(run), progress="none", tensorboard=False, wandb_project="gpu_sac_tests",
            video_size=(48, 64)))
    return run, wandb_dir, out


def test_an_offline_run_logs_config_metrics_curve_and_video(tracked):
    run, wandb_dir, out = tracked
    assert set(out.artifacts) >= {"curve", "video"}
    run_id = (run / ID_FILE).read_text().strip()
    (folder,) = offline_dirs(wandb_dir, run_id)
    logged = offline_run(read_finished(folder / f"run-{run_id}.wandb"))
    assert logged["run"].run_id == run_id and logged["run"].project == "gpu_sac_tests"
    assert logged["run"].display_name == run.name
    config = logged["config"]
    assert config["env"] == "pendulum" and config["total_steps"] == 256 and config["hidden_sizes"] == [32, 32]
    assert config["run_dir"] == str(run)
    # Each chunk's figures at step = env_steps, equal to the run's metrics file.
    metrics = rd.read_metrics(run)
    rows = {row["_step"]: row for row in logged["history"]}
    assert sorted(rows) == [r["env_steps"] for r in metrics] == [128, 256]
    for record in metrics:
        row = rows[record["env_steps"]]
        assert row["eval/return"] == pytest.approx(record["eval_return"], rel=1e-6)
        assert row["perf/updates"] == record["updates"]
        if math.isfinite(record["critic_loss"]):
            assert row["loss/critic"] == pytest.approx(record["critic_loss"], rel=1e-6)
    # The curve and the video at the last step, as W&B media whose files wandb kept.
    last = rows[256]
    assert last["curve/_type"] == "image-file" and last["curve/format"] == "png"
    assert last["video/_type"] == "video-file" and last["video/path"].endswith(".mp4")
    for name in ("curve", "video"):
        assert last[f"{name}/path"] in logged["files"]
        media = folder / "files" / last[f"{name}/path"]
        assert media.is_file() and media.stat().st_size == last[f"{name}/size"] > 0
    assert logged["summary"]["eval/return"] == pytest.approx(metrics[-1]["eval_return"], rel=1e-6)


def test_a_resumed_run_continues_the_same_wandb_run(tracked):
    run, wandb_dir, _ = tracked
    run_id = (run / ID_FILE).read_text().strip()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_MODE", "offline")
        env.setenv("WANDB_DIR", str(wandb_dir))
        env.setenv("WANDB_SILENT", "true")
        out = resume_experiment(run, total_steps=512)  # the stored options: wandb_project and all
    assert (run / ID_FILE).read_text().strip() == run_id
    assert [r["env_steps"] for r in out.history] == [128, 256, 384, 512]
    folders = offline_dirs(wandb_dir, run_id)
    assert len(folders) == 2  # one per process, both with the run's id: `wandb sync` joins them
    logged = offline_run(read_finished(folders[-1] / f"run-{run_id}.wandb"))
    assert logged["run"].run_id == run_id and logged["config"]["total_steps"] == 512
    assert sorted(row["_step"] for row in logged["history"]) == [384, 512]


def test_wandb_flags_parse_into_run_options():
    _, options = parse_train_args(["--env", "pendulum", "--wandb-project", "proj", "--wandb-entity", "team",
                                   "--wandb-name", "first", "--wandb-mode", "offline"])
    assert (options.wandb_project, options.wandb_entity, options.wandb_name, options.wandb_mode) == (
        "proj", "team", "first", "offline")
    _, options = parse_train_args(["--env", "pendulum"])
    assert options.wandb_project is None  # off unless asked for


def test_a_missing_wandb_package_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys):
    import gpu_sac.outputs.wandb_log

    monkeypatch.setattr(gpu_sac.outputs.wandb_log, "available", lambda: False)
    with pytest.raises(ConfigError, match=r"pip install 'gpu_sac\[wandb\]'"):
        resolved_options(RunOptions(wandb_project="proj"))
    resolved_options(RunOptions())  # without a project nothing is needed
    with pytest.raises(SystemExit) as exit_:
        train_main(["--env", "pendulum", "--run-dir", str(tmp_path / "run"), "--wandb-project", "proj"],
                   prog="train.py")
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gpu_sac[wandb]" in err, err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_disabled_mode_logs_nothing_and_still_keeps_the_run_id(tmp_path, monkeypatch):
    from gpu_sac.outputs.wandb_log import WandB

    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    tracker = WandB(tmp_path, {"env": "pendulum"}, "proj", mode="disabled")
    tracker({}, {"env_steps": 128, "eval_return": -100.0, "updates": 4})
    tracker.finish({"curve": tmp_path / "missing.png"})  # a missing file is left out, not an error
    assert len((tmp_path / ID_FILE).read_text().strip()) == 8
    assert not list(tmp_path.rglob("*.wandb"))  # no transaction log anywhere
