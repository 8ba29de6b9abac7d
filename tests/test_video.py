"""Rendering: MuJoCo's renderer on a real env's model (offscreen: OSMesa on a CPU machine, set by
MUJOCO_GL=osmesa, which importing gpu_sac picks when no display is there), the pendulum drawing,
and the mp4 file."""

from __future__ import annotations

import os

import numpy as np
import pytest

import envs
import gpu_sac  # noqa: F401 - picks MuJoCo's GL backend before MuJoCo is imported
from gpu_sac.video import VideoUnsupported, frame_rate, render, write_video


def test_gl_backend_is_chosen_before_mujoco_loads():
    assert os.environ.get("MUJOCO_GL") in ("osmesa", "egl", "glfw", "glx") or os.environ.get("DISPLAY")


@pytest.mark.parametrize("name", ["halfcheetah", "CheetahRun"])
def test_renders_frames_of_a_real_mujoco_env(name):
    """A few frames of the env's own MjModel at different joint positions: images, not blanks, and
    they change with the state."""
    env = envs.make(name)
    from gpu_sac.video import mj_model

    model = mj_model(env)
    rng = np.random.default_rng(0)
    qpos = np.stack([model.qpos0 + 0.3 * k * rng.standard_normal(model.nq) for k in range(3)])
    trajectory = {"qpos": qpos.astype(np.float32), "qvel": np.zeros((3, model.nv), np.float32)}
    frames = render(env, trajectory, height=96, width=128)
    assert len(frames) == 3
    for frame in frames:
        assert frame.shape == (96, 128, 3) and frame.dtype == np.uint8
        assert frame.std() > 5  # a scene, not a blank image
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).mean() > 0.5


def test_frame_rate_plays_in_real_time():
    assert frame_rate(envs.make("pendulum")) == (pytest.approx(20.0), 1)
    fps, every = frame_rate(type("Env", (), {"dt": 0.002})())
    assert every == 10 and fps == pytest.approx(50.0)


def test_pendulum_frames_and_mp4(tmp_path):
    import imageio_ffmpeg

    theta = np.linspace(0, np.pi, 8)
    frames = render(envs.make("pendulum"), {"pendulum": np.stack([theta, 0 * theta], -1)}, 64, 64)
    assert len(frames) == 8 and frames[0].shape == (64, 64, 3)
    assert not np.array_equal(frames[0], frames[-1])
    path = write_video(tmp_path / "p.mp4", frames, fps=20)
    reader = imageio_ffmpeg.read_frames(str(path))
    assert next(reader)["size"] == (64, 64)
    assert len(list(reader)) == 8


def test_env_without_a_model_says_so():
    class NoModel:
        pass

    with pytest.raises(VideoUnsupported, match="no MuJoCo model"):
        render(NoModel(), {"qpos": np.zeros((1, 2)), "qvel": np.zeros((1, 2))})
