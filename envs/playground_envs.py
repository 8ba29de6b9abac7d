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


def make_playground(name: str, impl: str = "jax", **config_overrides: Any) -> Any:
    """The Playground env with `impl` ("jax": MJX; "warp": MuJoCo Warp, needs warp-lang).

    Playground 0.2.0 defaults its DM Control envs to impl="warp"; we default to MJX, which needs
    nothing beyond JAX. Actions are in [-1, 1]. Observations must be flat arrays (true for the
    DM Control suite).
    """
    from mujoco_playground import registry

    return registry.load(name, config_overrides={"impl": impl, **config_overrides})
