"""Rendering: MuJoCo's renderer on a real env's model (offscreen: the EGL or OSMesa backend that
importing gpu_sac picks where its library loads; CI installs OSMesa), the pendulum drawing, the mp4
file, and rendering errors as VideoUnsupported. tests/outputs/test_gl.py covers a machine without GL."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gpu_sac  # noqa: F401 - picks MuJoCo's GL backend before MuJoCo is imported
from gpu_sac import envs
from gpu_sac.outputs.video import (
    GL_LIBRARIES,
    VideoUnsupported,
    evaluate_policy,
    frame_rate,
    gl_library_loads,
    record_video,
    render,
    write_video,
)


def test_gl_backend_in_force_is_one_whose_library_loads():
    backend = os.environ.get("MUJOCO_GL")
    if backend in GL_LIBRARIES:
        assert gl_library_loads(GL_LIBRARIES[backend])
    elif backend is None and not os.environ.get("DISPLAY"):
        assert not any(gl_library_loads(lib) for lib in GL_LIBRARIES.values())


@pytest.mark.parametrize("name", ["halfcheetah", "CheetahRun"])
def test_renders_frames_of_a_real_mujoco_env(name):
    """A few frames of the env's own MjModel at different joint positions: images, not blanks, and
    they change with the state."""
    env = envs.make(name)
    from gpu_sac.outputs.video import mj_model

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
    frames = render(envs.make("pendulum"), {"physics": np.stack([theta, 0 * theta], -1)}, 64, 64)
    assert len(frames) == 8 and frames[0].shape == (64, 64, 3)
    assert not np.array_equal(frames[0], frames[-1])
    path = write_video(tmp_path / "p.mp4", frames, fps=20)
    reader = imageio_ffmpeg.read_frames(str(path))
    assert next(reader)["size"] == (64, 64)
    assert len(list(reader)) == 8


@pytest.mark.parametrize("name", ["point_reach", "arm_reach"])
def test_goal_tasks_draw_their_goal_and_body(name):
    env = envs.make(name)
    evaluation = evaluate_policy(env, lambda obs: jnp.ones((obs.shape[0], 2)), 1, 5, jax.random.PRNGKey(0),
                                 record=True)
    frames = render(env, evaluation.trajectory, 48, 64)
    assert len(frames) == 6 and frames[0].shape == (48, 64, 3)
    assert not np.array_equal(frames[0], frames[-1])  # the body moved
    green = (frames[0] == np.array([77, 170, 77], np.uint8)).all(-1)
    assert green.any()  # the goal is drawn


def test_env_without_a_model_says_so():
    class NoModel:
        pass

    with pytest.raises(VideoUnsupported, match="no MuJoCo model"):
        render(NoModel(), {"qpos": np.zeros((1, 2)), "qvel": np.zeros((1, 2))})


def test_a_renderer_that_cannot_open_is_video_unsupported_before_the_episode_runs(monkeypatch, tmp_path):
    import mujoco

    def no_context(*args, **kwargs):
        raise mujoco.FatalError("gladLoadGL error\nsecond line")

    def act(obs):
        raise AssertionError("no episode should run when nothing can render")

    monkeypatch.setattr(mujoco, "Renderer", no_context)
    with pytest.raises(VideoUnsupported) as error:
        record_video(envs.make("halfcheetah"), act, 10, tmp_path / "v.mp4", key=None)
    message = str(error.value)
    assert "\n" not in message and "gladLoadGL error" in message and "install" in message
    assert not (tmp_path / "v.mp4").exists()
