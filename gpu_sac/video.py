"""Evaluating an exported policy in its env, and rendering an episode to a video.

`evaluate_policy` runs the deterministic policy for K episodes in one jitted scan and returns the
per-episode returns; with `record=True` it also keeps the physical state of the first episode,
step by step (joint positions and velocities only, not the whole MJX state).

`render` turns that into frames: MuJoCo envs (Brax with backend mjx and its other pipelines,
MuJoCo Playground) through `mujoco.Renderer` from the env's MjModel, the pure-JAX pendulum through
a small numpy/PIL drawing. On a machine without a display MuJoCo needs an offscreen GL backend:
EGL with a GPU, OSMesa without one (Debian's libosmesa6). `setup_gl()` picks one when MUJOCO_GL is
not set; importing gpu_sac runs it, as MuJoCo reads MUJOCO_GL once, when it is first imported.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class VideoUnsupported(RuntimeError):
    """The env cannot be rendered (no MuJoCo model, no GL backend, or no video encoder)."""


@dataclasses.dataclass
class Evaluation:
    """returns, lengths: (episodes,); trajectory: the first episode's physical states (T, ...)."""

    returns: np.ndarray
    lengths: np.ndarray
    trajectory: dict[str, np.ndarray] | None = None

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std())


def _physics(state: Any) -> dict[str, jax.Array]:
    """What a renderer needs of one env state: qpos, qvel (and mocap bodies) or the pendulum's θ."""
    data = getattr(state, "data", None)  # MuJoCo Playground
    if data is None or not hasattr(data, "qpos"):
        data = state.pipeline_state  # Brax (mjx: an mjx.Data; other pipelines: q, qd)
    if hasattr(data, "qpos"):
        out = {"qpos": data.qpos, "qvel": data.qvel}
        for name in ("mocap_pos", "mocap_quat"):
            value = getattr(data, name, None)
            if value is not None and value.size > 0:
                out[name] = value
        return out
    if hasattr(data, "q"):
        return {"qpos": data.q, "qvel": data.qd}
    return {"pendulum": jnp.asarray(data)}  # envs.pendulum: (θ, θ̇)


def evaluate_policy(
    env: Any,
    act: Callable,
    episodes: int,
    episode_length: int,
    key: jax.Array,
    record: bool = False,
) -> Evaluation:
    """Run `act` (obs batch -> action in the env's bounds) for `episodes` episodes at once.

    An episode ends when the env's done flag rises or at episode_length steps; its return is the
    undiscounted sum of rewards until then (a NaN from a diverged sim after the end is ignored).
    """
    v_reset, v_step = jax.vmap(env.reset), jax.vmap(env.step)

    @jax.jit
    def run(key):
        state = v_reset(jax.random.split(key, episodes))

        def body(carry, _):
            state, total, length, alive = carry
            next_state = v_step(state, act(state.obs))
            total = total + jnp.where(alive, next_state.reward, 0.0)
            length = length + alive.astype(jnp.int32)
            frame = _physics(jax.tree.map(lambda x: x[0], next_state)) if record else None
            return (next_state, total, length, alive & (next_state.done < 0.5)), frame

        init = (state, jnp.zeros(episodes), jnp.zeros(episodes, jnp.int32), jnp.ones(episodes, bool))
        (_, total, length, _), frames = jax.lax.scan(body, init, None, length=episode_length)
        first = _physics(jax.tree.map(lambda x: x[0], state)) if record else None
        return total, length, first, frames

    total, length, first, frames = jax.device_get(run(key))
    trajectory = None
    if record:
        n = int(length[0])  # frames of the first episode: its initial state, then one per step
        trajectory = {k: np.concatenate([first[k][None], frames[k][:n]]) for k in first}
    return Evaluation(np.asarray(total, np.float64), np.asarray(length), trajectory)


def setup_gl() -> str | None:
    """Choose MuJoCo's offscreen GL backend on a Linux machine without a display when MUJOCO_GL is
    unset: EGL where there is an NVIDIA GPU, OSMesa otherwise. MuJoCo reads MUJOCO_GL when it is
    first imported, so this runs when gpu_sac is imported (before brax or playground import MuJoCo).
    Returns the backend in force (None: MuJoCo's default, GLFW)."""
    if sys.platform.startswith("linux") and "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        backend = "egl" if os.path.exists("/dev/nvidiactl") else "osmesa"
        os.environ["MUJOCO_GL"] = backend
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return os.environ.get("MUJOCO_GL")


def mj_model(env: Any) -> Any:
    """The env's mujoco.MjModel, or None (pure-JAX envs)."""
    sys_ = getattr(env, "sys", None)
    model = getattr(sys_, "mj_model", None) if sys_ is not None else None
    if model is None:
        model = getattr(env, "mj_model", None)
    return model


def frame_rate(env: Any, max_fps: float = 50.0) -> tuple[float, int]:
    """(fps, every): render every `every`-th step so that the video plays in real time at <= max_fps."""
    dt = float(getattr(env, "dt", 0.05))
    every = max(1, int(np.ceil((1.0 / dt) / max_fps)))
    return 1.0 / (dt * every), every


def render(
    env: Any,
    trajectory: dict[str, np.ndarray],
    height: int = 240,
    width: int = 320,
    every: int = 1,
    camera: int | str | None = None,
) -> list[np.ndarray]:
    """Frames (height, width, 3) uint8 of a recorded trajectory, one per `every` steps."""
    if "pendulum" in trajectory:
        return [_draw_pendulum(float(th), height, width) for th in trajectory["pendulum"][::every, 0]]
    model = mj_model(env)
    if model is None:
        raise VideoUnsupported(f"{type(env).__name__} has no MuJoCo model to render")
    import mujoco

    data = mujoco.MjData(model)
    try:
        renderer = mujoco.Renderer(model, height, width)
    except Exception as e:  # noqa: BLE001 - no GL context: say what to install
        raise VideoUnsupported(
            f"MuJoCo cannot render with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r} ({e}); on a machine "
            "without a GPU install OSMesa (Debian: apt-get install libosmesa6) and set MUJOCO_GL=osmesa"
        ) from e
    if camera is None:
        camera = 0 if model.ncam > 0 else -1  # the model's first camera (they track the body), else free
    frames = []
    try:
        for t in range(0, len(trajectory["qpos"]), every):
            data.qpos[:] = trajectory["qpos"][t]
            data.qvel[:] = trajectory["qvel"][t]
            if "mocap_pos" in trajectory:
                data.mocap_pos[:] = trajectory["mocap_pos"][t]
                data.mocap_quat[:] = trajectory["mocap_quat"][t]
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera=camera)
            frames.append(renderer.render().copy())
    finally:
        renderer.close()
    return frames


def _draw_pendulum(theta: float, height: int, width: int) -> np.ndarray:
    """Gym's pendulum: θ = 0 upright, a rod of length 1 around a pivot."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    cx, cy = width / 2, height / 2
    length = 0.4 * min(width, height)
    x, y = cx + length * np.sin(theta), cy - length * np.cos(theta)
    draw.line([(cx, cy), (x, y)], fill=(204, 77, 77), width=max(2, int(0.05 * min(width, height))))
    r = 0.02 * min(width, height)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(0, 0, 0))
    return np.asarray(image)


def write_video(path: str | os.PathLike, frames: list[np.ndarray], fps: float) -> Path:
    """Encode frames with mediapy (ffmpeg: the system's, else the one imageio-ffmpeg ships)."""
    import mediapy

    if not frames:
        raise VideoUnsupported("no frames to write")
    if shutil.which("ffmpeg") is None:
        try:
            import imageio_ffmpeg

            mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())
        except (ImportError, RuntimeError) as e:
            raise VideoUnsupported(f"no ffmpeg to encode {path}: install ffmpeg or imageio-ffmpeg ({e})") from e
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mediapy.write_video(str(path), np.stack(frames), fps=fps)
    return path


def record_video(
    env: Any, act: Callable, episode_length: int, path: str | os.PathLike, key: jax.Array,
    height: int = 240, width: int = 320,
) -> tuple[Path, Evaluation]:
    """One deterministic episode of `act`, rendered to `path` (.mp4 or .gif)."""
    evaluation = evaluate_policy(env, act, 1, episode_length, key, record=True)
    fps, every = frame_rate(env)
    frames = render(env, evaluation.trajectory, height, width, every)
    return write_video(path, frames, fps), evaluation
