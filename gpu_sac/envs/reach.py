"""Two goal-reaching tasks in pure JAX, with sparse rewards, for hindsight relabelling on a CPU.

Both are goal envs (gpu_sac/envs/goal.py): dict observations {observation, achieved_goal, desired_goal},
reward −(‖achieved − desired‖ > ε), `success` in the info, episodes of 50 steps (as the Fetch tasks)
ended by the trainer's truncation, never by reaching the goal. They are not the Fetch tasks: no
contacts, no objects; they stand in for FetchReach's structure (a reaching goal in a plane).

- `point_reach`: a point in the square [−1, 1]² moved by velocity commands (0.1 per step at full
  action), from a uniform start to a uniform goal; ε = 0.05.
- `arm_reach`: a planar two-link arm (links of 0.5) moved by joint-velocity commands (0.2 rad per
  step at full action), whose fingertip must reach the fingertip position of a random other pose;
  ε = 0.05. The observation is (cos q, sin q) of both joints.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gpu_sac.envs.goal import is_success, sparse_reward

EPSILON = 0.05
EPISODE_LENGTH = 50

# Sized to train in minutes on a 2-core CPU (experiments/her.py measures it), from the HER paper's
# choices where they apply: γ = 0.98, 50-step episodes, batch 256 (Andrychowicz et al. 2017, App. A).
PRESET = dict(
    total_steps=20_000,
    num_envs=4,
    grad_updates_per_step=4,
    steps_per_chunk=2_000,
    episode_length=EPISODE_LENGTH,
    gamma=0.98,
    buffer_size=100_000,
    start_steps=1_000,
    min_replay_size=1_000,
    actor_lr=1e-3,
    critic_lr=1e-3,
    alpha_lr=1e-3,
    eval_episodes=20,
    her="future",
)


@struct.dataclass
class State:
    """Brax-style env state. pipeline_state: the task's physical state and goal, flat (see `draw`);
    obs: the goal dict; reward, done: (); info: {"success": ()}."""

    pipeline_state: jax.Array
    obs: dict[str, jax.Array]
    reward: jax.Array
    done: jax.Array
    metrics: dict[str, Any] = struct.field(default_factory=dict)
    info: dict[str, Any] = struct.field(default_factory=dict)


class _Reach:
    """Shared by both tasks: subclasses give the configuration's size, its dynamics, and where its
    end point is (`tip`). pipeline_state = [configuration (c,), goal (2,)]."""

    action_size = 2
    config_size = 2
    observation_size = {"observation": 2, "achieved_goal": 2, "desired_goal": 2}
    dt = 0.05  # for the video's frame rate

    def compute_reward(self, achieved: jax.Array, desired: jax.Array) -> jax.Array:
        return sparse_reward(achieved, desired, EPSILON)

    def _state(self, config: jax.Array, goal: jax.Array, reward: jax.Array) -> State:
        tip = self.tip(config)
        obs = {"observation": self.observe(config), "achieved_goal": tip, "desired_goal": goal}
        return State(jnp.concatenate([config, goal]), obs, reward, jnp.zeros(()),
                     info={"success": is_success(tip, goal, EPSILON)})

    def reset(self, key: jax.Array) -> State:
        start_key, goal_key = jax.random.split(key)
        return self._state(self.sample_config(start_key), self.tip(self.sample_config(goal_key)), jnp.zeros(()))

    def step(self, state: State, action: jax.Array) -> State:
        c = self.config_size
        config, goal = state.pipeline_state[:c], state.pipeline_state[c:]
        config = self.move(config, jnp.clip(action, -1.0, 1.0))
        return self._state(config, goal, self.compute_reward(self.tip(config), goal))


class PointReach(_Reach):
    """A point in [−1, 1]²; configuration = its position; action = its velocity (0.1 per step)."""

    def sample_config(self, key: jax.Array) -> jax.Array:
        return jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)

    def move(self, position: jax.Array, action: jax.Array) -> jax.Array:
        return jnp.clip(position + 0.1 * action, -1.0, 1.0)

    def tip(self, position: jax.Array) -> jax.Array:
        return position

    def observe(self, position: jax.Array) -> jax.Array:
        return position

    def draw(self, physics: np.ndarray, height: int, width: int) -> np.ndarray:
        return _draw(physics[2:], [physics[:2]], height, width)


class ArmReach(_Reach):
    """A planar arm of two 0.5 links from the origin; configuration = its joint angles q; action =
    their velocities (0.2 rad per step)."""

    LINK = 0.5

    def sample_config(self, key: jax.Array) -> jax.Array:
        return jax.random.uniform(key, (2,), minval=-jnp.pi, maxval=jnp.pi)

    def move(self, q: jax.Array, action: jax.Array) -> jax.Array:
        return jnp.mod(q + 0.2 * action + jnp.pi, 2 * jnp.pi) - jnp.pi

    def elbow(self, q: jax.Array) -> jax.Array:
        return self.LINK * jnp.stack([jnp.cos(q[0]), jnp.sin(q[0])])

    def tip(self, q: jax.Array) -> jax.Array:
        return self.elbow(q) + self.LINK * jnp.stack([jnp.cos(q[0] + q[1]), jnp.sin(q[0] + q[1])])

    def observe(self, q: jax.Array) -> jax.Array:
        return jnp.concatenate([jnp.cos(q), jnp.sin(q)])

    observation_size = {"observation": 4, "achieved_goal": 2, "desired_goal": 2}

    def draw(self, physics: np.ndarray, height: int, width: int) -> np.ndarray:
        q = physics[:2]
        points = [np.zeros(2), np.asarray(self.elbow(q)), np.asarray(self.tip(q))]
        return _draw(physics[2:], points, height, width)


def _draw(goal: np.ndarray, points: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """The square [−1, 1]² seen from above: the goal's ε-disc in green, the body (a chain of points,
    its last one the end point) in red."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    scale = 0.45 * min(width, height)

    def pixel(p):
        return width / 2 + scale * float(p[0]), height / 2 - scale * float(p[1])

    gx, gy = pixel(goal)
    r = max(2.0, scale * EPSILON)
    draw.ellipse([gx - r, gy - r, gx + r, gy + r], fill=(77, 170, 77))
    pixels = [pixel(p) for p in points]
    if len(pixels) > 1:
        draw.line(pixels, fill=(204, 77, 77), width=max(2, int(0.03 * min(width, height))))
    x, y = pixels[-1]
    r = max(2.0, 0.02 * min(width, height))
    draw.ellipse([x - r, y - r, x + r, y + r], fill=(204, 77, 77))
    return np.asarray(image)
