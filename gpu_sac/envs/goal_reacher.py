"""`reacher_goal`: Brax's reacher (MJX physics) as a goal env with a sparse reward.

Brax's reacher is a two-joint arm whose fingertip should reach a target drawn in a disc of radius
0.2 (the target is a body on two slide joints, placed by reset). Here the same physics and reset
are observed as a goal env (gpu_sac/envs/goal.py): observation = (cos θ, sin θ, θ̇) of the two arm joints,
achieved_goal = the fingertip's (x, y), desired_goal = the target's (x, y); reward
−(‖tip − target‖ > 0.02) instead of Brax's dense distance and control costs; 50-step episodes (as
Gym's Reacher and the Fetch tasks). The arm's reach is 0.21, so ε = 0.02 is a tenth of it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gpu_sac.envs.goal import is_success, sparse_reward
from gpu_sac.envs.reach import PRESET as REACH_PRESET

EPSILON = 0.02
TIP_OFFSET = (0.11, 0.0, 0.0)  # the fingertip in the frame of the arm's second link (Brax's reacher)

# The reaching tasks' preset with 16 envs stepped in groups of 16 (MJX on a CPU: see
# rollout.batched_step), so a quarter of an update per env step; 50 000 steps fit a CPU budget.
PRESET = dict(REACH_PRESET, total_steps=50_000, steps_per_chunk=5_000, num_envs=16, env_group_size=16)


class GoalReacher:
    """Brax's reacher with goal observations and the sparse reward; `sys` etc. are Brax's."""

    observation_size = {"observation": 6, "achieved_goal": 2, "desired_goal": 2}

    def __init__(self, backend: str = "mjx"):
        from brax import envs as brax_envs

        self.env = brax_envs.get_environment("reacher", backend=backend)
        self.action_size = self.env.action_size

    def compute_reward(self, achieved: jax.Array, desired: jax.Array) -> jax.Array:
        return sparse_reward(achieved, desired, EPSILON)

    def _goal_state(self, state: Any) -> Any:
        """Brax's state with the goal observation and `success` in its info (reward left as it is)."""
        from brax import base

        ps = state.pipeline_state
        tip = ps.x.take(1).do(base.Transform.create(pos=jnp.array(TIP_OFFSET))).pos[:2]
        target = ps.q[2:4]
        obs = {"observation": jnp.concatenate([jnp.cos(ps.q[:2]), jnp.sin(ps.q[:2]), ps.qd[:2]]),
               "achieved_goal": tip, "desired_goal": target}
        return state.replace(obs=obs, info=dict(state.info, success=is_success(tip, target, EPSILON)))

    def reset(self, key: jax.Array) -> Any:
        return self._goal_state(self.env.reset(key))  # Brax's reset reward is 0

    def step(self, state: Any, action: jax.Array) -> Any:
        # Brax's step reads pipeline_state, not obs; it also computes its dense observation and reward,
        # which are replaced here (a few flops beside the physics).
        goal = self._goal_state(self.env.step(state, action))
        return goal.replace(reward=self.compute_reward(goal.obs["achieved_goal"], goal.obs["desired_goal"]))

    def __getattr__(self, name: str) -> Any:  # sys, dt, ...: Brax's
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)
