"""Which physics a MuJoCo Playground env runs on: MJX (MuJoCo in JAX) or MuJoCo Warp; and Warp's sizes and
CUDA-graph mode.

- impl "auto" (the default): Warp on a CUDA GPU where warp-lang imports (Playground 0.2.0's own default is
  Warp everywhere), MJX otherwise: on a CPU Warp's kernels are there for testing, not speed (measured on
  the 2-core CPU, raw simulator, 16 envs: CheetahRun 884 env steps/s with Warp against 10 177 with MJX,
  G1 47 against 307; `python -m experiments.benchmark --preset physics-cpu`, docs/physics.md), though
  they compile in seconds where MJX takes tens. `resolve` says which and why, in one line that the run
  prints.
- Warp's `Data` holds its contact buffers for all worlds together: `naconmax` rows shared by every env
  stepped in one call, while `njmax` (constraint rows) is per world. Playground writes naconmax for
  8 192 worlds (the locomotion configs say `4 * 8192`, `8 * 8192`; the DM Control ones round, e.g.
  CheetahRun's 100 000), so `warp_sizes` keeps Playground's contacts per world and multiplies them by the
  worlds this run steps at once (the training envs on a device, or the evaluation batch).
- Graph mode (GPU only; on a CPU Warp ignores it): with GraphMode.WARP, Warp captures a CUDA graph per
  set of buffer addresses, and XLA moves the buffers of a donated scan from step to step, so the graph
  is captured again and again (NVIDIA/warp#1039; mujoco_warp#799 measured such programs at about a
  quarter of the speed). The staged modes copy through fixed staging buffers instead: WARP_STAGED (copies
  inside the graph) by default; WARP_STAGED_EX (copies outside) is the one that also works under
  multi-device sharding (mujoco#3191), for when Warp runs on a mesh.
- Several devices: Warp runs on one. Its contact buffers are shared by all the worlds of a call, and the
  mesh (gpu_sac/training/mesh.py) splits every leaf of the env states per device; so SACConfig refuses
  playground_impl='warp' with num_devices > 1, and 'auto' takes MJX there.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

# Playground sizes each env's naconmax for this many worlds (see the module's docstring).
PLAYGROUND_WORLDS = 8192
# SACConfig.warp_graph_mode's choices → warp.JaxCallableGraphMode's names; "auto" is resolved by `graph_mode`.
GRAPH_MODES = {"warp": "WARP", "staged": "WARP_STAGED", "staged_ex": "WARP_STAGED_EX", "jax": "JAX", "none": "NONE"}


def warp_installed() -> bool:
    """warp-lang can be imported (MJX's Warp backend needs it; `pip install -e '.[warp]'` pins MJX's version)."""
    return importlib.util.find_spec("warp") is not None


def _platform() -> str:
    import jax

    return jax.default_backend()


def resolve(impl: str, num_devices: int = 1) -> tuple[str, str]:
    """(impl, why): "jax" (MJX) or "warp" for the impl a config asks for ("auto", "jax" or "warp") on
    `num_devices` devices (Warp runs on one: SACConfig refuses playground_impl='warp' on several)."""
    if impl == "jax":
        return "jax", "MJX (playground_impl=jax)"
    if impl == "warp":
        if not warp_installed():
            raise RuntimeError("playground_impl=warp needs warp-lang: pip install -e '.[warp]'")
        _quiet_warp()
        return "warp", "MuJoCo Warp (playground_impl=warp)"
    platform = _platform()
    if num_devices > 1:
        return "jax", f"MJX (playground_impl=auto on {num_devices} devices: Warp runs on one device here)"
    if platform != "gpu":
        return "jax", (f"MJX (playground_impl=auto on {platform}: Warp's CPU kernels are for testing, not speed; "
                       "--playground-impl warp to use them)")
    if not warp_installed():
        return "jax", "MJX (playground_impl=auto on a GPU without warp-lang: pip install -e '.[warp]' for Warp)"
    _quiet_warp()
    return "warp", "MuJoCo Warp (playground_impl=auto on a GPU with warp-lang, Playground's default there)"


def _quiet_warp() -> None:
    """No banner and no line per kernel module on stdout (set before Warp initialises: a run's output is
    its progress)."""
    import warp

    if hasattr(warp, "LOG_WARNING"):  # warp-lang >= 1.18: a log level; before, a flag
        warp.config.log_level = warp.LOG_WARNING
    else:
        warp.config.quiet = True


def warp_sizes(naconmax: int, njmax: int, worlds: int | None) -> dict[str, int]:
    """{"naconmax", "njmax"} for `worlds` worlds stepped in one call, from Playground's values (naconmax for
    PLAYGROUND_WORLDS worlds, njmax per world); Playground's own where worlds is None."""
    if worlds is None:
        return {"naconmax": int(naconmax), "njmax": int(njmax)}
    per_world = math.ceil(int(naconmax) / PLAYGROUND_WORLDS)
    return {"naconmax": per_world * int(worlds), "njmax": int(njmax)}


def graph_mode(mode: str) -> str:
    """The name of warp.JaxCallableGraphMode for SACConfig.warp_graph_mode `mode` ("auto": WARP_STAGED; see
    the module's docstring)."""
    return "WARP_STAGED" if mode == "auto" else GRAPH_MODES[mode]


def quiet_iteration_warnings(env: Any) -> None:
    """Stop MuJoCo Warp printing "solver iterations limit reached" from its kernels: Playground's envs cap
    the solver's iterations on purpose (Go1 joystick: 1), so the limit is reached on every step (248 lines in
    a 32-step Go1 run). Its other overflow warnings (contacts over naconmax, constraints over njmax: wrong
    physics) stay on."""
    from mujoco.mjx.third_party.mujoco_warp._src.types import OverflowType

    inner = env.unwrapped
    model = inner._mjx_model
    impl = model.opt._impl
    impl = impl.replace(warn_overflow=int(impl.warn_overflow) & ~int(OverflowType.ITERATIONS))
    inner._mjx_model = model.replace(opt=model.opt.replace(_impl=impl))


def set_graph_mode(env: Any, name: str) -> None:
    """Put the env's model on the device again with Warp graph mode `name`, on a GPU (Playground puts it with
    MJX's default, GraphMode.WARP; on a CPU Warp runs no graphs and the model stays as it is)."""
    if _platform() != "gpu":
        return
    import warp
    from mujoco import mjx

    inner = env.unwrapped
    inner._mjx_model = mjx.put_model(inner.mj_model, impl="warp",
                                     graph_mode=getattr(warp.JaxCallableGraphMode, name))


def overrides(impl: str, env_config: Any, worlds: int | None) -> dict[str, Any]:
    """Playground config_overrides for `impl` ("jax" or "warp"), with Warp's sizes for `worlds`."""
    out: dict[str, Any] = {"impl": impl}
    if impl == "warp" and "naconmax" in env_config and "njmax" in env_config:
        out.update(warp_sizes(env_config.naconmax, env_config.njmax, worlds))
    return out


def load(name: str, impl: str, worlds: int | None, graph_mode_name: str, num_devices: int,
         **config_overrides: Any) -> Any:
    """Playground's env `name` (mujoco_playground.registry.load) on the physics `impl` resolves to, Warp sized
    and graphed as above; the env carries `physics`, the line `resolve` gives."""
    from mujoco_playground import registry

    impl, why = resolve(impl, num_devices)
    env_overrides = {**overrides(impl, registry.get_default_config(name), worlds), **config_overrides}
    env = registry.load(name, config_overrides=env_overrides)
    if impl == "warp":
        set_graph_mode(env, graph_mode(graph_mode_name))
        quiet_iteration_warnings(env)
    env.physics = why
    return env
