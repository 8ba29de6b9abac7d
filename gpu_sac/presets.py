"""Per-environment presets: the fields each env overrides on top of the seed's defaults.

Every preset says where its values come from. A caller's explicit field always wins over the
preset (`SACConfig(env="halfcheetah", num_envs=16)`), and `SACConfig(env=name)` alone gives the
preset as written here.
"""

from __future__ import annotations

from typing import Any

# Pure-JAX Pendulum-v1. RL Zoo's tuned SAC for Pendulum-v1 (rl-baselines3-zoo,
# hyperparams/sac.yml: 20 000 steps, learning rate 1e-3) reaches −157 ± 89; we keep its budget and
# learning rate, one gradient update per env step as the seed's loop does, and start learning after
# 1 000 random steps instead of 10 000 (the seed's default would spend half the budget on noise).
# Four envs stepped together with four updates per vectorised step keep that update-to-data ratio
# while the scan runs a quarter as many iterations.
PENDULUM = dict(
    total_steps=20_000,
    num_envs=4,
    grad_updates_per_step=4,
    steps_per_chunk=1_000,
    episode_length=200,
    buffer_size=100_000,
    start_steps=1_000,
    min_replay_size=1_000,
    actor_lr=1e-3,
    critic_lr=1e-3,
    alpha_lr=1e-3,
)

# MuJoCo Playground's published SAC config for its DM Control suite
# (mujoco_playground/config/dm_control_suite_params.py, `brax_sac_config`): 128 envs, batch 512,
# 8 gradient updates per env step, lr 1e-3, replay 4 194 304 (1048576 * 4), min replay 8 192,
# LayerNorm critics, normalised observations, γ 0.99, reward scale 1, 1 000-step episodes,
# 5 M env steps (10 M for CheetahRun, HumanoidWalk, WalkerRun, Acrobot*, Finger*, Hopper*).
PLAYGROUND_DM_CONTROL = dict(
    total_steps=5_000_000,
    num_envs=128,
    grad_updates_per_step=8,
    steps_per_chunk=500_000,
    episode_length=1000,
    batch_size=512,
    buffer_size=1048576 * 4,
    start_steps=8192,
    min_replay_size=8192,
    actor_lr=1e-3,
    critic_lr=1e-3,
    alpha_lr=1e-3,
    critic_layer_norm=True,
    normalize_observations=True,
)
_PLAYGROUND_10M = ("CheetahRun", "HumanoidWalk", "WalkerRun", "PendulumSwingup")
_PLAYGROUND_10M_PREFIXES = ("Acrobot", "Finger", "Hopper", "Swimmer")

# Brax locomotion (MJX backend). Brax publishes no SAC settings for its MJX envs that run on current
# JAX, so these take the Playground DM Control SAC config above (tuned for massively parallel SAC
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


def preset(env: str) -> dict[str, Any]:
    """The fields that `env` sets on top of the seed's defaults (an empty dict if none)."""
    from envs import BRAX_ENVS, PLAYGROUND_ENVS

    if env == "pendulum":
        return dict(PENDULUM)
    if env in BRAX_ENVS:
        return dict(_BRAX_SPECIFIC.get(env, BRAX))
    if env in PLAYGROUND_ENVS:
        out = dict(PLAYGROUND_DM_CONTROL)
        if env in _PLAYGROUND_10M or env.startswith(_PLAYGROUND_10M_PREFIXES):
            out["total_steps"] = 10_000_000
        return out
    return {}
