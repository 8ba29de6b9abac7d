"""Environments behind one `make(name)`: Brax-style objects with reset(key) -> State and
step(State, action) -> State, plus observation_size and action_size.

- `pendulum`: Gym's Pendulum-v1 in pure JAX (trains in minutes on a CPU).
- every Brax environment by name, MJX backend by default (`backend=` for the others).
- MuJoCo Playground's DM Control suite by its registry names, MJX (`impl="jax"`) by default.

The trainer, not the env, handles episode ends: it truncates at `episode_length`, keeps the true
final observation, and resets each finished env with a fresh key. So `make` returns the raw env,
with no episode or auto-reset wrapper. Envs whose actions are not in [-1, 1] give `action_bounds`
(low, high), each of shape (action_size,).
"""

from __future__ import annotations

from typing import Any

from envs.brax_envs import BRAX_ENVS
from envs.playground_envs import PLAYGROUND_ENVS

PURE_JAX_ENVS = ("pendulum",)


def names() -> tuple[str, ...]:
    """Every name `make` accepts."""
    return PURE_JAX_ENVS + BRAX_ENVS + PLAYGROUND_ENVS


def make(name: str, *, brax_backend: str = "mjx", playground_impl: str = "jax", **kwargs: Any) -> Any:
    """The environment called `name`; kwargs go to the env's constructor."""
    if name == "pendulum":
        from envs.pendulum import Pendulum

        return Pendulum(**kwargs)
    if name in BRAX_ENVS:
        from envs.brax_envs import make_brax

        return make_brax(name, backend=brax_backend, **kwargs)
    if name in PLAYGROUND_ENVS:
        from envs.playground_envs import make_playground

        return make_playground(name, impl=playground_impl, **kwargs)
    raise ValueError(f"unknown env {name!r}; choose one of: {', '.join(names())}")


__all__ = ["BRAX_ENVS", "PLAYGROUND_ENVS", "PURE_JAX_ENVS", "make", "names"]
