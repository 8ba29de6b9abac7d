"""Brax environments (brax.envs), MJX physics by default."""

from __future__ import annotations

from typing import Any

from envs.playground_envs import PLAYGROUND_DM_CONTROL

# brax.envs._envs at brax 0.14.2, less 'fast' (a test stub with no physics).
BRAX_ENVS = (
    "ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "inverted_pendulum",
    "inverted_double_pendulum", "pusher", "reacher", "swimmer", "walker2d",
)


# Brax locomotion (MJX backend). Brax publishes no SAC settings for its MJX envs that run on current
# JAX, so these take the Playground DM Control SAC config (envs/playground_envs.py) (tuned for massively parallel SAC
# on MJX by the same team) with a 1 M step budget, 100 000 steps per chunk, and the Brax envs'
# 1 000-step episodes.
BRAX = dict(PLAYGROUND_DM_CONTROL, total_steps=1_000_000, steps_per_chunk=100_000)

# Brax's own SAC settings where Brax publishes them: the training notebook
# (brax/notebooks/training.ipynb, `train_fn` dict) trains hopper and walker2d with SAC (its other
# envs with PPO). Brax's names: learning_rate (all three optimisers), discounting → gamma,
# reward_scaling → reward_scale, max_replay_size → buffer_size, min_replay_size (collected with
# random actions, so start_steps too); grad_updates_per_step counts updates per vectorised step, as
# ours does. Not taken from Brax: its α₀ = 1 and target entropy −dim(A)/2 (we keep the seed's).
# Chunks of 131 072 steps (1 024 vectorised steps of 128 envs) divide both step budgets exactly.
BRAX_HOPPER = dict(
    BRAX,
    total_steps=6_553_600,
    steps_per_chunk=131_072,
    num_envs=128,
    batch_size=512,
    grad_updates_per_step=64,
    buffer_size=1_048_576,
    min_replay_size=8192,
    start_steps=8192,
    gamma=0.997,
    reward_scale=30.0,
    actor_lr=6e-4,
    critic_lr=6e-4,
    alpha_lr=6e-4,
    normalize_observations=True,
    critic_layer_norm=False,
)
BRAX_WALKER2D = dict(
    BRAX_HOPPER,
    total_steps=7_864_320,
    batch_size=128,
    grad_updates_per_step=32,
    reward_scale=5.0,
)
_BRAX_SPECIFIC = {"hopper": BRAX_HOPPER, "walker2d": BRAX_WALKER2D}


def preset(name: str) -> dict[str, Any]:
    """Brax's published SAC settings for hopper and walker2d; the Playground-derived BRAX otherwise."""
    return dict(_BRAX_SPECIFIC.get(name, BRAX))


def make_brax(name: str, backend: str = "mjx", **kwargs: Any) -> Any:
    """The raw Brax env (no EpisodeWrapper, no AutoResetWrapper): actions in [-1, 1]."""
    from brax import envs as brax_envs

    return brax_envs.get_environment(name, backend=backend, **kwargs)
