"""The actor (tanh-squashed Gaussian policy) and the critic ensemble, as flax.linen modules, and the
pure functions that sample from the policy.

Shapes: obs (..., obs_dim), action (..., act_dim). The critic ensemble returns (n_critics, ...):
its parameters carry a leading axis of size n_critics (`nn.vmap`), so the critics are initialised
independently yet run as one batched network (one kernel per layer rather than one per critic).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG_2 = jnp.log(2.0)


class MLP(nn.Module):
    """ReLU MLP: Dense → [LayerNorm] → ReLU per hidden layer."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = nn.Dense(size)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.relu(x)
        return x


class Actor(nn.Module):
    """obs (..., obs_dim) → (mean, log_std), each (..., act_dim); log_std clamped to its bounds."""

    action_size: int
    hidden_sizes: Sequence[int]
    log_std_min: float = -20.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = MLP(self.hidden_sizes)(obs)
        mean = nn.Dense(self.action_size, name="mean")(x)
        log_std = nn.Dense(self.action_size, name="log_std")(x)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


class Critic(nn.Module):
    """(obs, action) → Q, shape (...)."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = MLP(self.hidden_sizes, self.layer_norm)(jnp.concatenate([obs, action], axis=-1))
        return nn.Dense(1)(x)[..., 0]


class CriticEnsemble(nn.Module):
    """n_critics independent critics → Q of shape (n_critics, ...)."""

    n_critics: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            Critic,
            in_axes=None,
            out_axes=0,
            variable_axes={"params": 0},
            split_rngs={"params": True},  # independent initialisation of each critic
            axis_size=self.n_critics,
        )
        return ensemble(self.hidden_sizes, self.layer_norm)(obs, action)


def log_one_minus_tanh_sq(u: jax.Array) -> jax.Array:
    """log(1 − tanh(u)²), exact and finite for every finite u.

    1 − tanh(u)² = 4 / (e^u + e^−u)², so log(...) = 2·(log 2 − u − softplus(−2u)). The seed's
    `log(1 − tanh² + 1e-6)` caps the correction at log(1e-6) once |u| ≳ 7; this form needs no cap.
    """
    return 2.0 * (LOG_2 - u - jax.nn.softplus(-2.0 * u))


def squashed_log_prob(u: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """log π(tanh(u)) for pre-tanh sample u ~ N(mean, σ²): shapes (..., act_dim) → (...).

    The Gaussian log-density minus the tanh Jacobian, summed over action dimensions. It is the
    density of the squashed action in [−1, 1]^d; scaling to the env's bounds is a constant shift
    that we leave out, so that target entropy −dim(A) means the same on every env.
    """
    gaussian = -0.5 * (((u - mean) / jnp.exp(log_std)) ** 2 + 2.0 * log_std + jnp.log(2.0 * jnp.pi))
    return jnp.sum(gaussian - log_one_minus_tanh_sq(u), axis=-1)


def sample_action(mean: jax.Array, log_std: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterised sample: a = tanh(mean + σ·ε), ε ~ N(0, I). Returns (a in [−1, 1], log π(a)).

    Gradients flow from a and log π back into mean and log_std.
    """
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    return jnp.tanh(u), squashed_log_prob(u, mean, log_std)


def scale_action(action: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """Map an action in [−1, 1] to [low, high] (affine, per dimension)."""
    return low + (action + 1.0) * 0.5 * (high - low)
