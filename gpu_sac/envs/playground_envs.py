"""MuJoCo Playground's DM Control suite environments."""

from __future__ import annotations

from typing import Any

# mujoco_playground.dm_control_suite.ALL_ENVS at playground 0.2.0 (tests check this list against the
# installed registry; kept static so that listing names does not import MuJoCo).
PLAYGROUND_ENVS = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun", "FingerSpin",
    "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand", "HumanoidRun",
    "HumanoidStand", "HumanoidWalk", "PendulumSwingup", "PointMass", "ReacherEasy", "ReacherHard",
    "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
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


def preset(name: str) -> dict[str, Any]:
    """Playground's DM Control SAC config, with its 10 M step budget where it gives one."""
    out = dict(PLAYGROUND_DM_CONTROL)
    if name in _PLAYGROUND_10M or name.startswith(_PLAYGROUND_10M_PREFIXES):
        out["total_steps"] = 10_000_000
    return out


def make_playground(name: str, impl: str = "auto", worlds: int | None = None, graph_mode: str = "auto",
                    num_devices: int = 1, **config_overrides: Any) -> Any:
    """The Playground env with `impl` ("jax": MJX; "warp": MuJoCo Warp; "auto": gpu_sac/envs/physics.py decides).

    Playground 0.2.0 defaults its DM Control envs to impl="warp"; `impl="auto"` takes Warp on a GPU where
    warp-lang is installed and MJX elsewhere. With Warp, its contact buffers are sized for `worlds` envs
    stepped at once (Playground's: 8 192) and its model put with CUDA graph mode `graph_mode`
    (SACConfig.warp_graph_mode) for `num_devices` devices. The env carries `physics`: one line saying
    which physics runs and why. Actions are in [-1, 1]. Observations must be flat arrays (true for the
    DM Control suite).
    """
    from gpu_sac.envs import physics

    return physics.load(name, impl, worlds, graph_mode, num_devices, **config_overrides)
