"""The transition: what the collector emits, the n-step window builds and the replay buffer stores.

Its own module so that code which handles transitions (losses, learner, n-step) does not depend on
one replay layout, and a new replay variant can store them however it likes.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Transition(NamedTuple):
    """Fields of a batch of transitions; leading shape (...,) is the batch.

    `discount` is the factor on the bootstrapped value: γ^k for a k-step transition that did not
    terminate, 0 for one that did. A truncated transition keeps its discount and its true final
    observation as next_obs, so the critic bootstraps from it.
    """

    obs: jax.Array  # (..., obs_dim)
    action: jax.Array  # (..., act_dim), in [−1, 1] (the policy's squashed space)
    reward: jax.Array  # (...,) (n-step: the discounted sum of n rewards)
    next_obs: jax.Array  # (..., obs_dim): the true final obs at an episode's end
    discount: jax.Array  # (...,): γ^n, or 0 if the episode terminated


def random_transitions(key: jax.Array, size: int, obs_dim: int, act_dim: int, discount: float = 0.99) -> Transition:
    """`size` random rows (normal obs and rewards, uniform actions in [-1, 1]): data for timing or
    testing an update without an env."""
    k = jax.random.split(key, 4)
    return Transition(obs=jax.random.normal(k[0], (size, obs_dim)),
                      action=jax.random.uniform(k[1], (size, act_dim), minval=-1, maxval=1),
                      reward=jax.random.normal(k[2], (size,)), next_obs=jax.random.normal(k[3], (size, obs_dim)),
                      discount=jnp.full((size,), discount))
