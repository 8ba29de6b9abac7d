"""Playground's domain randomisation, per episode, for the trainer's vmapped envs.

Playground's locomotion envs come with a randomizer, `randomize(mjx_model, keys (E, 2)) -> (models,
in_axes)`: E copies of the model with some fields drawn at random (floor friction, joint friction and
armature, link masses, the torso's mass and centre, default joint positions for Go1), `in_axes` marking
those fields (0) and the shared ones (None). Brax's training wrapper draws E models once and steps env
e in model e for the whole run.

Here each env draws its model when it resets: `RandomizedEnv.reset(key)` calls the randomizer with one
key and keeps the drawn fields in `state.info["randomized"]`; `step` puts them into the env's model
for that call (as Brax's wrapper does, by swapping the env's `_mjx_model` while tracing). So every
episode of every env has its own dynamics, the trainer's vmap and auto-reset work unchanged, and no
batched model is held apart from the env states (the drawn fields are a few hundred floats per env).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import jax

INFO_KEY = "randomized"


class RandomizedEnv:
    """`env` (a Playground MjxEnv) with its model's random fields drawn anew at each reset; everything
    else is the inner env's."""

    def __init__(self, env: Any, randomize: Callable[[Any, jax.Array], tuple[Any, Any]]):
        self.env = env
        self._randomize = randomize
        # train() traces the chunk, the evaluation and init in three threads (train.compile_stages): the
        # model swap below must not let one thread's trace read another's drawn fields (a leaked tracer).
        self._lock = threading.RLock()
        model = env.unwrapped._mjx_model
        # Run once, eagerly (a few small ops): in_axes are Python values, which a trace would turn into arrays.
        _, in_axes = randomize(model, jax.random.split(jax.random.PRNGKey(0), 1))
        self._treedef = jax.tree.structure(model)
        try:  # in_axes has the model's structure, with 0 (drawn per env) or None (shared) at each leaf
            axes = self._treedef.flatten_up_to(in_axes)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{type(env).__name__}'s randomizer returned in_axes that do not match its model") from e
        self._varying = tuple(i for i, axis in enumerate(axes) if axis == 0)  # leaves drawn per env
        if not self._varying:
            raise ValueError(f"{type(env).__name__}'s randomizer draws nothing")

    def _draw(self, key: jax.Array) -> tuple[jax.Array, ...]:
        models, _ = self._randomize(self.env.unwrapped._mjx_model, key[None])
        leaves = jax.tree.leaves(models)
        return tuple(leaves[i][0] for i in self._varying)

    @contextlib.contextmanager
    def _model(self, drawn: tuple[jax.Array, ...]):
        """The inner env with the drawn fields in its model, for the duration of one traced call."""
        inner = self.env.unwrapped
        base = inner._mjx_model
        leaves = jax.tree.leaves(base)
        for i, value in zip(self._varying, drawn, strict=True):
            leaves[i] = value
        inner._mjx_model = self._treedef.unflatten(leaves)
        try:
            yield self.env
        finally:
            inner._mjx_model = base

    def reset(self, key: jax.Array) -> Any:
        key, draw_key = jax.random.split(key)
        with self._lock:
            drawn = self._draw(draw_key)
            with self._model(drawn) as env:
                state = env.reset(key)
        return state.replace(info={**state.info, INFO_KEY: drawn})

    def step(self, state: Any, action: jax.Array) -> Any:
        drawn = state.info[INFO_KEY]
        with self._lock, self._model(drawn) as env:
            out = env.step(state, action)
        return out.replace(info={**out.info, INFO_KEY: drawn})

    def __getattr__(self, name: str) -> Any:  # only called for what this class does not define
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)


def randomized(name: str, env: Any) -> RandomizedEnv:
    """Playground env `env` (registry name `name`) under its registry's domain randomizer; ValueError
    where Playground has none for it."""
    from mujoco_playground import registry

    randomize = registry.get_domain_randomizer(name)
    if randomize is None:
        raise ValueError(f"domain_randomization: Playground has no domain randomizer for {name!r}")
    return RandomizedEnv(env, randomize)
