"""Faults and edges: damaged checkpoints (cut short, flipped bytes, missing metadata, a save cut before
its checksums, all of them), a damaged config.json, read-only and full disks. Each ends in a correct
recovery or one short line and a non-zero exit, and nothing that was saved before is lost.

The faults are applied to copies of one small run (pendulum, 4 checkpoints). Read-only and full disks
are stood in for by a write that raises the OSError the disk would (tests run as root, whom chmod does
not stop); where the test may mount a tmpfs, the real thing is tested too (marked slow)."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_trees_equal, tiny_config

from gpu_sac import RunOptions, run_experiment
from gpu_sac.cli import EXIT_DISK, EXIT_USAGE, train_main
from gpu_sac.store import checkpoint as ckpt
from gpu_sac.store import run_dir as rd
from gpu_sac.training.train import build

ROOT = Path(__file__).resolve().parents[2]
CONFIG = dict(total_steps=512)
OPTIONS = RunOptions(progress="none", video=False, tensorboard=False, keep_checkpoints=4)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A finished run with checkpoints at 128, 256, 384 and 512 env steps."""
    path = tmp_path_factory.mktemp("base") / "run"
    run_experiment(tiny_config(**CONFIG), RunOptions(**{**OPTIONS.__dict__, "run_dir": str(path)}))
    assert ckpt.steps(path / "checkpoints") == [128, 256, 384, 512]
    return path


@pytest.fixture
def run(base_run, tmp_path):
    """A fresh copy of the base run, to damage."""
    return Path(shutil.copytree(base_run, tmp_path / "run"))


@pytest.fixture(scope="module")
def program():
    return build(tiny_config(**CONFIG))


def largest_file(folder: Path) -> Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def resume(run: Path, *extra: str) -> int:
    try:
        return train_main(["--resume", str(run), "--progress", "none", *extra], prog="train.py")
    except SystemExit as e:
        return e.code


def stderr_lines(capfd) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if line.strip()]


# ------------------------------------------------------------------------------------ checkpoints


def test_checkpoints_carry_checksums_of_every_file(run):
    folder = run / "checkpoints" / "512"
    assert (folder / ckpt.CHECKSUM_FILE).is_file()
    assert ckpt.verify(folder)
    assert ckpt.read_meta(run / "checkpoints", 512)["checksums"] == ckpt.CHECKSUM_FILE


def test_a_checkpoint_cut_to_half_is_moved_aside_and_the_resumed_run_saves_its_step_again(run, capfd):
    """The newest checkpoint's largest file cut to half: resume says so in one line naming it, where it
    went and the checkpoint it resumed from, retrains that chunk and saves its step again (no
    StepAlreadyExistsError), and the damaged folder is kept, whole, aside. A second resume is quiet."""
    damaged = largest_file(run / "checkpoints" / "512")
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    before = all_files(run / "checkpoints" / "512")
    assert resume(run, "--total-steps", "640") == 0
    lines = stderr_lines(capfd)
    assert len(lines) == 1, lines
    assert f"checkpoint {run / 'checkpoints' / '512'} is damaged" in lines[0]
    assert "does not match its checksum" in lines[0]
    assert f"moved it to {run / 'checkpoints.damaged' / '512'}" in lines[0]
    assert f"resuming from {run / 'checkpoints' / '384'}" in lines[0]
    assert "Traceback" not in lines[0]
    assert ckpt.steps(run / "checkpoints") == [256, 384, 512, 640]
    assert all_files(run / "checkpoints.damaged" / "512") == before  # moved, not changed
    assert [r["env_steps"] for r in rd.read_metrics(run)] == [128, 256, 384, 512, 640]
    assert resume(run, "--total-steps", "768") == 0
    assert stderr_lines(capfd) == []
    assert ckpt.steps(run / "checkpoints") == [384, 512, 640, 768]


def test_flipped_bytes_are_caught_by_the_checksum_not_restored(run, program, base_run):
    """64 bytes flipped inside the largest file of the newest checkpoint: orbax would restore them as
    different arrays; the checksum refuses them and the checkpoint before it is restored, exactly."""
    target = largest_file(run / "checkpoints" / "512")
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    target.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="is damaged"):
        restored = ckpt.restore(run / "checkpoints", program)
    assert restored.step == 384
    assert len(restored.damaged) == 1 and "does not match its checksum" in restored.damaged[0]
    assert (run / "checkpoints.damaged" / "512").is_dir() and not (run / "checkpoints" / "512").exists()
    pristine = ckpt.restore(base_run / "checkpoints", program, step=384)
    assert_trees_equal(restored.state, pristine.state)


def test_a_missing_metadata_file_falls_back_to_the_checkpoint_before(run, program):
    (run / "checkpoints" / "512" / "meta" / "metadata").unlink()
    with pytest.warns(UserWarning, match="is damaged"):
        restored = ckpt.restore(run / "checkpoints", program)
    assert restored.step == 384 and "meta/metadata is missing" in restored.damaged[0]


def test_a_checkpoint_without_checksums_still_restores(run, program, base_run):
    """A checkpoint without checksums.json (written before checksums were kept, or by a process stopped
    between orbax's atomic rename and the checksums; test_distributed kills one there) is whole as far
    as orbax can tell: it is restored, unchecked."""
    (run / "checkpoints" / "512" / ckpt.CHECKSUM_FILE).unlink()
    assert not ckpt.verify(run / "checkpoints" / "512")
    restored = ckpt.restore(run / "checkpoints", program)
    assert restored.step == 512 and restored.damaged == []
    assert_trees_equal(restored.state, ckpt.restore(base_run / "checkpoints", program).state)


def test_all_checkpoints_damaged_is_one_line_exit_2_and_nothing_deleted(run, capfd):
    for step in ckpt.steps(run / "checkpoints"):
        f = largest_file(run / "checkpoints" / str(step))
        f.write_bytes(f.read_bytes()[:100])
    before = {name: data for name, data in all_files(run / "checkpoints").items()}
    assert resume(run, "--total-steps", "640") == EXIT_USAGE
    lines = stderr_lines(capfd)
    assert len(lines) == 1, lines
    assert lines[0].startswith("train.py: error: no loadable checkpoint in") and "Traceback" not in lines[0]
    assert f"the damaged ones are in {run / 'checkpoints.damaged'}" in lines[0]
    assert all_files(run / "checkpoints.damaged") == before


def test_a_truncated_config_json_is_one_line(run, capfd):
    text = (run / "config.json").read_text()
    (run / "config.json").write_text(text[: len(text) // 3])
    assert resume(run) == EXIT_USAGE
    lines = stderr_lines(capfd)
    assert len(lines) == 1 and "config.json is damaged" in lines[0] and "Traceback" not in lines[0], lines


def test_a_damaged_checkpoint_that_orbax_reads_keeps_its_noise_off_stderr(run):
    """Without checksums (a checkpoint from before them), orbax itself meets the damage: TensorStore's
    errors and the tracebacks of its leftover callbacks (hundreds of lines) stay off stderr, and the
    resumed run says one line."""
    folder = run / "checkpoints" / "512"
    (folder / ckpt.CHECKSUM_FILE).unlink()
    meta_file = folder / "meta" / "metadata"
    meta_file.write_text(meta_file.read_text().replace(f'"checksums": "{ckpt.CHECKSUM_FILE}"', '"old": 1'))
    for f in (folder / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":  # the array data
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    done = _train("--resume", str(run), "--total-steps", "640")  # a process of its own, as a user runs it
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, "\n".join(lines[:40])
    assert "512 is damaged" in lines[0] and "resuming from" in lines[0] and len(lines[0]) < 600


# ------------------------------------------------------------------------------------ disk faults


def _raise_on_write(monkeypatch, code: int, after: int = 0) -> None:
    """Every write of the run's files (atomic rewrites, appended metrics, checkpoint saves) after the
    first `after` checkpoint saves raises OSError(code), as a full or read-only disk would."""
    saves = {"n": 0}

    def refuse(*args, **kwargs):
        raise OSError(code, __import__("os").strerror(code))

    real_save = ckpt.Checkpointer.save

    def save(self, *args, **kwargs):
        saves["n"] += 1
        if saves["n"] > after:
            monkeypatch.setattr(rd, "write_atomic", refuse)
            monkeypatch.setattr(rd, "append_metrics", refuse)
            monkeypatch.setattr(self._manager, "save", refuse)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(ckpt.Checkpointer, "save", save)
    if after == 0:
        monkeypatch.setattr(rd, "write_atomic", refuse)
        monkeypatch.setattr(rd, "append_metrics", refuse)


def test_resuming_on_a_read_only_disk_is_one_line_exit_5_naming_the_checkpoint(run, monkeypatch, capfd):
    _raise_on_write(monkeypatch, errno.EROFS)
    before = all_files(run)
    assert resume(run, "--total-steps", "640") == EXIT_DISK
    lines = stderr_lines(capfd)
    assert len(lines) == 1, lines
    assert "read-only file system" in lines[0] and "metrics.jsonl" in lines[0]
    assert f"the last good checkpoint is {run / 'checkpoints' / '512'}, untouched" in lines[0]
    assert all_files(run) == before


def test_a_full_disk_during_a_run_is_one_line_exit_5_and_earlier_checkpoints_load(tmp_path, monkeypatch, capfd,
                                                                                     program):
    _raise_on_write(monkeypatch, errno.ENOSPC, after=2)
    run = tmp_path / "run"
    code = None
    try:
        code = train_main(["--run-dir", str(run), *TINY, "--total-steps", "512", "--progress", "none"])
    except SystemExit as e:
        code = e.code
    assert code == EXIT_DISK
    lines = stderr_lines(capfd)
    assert len(lines) == 1, lines
    assert "could not write checkpoint 384" in lines[0] and "no space left on device" in lines[0]
    assert "MiB free, about" in lines[0] and "MiB needed" in lines[0]
    assert f"the last good checkpoint is {run / 'checkpoints' / '256'} (env step 256)" in lines[0]
    monkeypatch.undo()
    assert ckpt.restore(run / "checkpoints", program).step == 256


def test_a_read_only_new_run_directory_is_one_line_exit_5(tmp_path, monkeypatch, capfd):
    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(SystemExit) as exit_:
        train_main(["--run-dir", str(tmp_path / "new"), *TINY, "--progress", "none"])
    assert exit_.value.code == EXIT_DISK
    lines = stderr_lines(capfd)
    assert len(lines) == 1 and "read-only file system" in lines[0], lines


TINY = ["--env", "pendulum", "--num-envs", "4", "--steps-per-chunk", "128", "--hidden-sizes", "32", "32",
        "--batch-size", "32", "--buffer-size", "1024", "--min-replay-size", "64", "--start-steps", "64",
        "--eval-episodes", "2", "--episode-length", "50", "--keep-checkpoints", "20", "--no-video",
        "--no-tensorboard"]


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a fresh tmpfs of that size (skipped where this process may not mount one)."""
    mounted = []

    def mount(size: str, options: str = "") -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(point)],
                              capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _train(*args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "train.py"), *args, "--progress", "none"],
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_real_full_tmpfs_is_one_line_exit_5(tmpfs):
    """2 MiB of disk, checkpoints of ~190 KiB kept 20 deep: a save fails part way through the run."""
    run = tmpfs("2m") / "run"
    done = _train("--run-dir", str(run), *TINY, "--total-steps", str(128 * 14))
    assert done.returncode == EXIT_DISK, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on device" in lines[0] and "the last good checkpoint is" in lines[0]
    last = int(lines[0].rsplit("(env step ", 1)[1].rstrip(")"))
    assert max(ckpt.steps(run / "checkpoints")) == last
    assert ckpt.verify(run / "checkpoints" / str(last))


@pytest.mark.slow
def test_a_real_read_only_mount_is_one_line_exit_5(tmpfs):
    point = tmpfs("20m")
    run = point / "run"
    assert _train("--run-dir", str(run), *TINY, "--total-steps", "256").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
    done = _train("--resume", str(run), "--total-steps", "512")
    assert done.returncode == EXIT_DISK, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "read-only file system" in lines[0] and "checkpoints/256, untouched" in lines[0]
