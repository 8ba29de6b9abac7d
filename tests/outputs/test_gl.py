"""Rendering is optional: importing gpu_sac picks an offscreen GL backend only where its library loads,
leaves a user's MUJOCO_GL alone, and a machine without any GL library still trains (MJX envs
included) and only skips the video, saying why and what to install.

A machine without GL libraries is simulated in a subprocess: ctypes refuses to load libEGL and
libOSMesa before gpu_sac is imported, so gpu_sac's check, MuJoCo and PyOpenGL all meet what a fresh
machine without them meets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_sac.outputs.video import choose_gl, gl_library_loads

ROOT = Path(__file__).resolve().parents[2]

# Run first in the subprocess: every ctypes load of libEGL / libOSMesa fails as on a machine without them.
HIDE_GL = """
import ctypes
_load = ctypes.CDLL.__init__
def _hidden(self, name, *args, **kwargs):
    if name is not None and any(lib in str(name) for lib in ("libEGL", "libOSMesa")):
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")
    _load(self, name, *args, **kwargs)
ctypes.CDLL.__init__ = _hidden
"""


def python(code: str, *args: str, hide_gl: bool = True, timeout: float = 120, **env: str):
    """Run `code` in a fresh interpreter from the repository root, without a display or GL settings
    (the ones importing gpu_sac in this pytest process made are not inherited), plus `env`."""
    environ = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY")}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", (HIDE_GL if hide_gl else "") + code, *args], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=timeout)


def test_backend_is_egl_then_osmesa_whichever_loads_else_left_unset():
    both, osmesa, none = (lambda lib: True), (lambda lib: lib == "OSMesa"), (lambda lib: False)
    assert choose_gl({}, "linux", both) == "egl"
    assert choose_gl({}, "linux", osmesa) == "osmesa"
    assert choose_gl({}, "linux", none) is None  # MuJoCo's default; training does not need GL
    assert choose_gl({"PYOPENGL_PLATFORM": "osmesa"}, "linux", both) == "osmesa"


def test_a_users_setting_or_a_display_or_another_os_is_left_alone():
    def loads(lib):
        raise AssertionError("nothing to check")

    assert choose_gl({"MUJOCO_GL": "osmesa"}, "linux", loads) is None
    assert choose_gl({"MUJOCO_GL": "glfw"}, "linux", loads) is None
    assert choose_gl({"DISPLAY": ":0"}, "linux", loads) is None
    assert choose_gl({}, "darwin", loads) is None


def test_the_library_check_loads_the_library():
    assert gl_library_loads("c")  # libc.so.6
    assert not gl_library_loads("NoSuchGLLibrary")


# Renders one frame of a one-geom model, or prints the one line of VideoUnsupported it raises.
RENDER_ONE_FRAME = (
    "from gpu_sac.outputs.video import VideoUnsupported, render\n"
    "class Env: mj_model = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\".1\"/>"
    "</worldbody></mujoco>')\n"
    "try:\n"
    "    render(Env(), {'qpos': [[]], 'qvel': [[]]})\n"
    "except VideoUnsupported as e:\n"
    "    print('VideoUnsupported:', e)\n"
)


def test_import_sets_no_backend_when_no_gl_library_loads_and_mujoco_still_imports():
    """The bug this guards against: MUJOCO_GL=osmesa set without libOSMesa made `import mujoco` (so
    every MJX env) fail with AttributeError: 'NoneType' object has no attribute 'glGetError'."""
    done = python(
        "import os, gpu_sac, mujoco\n"
        "print(os.environ.get('MUJOCO_GL'), os.environ.get('PYOPENGL_PLATFORM'))\n"
        + RENDER_ONE_FRAME
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "None None"  # the environment is left as it was
    assert len(lines) == 2 and lines[1].startswith("VideoUnsupported:") and "libosmesa6" in lines[1], lines


def test_a_users_mujoco_gl_is_kept_and_a_missing_library_named():
    done = python("import os, gpu_sac.outputs.video as v; print(v.setup_gl(), os.environ['MUJOCO_GL'])",
                  MUJOCO_GL="osmesa")
    assert done.stdout.strip().splitlines()[-1] == "osmesa osmesa"
    assert "MUJOCO_GL=osmesa is set but libOSMesa cannot be loaded" in done.stderr
    assert "libosmesa6" in done.stderr


def test_egl_that_loads_but_cannot_make_a_context_is_video_unsupported():
    """MUJOCO_GL=egl with a device that does not exist: the context fails (or EGL is missing): either
    way the renderer's error becomes one line of VideoUnsupported."""
    done = python(
        "import gpu_sac, mujoco\n"
        + RENDER_ONE_FRAME,
        hide_gl=False, MUJOCO_GL="egl", MUJOCO_EGL_DEVICE_ID="99",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("VideoUnsupported:") and "MUJOCO_GL=osmesa" in lines[0], lines


@pytest.mark.slow
def test_mjx_env_trains_without_any_gl_library_and_skips_the_video_saying_why(tmp_path):
    """The README's command-1 path (the training command line) on halfcheetah (MJX), tiny, on a machine
    without EGL or OSMesa: exit 0, the run directory complete but for the video, one line on why.
    Slow (1.5 to 3.5 min on a 2-core CPU: the MJX env's compiles); CI's fast suite has the import test
    above, and .ci/run trains the same way with OSMesa hidden."""
    run = tmp_path / "run"
    args = ["--env", "halfcheetah", "--num-envs", "4", "--total-steps", "16", "--steps-per-chunk", "16",
            "--start-steps", "8", "--min-replay-size", "8", "--batch-size", "8", "--buffer-size", "64",
            "--hidden-sizes", "16", "16", "--episode-length", "10", "--eval-episodes", "1", "--quiet",
            "--run-dir", str(run)]
    done = python("import sys\nfrom gpu_sac.cli import train_main\nsys.exit(train_main(sys.argv[1:], 'train.py'))",
                  *args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    notes = [line for line in done.stderr.splitlines() if "no video" in line]
    assert len(notes) == 1 and "libosmesa6" in notes[0], done.stderr[-3000:]
    assert (run / "policy" / "policy.msgpack").is_file() and (run / "metrics.jsonl").is_file()
    assert not (run / "video.mp4").exists()
