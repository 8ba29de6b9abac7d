"""Gym's Pendulum-v1 in pure JAX: the same dynamics, reward and bounds as Gymnasium's.

State (θ, θ̇); observation (cos θ, sin θ, θ̇); action: torque in [−2, 2];
reward −(θ_n² + 0.1·θ̇² + 0.001·u²) with θ_n the angle wrapped to [−π, π). It never terminates: the
trainer truncates episodes at episode_length (200, as Gymnasium's TimeLimit does).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

MAX_SPEED = 8.0
MAX_TORQUE = 2.0
DT = 0.05
G = 10.0
M = 1.0
L = 1.0

# Pure-JAX Pendulum-v1. RL Zoo's tuned SAC for Pendulum-v1 (rl-baselines3-zoo,
# hyperparams/sac.yml: 20 000 steps, learning rate 1e-3) reaches −157 ± 89; we keep its budget and
# learning rate, one gradient update per env step as the seed's loop does, and start learning after
# 1 000 random steps instead of 10 000 (the seed's default would spend half the budget on noise).
# Four envs stepped together with four updates per vectorised step keep that update-to-data ratio
# while the scan runs a quarter as many iterations. Batch 64, not the seed's 256: the wall-clock sweep
# (`python -m experiments.time_to_score --preset sweep-cpu --cases pendulum-sweep`, then its 5-seed
# confirmation, arm "batch64" of `--cases pendulum`; records under
# experiments/results/cpu-amd-epyc-2c/time_to_score/) reached −200 in a median 15 s against 20 s at
# batch 256 on a 2-core CPU, and ended the 20 000 steps at −121 ± 24 against −145 ± 25 (5 seeds).
# Networks 64 x 64, not the seed's 256 x 256: on a CPU an update costs about the width squared, and
# pendulum needs little. The width sweep (`--preset sweep-cpu --cases pendulum-width-sweep`, 3 seeds
# per width, the widths interleaved) reached −200 in 6.7-7.9 s at 64, 7.7-8.6 s at 128 and 12.0-15.7 s
# at 256; its 5-seed confirmation (arm "h64" of `--cases pendulum`) ends the 20 000 steps at −119 ± 23
# (the batch-64 preset: −121 ± 24) and reached −200 in 9.9-11.3 s (in an hour when this VM ran about a
# third slower than during the sweep: docs/time_to_score.md).
PRESET = dict(
    hidden_sizes=(64, 64),
    batch_size=64,
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


@struct.dataclass
class State:
    """Brax-style env state. pipeline_state: (θ, θ̇) of shape (2,); obs (3,); reward, done: ()."""

    pipeline_state: jax.Array
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    metrics: dict[str, Any] = struct.field(default_factory=dict)
    info: dict[str, Any] = struct.field(default_factory=dict)


def angle_normalize(x: jax.Array) -> jax.Array:
    """Wrap an angle to [−π, π)."""
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


def observe(th: jax.Array, thdot: jax.Array) -> jax.Array:
    return jnp.stack([jnp.cos(th), jnp.sin(th), thdot])


class Pendulum:
    """Brax-style env: reset(key) -> State, step(State, action) -> State; one env, no batch axis."""

    observation_size = 3
    action_size = 1
    # numpy, not jnp: a jnp array made at import would start JAX's backend, and a multi-process run
    # must start jax.distributed before that.
    action_bounds = (np.array([-MAX_TORQUE], np.float32), np.array([MAX_TORQUE], np.float32))

    def __init__(self, g: float = G):
        self.g = g

    def reset(self, key: jax.Array) -> State:
        """θ ~ U[−π, π], θ̇ ~ U[−1, 1], as Gymnasium's reset."""
        high = jnp.array([jnp.pi, 1.0])
        th_thdot = jax.random.uniform(key, (2,), minval=-high, maxval=high)
        zero = jnp.zeros(())
        return State(th_thdot, observe(th_thdot[0], th_thdot[1]), zero, zero)

    def step(self, state: State, action: jax.Array) -> State:
        th, thdot = state.pipeline_state[0], state.pipeline_state[1]
        u = jnp.clip(action[0], -MAX_TORQUE, MAX_TORQUE)
        reward = -(angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2)
        newthdot = thdot + (3 * self.g / (2 * L) * jnp.sin(th) + 3.0 / (M * L**2) * u) * DT
        newthdot = jnp.clip(newthdot, -MAX_SPEED, MAX_SPEED)
        newth = th + newthdot * DT
        return state.replace(
            pipeline_state=jnp.stack([newth, newthdot]),
            obs=observe(newth, newthdot),
            reward=reward,
            done=jnp.zeros(()),
        )

    def draw(self, physics: np.ndarray, height: int, width: int) -> np.ndarray:
        """A video frame (height, width, 3) uint8 of the state (θ, θ̇): θ = 0 upright, a rod of
        length 1 around a pivot."""
        from PIL import Image, ImageDraw

        theta = float(physics[0])
        image = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        cx, cy = width / 2, height / 2
        length = 0.4 * min(width, height)
        x, y = cx + length * np.sin(theta), cy - length * np.cos(theta)
        draw.line([(cx, cy), (x, y)], fill=(204, 77, 77), width=max(2, int(0.05 * min(width, height))))
        r = 0.02 * min(width, height)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(0, 0, 0))
        return np.asarray(image)
