"""Evaluating an exported policy in its env, and rendering an episode to a video.

`evaluate_policy` runs the deterministic policy for K episodes in one jitted scan and returns the
per-episode returns; with `record=True` it also keeps the physical state of the first episode,
step by step (joint positions and velocities only, not the whole MJX state).

`render` turns that into frames: MuJoCo envs (Brax with backend mjx and its other pipelines,
MuJoCo Playground) through `mujoco.Renderer` from the env's MjModel, pure-JAX envs (pendulum, the
reaching tasks) through their own `draw(physics, height, width)`, a small PIL drawing. On a machine
without a display MuJoCo needs an offscreen GL backend (EGL or OSMesa); `setup_gl()` picks one whose
library loads, when MUJOCO_GL is not set, and importing gpu_sac runs it, as MuJoCo reads MUJOCO_GL
once, when it is first imported. Rendering is optional:
every failure to render (no GL library, no GL context, no video encoder) is a VideoUnsupported,
whose one-line message says why and what to install; training never depends on it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Mapping
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
    """What a renderer needs of one env state: qpos, qvel (and mocap bodies), or a pure-JAX env's state."""
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
    return {"physics": jnp.asarray(data)}  # a pure-JAX env's flat state, drawn by its env.draw


def first_env(physics: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Env 0's physics out of a batch's (cut after `_physics`: MuJoCo Warp's state also holds contact buffers
    shared by all worlds, which have no env axis to index)."""
    return jax.tree.map(lambda x: x[0], physics)


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
            frame = first_env(_physics(next_state)) if record else None
            return (next_state, total, length, alive & (next_state.done < 0.5)), frame

        init = (state, jnp.zeros(episodes), jnp.zeros(episodes, jnp.int32), jnp.ones(episodes, bool))
        (_, total, length, _), frames = jax.lax.scan(body, init, None, length=episode_length)
        first = first_env(_physics(state)) if record else None
        return total, length, first, frames

    total, length, first, frames = jax.device_get(run(key))
    trajectory = None
    if record:
        n = int(length[0])  # frames of the first episode: its initial state, then one per step
        trajectory = {k: np.concatenate([first[k][None], frames[k][:n]]) for k in first}
    return Evaluation(np.asarray(total, np.float64), np.asarray(length), trajectory)


# Offscreen GL backends that gpu_sac may choose, in order of preference, with the library that MuJoCo's
# backend loads through PyOpenGL: EGL (a GPU driver's, or Mesa's libEGL, which renders in software
# where Mesa's drivers are installed) and OSMesa (Debian's libosmesa6).
GL_LIBRARIES: dict[str, str] = {"egl": "EGL", "osmesa": "OSMesa"}
_INSTALL = {
    "egl": "EGL (an NVIDIA driver, or Debian's libegl1 with libgl1-mesa-dri)",
    "osmesa": "OSMesa (Debian: apt-get install libosmesa6)",
}


def gl_library_loads(name: str) -> bool:
    """Whether lib<name> can be loaded into this process, trying the file names PyOpenGL tries
    (lib<name>.so, then lib<name>.so.9 down to .so.0). Loading is the test, not finding: a library
    that ldconfig lists but that is broken or hidden counts as missing."""
    for file in [f"lib{name}.so", *(f"lib{name}.so.{i}" for i in range(9, -1, -1))]:
        try:
            ctypes.CDLL(file)
        except OSError:
            continue
        return True
    return False


def choose_gl(
    environ: Mapping[str, str], platform: str = sys.platform, loads: Callable[[str], bool] = gl_library_loads
) -> str | None:
    """The MUJOCO_GL value to set, or None to leave the environment as it is.

    Only on Linux, with no display and MUJOCO_GL unset (a user's MUJOCO_GL always wins): the first of
    EGL, OSMesa whose library loads (only the one PYOPENGL_PLATFORM names, when it names one). When
    none loads, None: MuJoCo keeps its default (GLFW), which needs a display, so training runs and only
    rendering is unavailable (VideoUnsupported)."""
    if not platform.startswith("linux") or "MUJOCO_GL" in environ or environ.get("DISPLAY"):
        return None
    wanted = environ.get("PYOPENGL_PLATFORM", "").strip().lower()
    for backend, library in GL_LIBRARIES.items():
        if wanted in ("", backend) and loads(library):
            return backend
    return None


def setup_gl() -> str | None:
    """Set MUJOCO_GL (and nothing else) to the backend `choose_gl` picks, if any; return MUJOCO_GL.

    MuJoCo reads MUJOCO_GL once, when it is first imported, so importing gpu_sac runs this (before
    brax or playground import MuJoCo). A MUJOCO_GL set by the user is kept; if it names EGL or OSMesa
    and that library cannot be loaded, this warns, as importing MuJoCo is then going to fail."""
    backend = choose_gl(os.environ)
    if backend is not None:
        os.environ["MUJOCO_GL"] = backend
        return backend
    user = os.environ.get("MUJOCO_GL", "").strip().lower()
    if user in GL_LIBRARIES and sys.platform.startswith("linux") and not gl_library_loads(GL_LIBRARIES[user]):
        warnings.warn(
            f"MUJOCO_GL={user} is set but lib{GL_LIBRARIES[user]} cannot be loaded, so importing MuJoCo will "
            f"fail: install {_INSTALL[user]}, or unset MUJOCO_GL to let gpu_sac choose",
            RuntimeWarning, stacklevel=2,
        )
    return os.environ.get("MUJOCO_GL")


def _gl_advice() -> str:
    """What to install or set for MuJoCo to render offscreen, given the MUJOCO_GL in force."""
    backend = os.environ.get("MUJOCO_GL", "").strip().lower()
    if backend == "egl":
        return f"EGL loads but cannot render here: install {_INSTALL['osmesa']} and set MUJOCO_GL=osmesa"
    if backend == "osmesa":
        return "OSMesa loads but cannot render here: check its install (Debian: libosmesa6)"
    if backend in ("", "glfw") and not os.environ.get("DISPLAY"):
        return (f"no offscreen GL library loads here and MuJoCo's default, GLFW, needs a display: "
                f"install {_INSTALL['osmesa']} or {_INSTALL['egl']}")
    return f"MUJOCO_GL={backend} cannot render here: unset it to let gpu_sac choose EGL or OSMesa"


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
    """Frames (height, width, 3) uint8 of a recorded trajectory, one per `every` steps.
    VideoUnsupported (one line: why, and what to install) when the env cannot be rendered here."""
    if "physics" in trajectory:  # a pure-JAX env: drawn by its own draw(physics, height, width)
        draw = getattr(env, "draw", None)
        if draw is None:
            raise VideoUnsupported(f"{type(env).__name__} has no MuJoCo model and no draw() to render")
        return [draw(row, height, width) for row in trajectory["physics"][::every]]
    model = _model_or_raise(env)
    import mujoco

    renderer = _open_renderer(model, height, width)
    if camera is None:
        camera = 0 if model.ncam > 0 else -1  # the model's first camera (they track the body), else free
    data = mujoco.MjData(model)
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
    except Exception as e:  # noqa: BLE001 - a GL context that opens but cannot draw
        raise VideoUnsupported(f"MuJoCo could not render: {_first_line(e)}; {_gl_advice()}") from e
    finally:
        renderer.close()
    return frames


def check_renderable(env: Any, height: int = 240, width: int = 320) -> None:
    """VideoUnsupported if `env` has a MuJoCo model that cannot be rendered here: a cheap check (one
    renderer opened and closed) to make before running an episode only to record it. Envs without a
    model are left to `render` (pure-JAX envs draw themselves without GL)."""
    model = mj_model(env)
    if model is not None:
        _open_renderer(model, height, width).close()


def _model_or_raise(env: Any) -> Any:
    model = mj_model(env)
    if model is None:
        raise VideoUnsupported(f"{type(env).__name__} has no MuJoCo model to render")
    return model


def _open_renderer(model: Any, height: int, width: int) -> Any:
    """A mujoco.Renderer, or VideoUnsupported saying why not and what to install."""
    import mujoco

    try:
        with warnings.catch_warnings():  # GLFW without a display warns once per failed call
            warnings.simplefilter("ignore")
            return mujoco.Renderer(model, height, width)
    except Exception as e:  # noqa: BLE001 - no GL library or no GL context: say what to install
        raise VideoUnsupported(f"MuJoCo cannot render ({_first_line(e)}); {_gl_advice()}") from e


def _first_line(error: BaseException, limit: int = 200) -> str:
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_video(path: str | os.PathLike, frames: list[np.ndarray], fps: float) -> Path:
    """Encode frames with mediapy (ffmpeg: the system's, else the one imageio-ffmpeg ships)."""
    import mediapy

    if not frames:
        raise VideoUnsupported("no frames to write")
    _ffmpeg()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mediapy.write_video(str(path), np.stack(frames), fps=fps)
    return path


def _ffmpeg() -> None:
    """Point mediapy at an ffmpeg (the system's, else imageio-ffmpeg's); VideoUnsupported if none."""
    import mediapy

    if shutil.which("ffmpeg") is None:
        try:
            import imageio_ffmpeg

            mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())
        except (ImportError, RuntimeError) as e:
            raise VideoUnsupported(f"no ffmpeg to encode videos: install ffmpeg or imageio-ffmpeg ({e})") from e


def record_video(
    env: Any, act: Callable, episode_length: int, path: str | os.PathLike, key: jax.Array,
    height: int = 240, width: int = 320,
) -> tuple[Path, Evaluation]:
    """One deterministic episode of `act`, rendered to `path` (.mp4 or .gif). VideoUnsupported, before
    the episode runs, where MuJoCo cannot render or no encoder is there."""
    check_renderable(env, height, width)
    _ffmpeg()
    evaluation = evaluate_policy(env, act, 1, episode_length, key, record=True)
    fps, every = frame_rate(env)
    frames = render(env, evaluation.trajectory, height, width, every)
    return write_video(path, frames, fps), evaluation
