"""Brax environments (brax.envs), MJX physics by default."""

from __future__ import annotations

from typing import Any

# brax.envs._envs at brax 0.14.2, less 'fast' (a test stub with no physics).
BRAX_ENVS = (
    "ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "inverted_pendulum",
    "inverted_double_pendulum", "pusher", "reacher", "swimmer", "walker2d",
)


def make_brax(name: str, backend: str = "mjx", **kwargs: Any) -> Any:
    """The raw Brax env (no EpisodeWrapper, no AutoResetWrapper): actions in [-1, 1]."""
    from brax import envs as brax_envs

    return brax_envs.get_environment(name, backend=backend, **kwargs)
