"""Goal-conditioned envs: what they expose, and the flat view the trainer sees.

A goal env (as gymnasium-robotics' GoalEnv) observes a dict of three arrays:

    {"observation": (o,), "achieved_goal": (g,), "desired_goal": (g,)}

rewards with the sparse `compute_reward(achieved_goal, desired_goal)` = −(‖achieved − desired‖ > ε),
puts `success` (1.0 where the goal is reached, else 0.0) in `state.info`, and does not end an episode
when the goal is reached (as the Fetch tasks do not): the trainer truncates at episode_length.

The trainer takes flat observations, so `flatten(env)` wraps a goal env into one whose observation is
the concatenation [observation, achieved_goal, desired_goal] (o + 2g) and which carries `goal`, a
`GoalSpec`: where the goals sit in that vector, and the reward function. Hindsight relabelling
(gpu_sac/replay/her.py) reads both: a stored transition's goal is overwritten in obs and next_obs, and its
reward is recomputed from next_obs's achieved goal, on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

KEYS = ("observation", "achieved_goal", "desired_goal")


class GoalSpec(NamedTuple):
    """Where the goals sit in a flat goal observation, and the env's reward function.

    observation_dim o, goal_dim g: flat obs = [observation (o), achieved_goal (g), desired_goal (g)].
    compute_reward(achieved (..., g), desired (..., g)) -> reward (...,): the env's own reward for
    reaching `achieved` when asked for `desired` (jittable, broadcasting over leading axes).
    """

    observation_dim: int
    goal_dim: int
    compute_reward: Callable[[jax.Array, jax.Array], jax.Array]

    @property
    def achieved(self) -> slice:
        return slice(self.observation_dim, self.observation_dim + self.goal_dim)

    @property
    def desired(self) -> slice:
        return slice(self.observation_dim + self.goal_dim, self.observation_dim + 2 * self.goal_dim)


def sparse_reward(achieved: jax.Array, desired: jax.Array, epsilon: float) -> jax.Array:
    """−1 where ‖achieved − desired‖ > ε, else 0 (over the last axis)."""
    return -(jnp.linalg.norm(achieved - desired, axis=-1) > epsilon).astype(jnp.float32)


def is_success(achieved: jax.Array, desired: jax.Array, epsilon: float) -> jax.Array:
    """1.0 where ‖achieved − desired‖ <= ε, else 0.0 (over the last axis)."""
    return (jnp.linalg.norm(achieved - desired, axis=-1) <= epsilon).astype(jnp.float32)


def flat_obs(obs: dict[str, jax.Array]) -> jax.Array:
    """A goal env's dict observation → [observation, achieved_goal, desired_goal] (leading axes kept)."""
    return jnp.concatenate([obs[k] for k in KEYS], axis=-1)


def split_obs(obs: jax.Array, spec: GoalSpec) -> dict[str, jax.Array]:
    """The inverse of flat_obs."""
    o = spec.observation_dim
    return {"observation": obs[..., :o], "achieved_goal": obs[..., spec.achieved],
            "desired_goal": obs[..., spec.desired]}


class FlatGoalEnv:
    """A goal env with flat observations (see the module's docstring); everything else is the inner
    env's (its reset and step, action size and bounds, `sys` for rendering, `draw`, ...)."""

    def __init__(self, env: Any):
        sizes = env.observation_size
        if not isinstance(sizes, dict) or set(sizes) != set(KEYS):
            raise ValueError(f"{type(env).__name__} is not a goal env: its observation_size must be a dict with "
                             f"keys {', '.join(KEYS)}, not {sizes!r}")
        if sizes["achieved_goal"] != sizes["desired_goal"]:
            raise ValueError(f"achieved_goal ({sizes['achieved_goal']}) and desired_goal "
                             f"({sizes['desired_goal']}) must have one size")
        self.env = env
        self.goal = GoalSpec(int(sizes["observation"]), int(sizes["achieved_goal"]), env.compute_reward)
        self.observation_size = self.goal.observation_dim + 2 * self.goal.goal_dim

    def reset(self, key: jax.Array) -> Any:
        state = self.env.reset(key)
        return state.replace(obs=flat_obs(state.obs))

    def step(self, state: Any, action: jax.Array) -> Any:
        inner = self.env.step(state.replace(obs=split_obs(state.obs, self.goal)), action)
        return inner.replace(obs=flat_obs(inner.obs))

    def __getattr__(self, name: str) -> Any:  # only called for what this class does not define
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)


def flatten(env: Any) -> FlatGoalEnv:
    """`env` (a goal env with dict observations) as the trainer takes it: see FlatGoalEnv."""
    return FlatGoalEnv(env)


def goal_spec(env: Any) -> GoalSpec | None:
    """The GoalSpec of a flattened goal env, None for any other env."""
    spec = getattr(env, "goal", None)
    return spec if isinstance(spec, GoalSpec) else None
