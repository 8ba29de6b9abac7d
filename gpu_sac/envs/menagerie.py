"""The MuJoCo Menagerie meshes that Playground's Go1 and G1 envs load, without GitHub.

Playground reads robot meshes from `<mujoco_playground>/external_deps/mujoco_menagerie/<robot>/assets`
and, when `mujoco_menagerie` is absent, `git clone`s all of Menagerie there on first load (which
hangs where GitHub cannot be reached). The mjlab wheel on PyPI (Apache-2.0) ships Menagerie's Go1 and
G1 mesh files; Playground's Go1/G1 XMLs name only files under `assets/` (its own XMLs, in the
Playground package, hold the rest), so these two dirs are all the seven Go1 and G1 envs need:

    python -m gpu_sac.envs.menagerie                      # pip download mjlab (PyPI), extract the two dirs
    python -m gpu_sac.envs.menagerie --from-wheel W.whl   # offline, from a downloaded mjlab wheel
    python -m gpu_sac.envs.menagerie --from-tgz T.tgz     # offline, from ../shared/device/wheels.sh's
                                                  # .whl/menagerie_go1_g1.tgz (unitree_go1/assets, ...)

Idempotent: a robot whose dir is present is left as it is. Once `mujoco_menagerie` exists,
Playground never clones; the other robots (T1, H1, Spot, ...) then need their Menagerie dirs placed
by hand (gpu_sac/envs/locomotion.py says which, before Playground tries to load them).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

# The wheel version tested: its asset_zoo holds Menagerie's Go1 and G1 meshes (6 and 36 files, ~30 MB).
MJLAB_VERSION = "1.6.0"
# Menagerie dir → the robot's name in messages.
ROBOTS = {"unitree_go1": "Go1", "unitree_g1": "G1"}
DOWNLOAD_TIMEOUT_S = 300


def _wheel_dir(robot: str) -> str:
    """Where mjlab's wheel keeps Menagerie's `<robot>/assets`."""
    return f"mjlab/asset_zoo/robots/{robot}/xmls/assets/"


def menagerie_path() -> Path:
    """Playground's Menagerie dir (mjx_env.MENAGERIE_PATH), found without importing Playground (which
    imports JAX and MuJoCo)."""
    spec = importlib.util.find_spec("mujoco_playground")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("mujoco_playground is not installed (pip install playground)")
    return Path(next(iter(spec.submodule_search_locations))) / "external_deps" / "mujoco_menagerie"


def present(robot: str, root: Path | None = None) -> bool:
    """Whether `<root>/<robot>/assets` holds files (installs are atomic: a half-made dir never has)."""
    assets = (root or menagerie_path()) / robot / "assets"
    return assets.is_dir() and any(assets.iterdir())


def _install(src: Path, root: Path, robot: str) -> None:
    """Move an extracted `assets` dir into place (a rename, so it appears whole or not at all)."""
    (root / robot).mkdir(parents=True, exist_ok=True)
    src.rename(root / robot / "assets")


def _extract_each(root: Path | None, robots: tuple[str, ...], extract: Callable[[str, Path], Path]) -> list[str]:
    """For each robot whose assets are missing: extract(robot, tmp) writes them under a temporary dir
    in root and returns that `assets` dir, which is then moved into place. Returns the robots done."""
    root = root or menagerie_path()
    done = []
    for robot in robots:
        if present(robot, root):
            continue
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            _install(extract(robot, Path(tmp)), root, robot)
        done.append(robot)
    return done


def extract_wheel(wheel: Path, root: Path | None = None, robots: tuple[str, ...] = tuple(ROBOTS)) -> list[str]:
    """Extract each missing robot's assets from an mjlab wheel into `<root>/<robot>/assets`; returns
    the robots extracted. ValueError if the wheel lacks one."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()

        def extract(robot: str, tmp: Path) -> Path:
            prefix = _wheel_dir(robot)
            members = [n for n in names if n.startswith(prefix) and not n.endswith("/")]
            if not members:
                raise ValueError(f"{wheel} has no {prefix} (mjlab {MJLAB_VERSION} has it)")
            out = tmp / "assets"
            for name in members:
                rel = Path(name[len(prefix):])
                if rel.is_absolute() or ".." in rel.parts:
                    raise ValueError(f"{wheel}: unsafe member {name!r}")
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                with z.open(name) as f, open(out / rel, "wb") as g:
                    shutil.copyfileobj(f, g)
            return out

        return _extract_each(root, robots, extract)


def extract_tgz(tgz: Path, root: Path | None = None, robots: tuple[str, ...] = tuple(ROBOTS)) -> list[str]:
    """Extract each missing robot's assets from a tgz laid out as `<robot>/assets/...` (wheels.sh's
    menagerie_go1_g1.tgz); returns the robots extracted. ValueError if the archive lacks one."""
    with tarfile.open(tgz) as t:
        names = t.getnames()

        def extract(robot: str, tmp: Path) -> Path:
            prefix = f"{robot}/assets/"
            members = [m for m in t.getmembers() if m.name.startswith(prefix) and m.isfile()]
            if not members:
                raise ValueError(f"{tgz} has no {prefix} (its members begin {names[:3]})")
            t.extractall(tmp, members=members, filter="data")  # "data": no absolute paths, no links out
            return tmp / robot / "assets"

        return _extract_each(root, robots, extract)


def download_wheel(dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """`pip download --no-deps mjlab==MJLAB_VERSION` into `dest` (PyPI only: no install, no torch);
    RuntimeError saying how to provide the meshes offline if it fails or runs past `timeout` s."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest),
           f"mjlab=={MJLAB_VERSION}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"`{' '.join(cmd)}` ran past {timeout:.0f} s; {_OFFLINE}") from e
    wheels = sorted(dest.glob("mjlab-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}: {' / '.join(tail)}); {_OFFLINE}")
    return wheels[0]


_OFFLINE = ("on a machine without PyPI, run `python -m gpu_sac.envs.menagerie --from-wheel mjlab-*.whl` or "
            "`--from-tgz menagerie_go1_g1.tgz` (made by ../shared/device/wheels.sh with MENAGERIE=1)")


def ensure(root: Path | None = None, *, wheel: Path | None = None, tgz: Path | None = None,
           robots: tuple[str, ...] = tuple(ROBOTS), timeout: float = DOWNLOAD_TIMEOUT_S) -> dict[str, str]:
    """Make each robot's `<root>/<robot>/assets` present: from `tgz` or `wheel` if given, else from
    the mjlab wheel downloaded from PyPI. Returns robot → "present" or where it came from."""
    root = root or menagerie_path()
    missing = tuple(r for r in robots if not present(r, root))
    status = {r: "present" for r in robots if r not in missing}
    if not missing:
        return status
    if tgz is not None:
        got, source = extract_tgz(Path(tgz), root, missing), str(tgz)
    elif wheel is not None:
        got, source = extract_wheel(Path(wheel), root, missing), str(wheel)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            w = download_wheel(Path(tmp), timeout)
            got, source = extract_wheel(w, root, missing), f"{w.name} (PyPI)"
    return {**status, **{r: f"extracted from {source}" for r in got}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_sac.envs.menagerie", description=__doc__.split("\n\n")[0])
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--from-wheel", type=Path, metavar="PATH", help="a local mjlab wheel (no download)")
    src.add_argument("--from-tgz", type=Path, metavar="PATH",
                     help="a tgz holding unitree_go1/assets and unitree_g1/assets (no download)")
    parser.add_argument("--dest", type=Path, default=None,
                        help="the Menagerie dir (default: Playground's external_deps/mujoco_menagerie)")
    args = parser.parse_args(argv)
    root = args.dest or menagerie_path()
    try:
        status = ensure(root, wheel=args.from_wheel, tgz=args.from_tgz)
    except (RuntimeError, ValueError, OSError, zipfile.BadZipFile, tarfile.TarError) as e:
        print(f"gpu_sac.envs.menagerie: {e}", file=sys.stderr)
        return 1
    for robot, what in status.items():
        print(f"{ROBOTS[robot]}: {root / robot / 'assets'}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
