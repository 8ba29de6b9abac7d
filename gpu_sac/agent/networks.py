"""The actor (tanh-squashed Gaussian policy) and the critic ensemble, as flax.linen modules; the
pure functions that sample from the policy; and `SACNetworks`, the record of both networks and the
action head that the learner, the losses, the rollout and the exported policy all use.

`make_networks(config, obs_dim, act_dim)` is the one place that builds networks from a config: a new
critic type (a distributional one, say) or actor head plugs in there, and changes its record's
functions, not their callers.

Shapes: obs (..., obs_dim), action (..., act_dim). The critic ensemble returns (n_critics, ...):
its parameters carry a leading axis of size n_critics (`nn.vmap`), so the critics are initialised
independently yet run as one batched network (one kernel per layer rather than one per critic).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gpu_sac.agent import distributional

LOG_2 = math.log(2.0)  # a Python float: a jnp constant at import would start JAX's backend


# Hidden-layer activations by name (the config's actor_activation / critic_activation).
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu, "silu": nn.silu, "elu": nn.elu, "gelu": nn.gelu, "tanh": jnp.tanh,
}
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class MLP(nn.Module):
    """Dense → [LayerNorm] → activation per hidden layer.

    dtype: the dtype the layers compute in (bfloat16 for mixed precision); their parameters stay
    float32 (flax casts them for the matmul), and LayerNorm takes its statistics in float32.
    """

    hidden_sizes: Sequence[int]
    layer_norm: bool = False
    activation: str = "relu"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = nn.Dense(size, dtype=self.dtype)(x)
            if self.layer_norm:
                x = nn.LayerNorm(dtype=self.dtype)(x)
            x = act(x)
        return x


class Actor(nn.Module):
    """obs (..., obs_dim) → (mean, log_std), each (..., act_dim) float32; log_std within its bounds.

    log_std_squash: "clip" clamps the head's output to [log_std_min, log_std_max] (the seed);
    "tanh" maps it smoothly onto that interval, min + (max − min)·(tanh(x) + 1)/2 (SpinUp, FastSAC),
    so that a narrow interval such as [−5, 0] never cuts the gradient.
    The heads compute in float32 from the trunk's output, whatever the trunk's dtype.
    """

    action_size: int
    hidden_sizes: Sequence[int]
    log_std_min: float = -20.0
    log_std_max: float = 2.0
    layer_norm: bool = False
    activation: str = "relu"
    log_std_squash: str = "clip"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = MLP(self.hidden_sizes, self.layer_norm, self.activation, self.dtype)(obs).astype(jnp.float32)
        mean = nn.Dense(self.action_size, name="mean")(x)
        log_std = nn.Dense(self.action_size, name="log_std")(x)
        if self.log_std_squash == "tanh":
            return mean, self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (jnp.tanh(log_std) + 1.0)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


class Critic(nn.Module):
    """(obs, action) → Q of shape (...) with outputs = 1; with outputs = K > 1 (a distributional
    critic), the logits of Q's distribution over K atoms, shape (..., K). float32 either way."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = False
    activation: str = "relu"
    dtype: Any = jnp.float32
    outputs: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = MLP(self.hidden_sizes, self.layer_norm, self.activation, self.dtype)(
            jnp.concatenate([obs, action], axis=-1)).astype(jnp.float32)
        out = nn.Dense(self.outputs)(x)
        return out[..., 0] if self.outputs == 1 else out


class CriticEnsemble(nn.Module):
    """n_critics independent critics → Q of shape (n_critics, ...) (logits (n_critics, ..., K))."""

    n_critics: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = False
    activation: str = "relu"
    dtype: Any = jnp.float32
    outputs: int = 1

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
        return ensemble(self.hidden_sizes, self.layer_norm, self.activation, self.dtype, self.outputs)(obs, action)


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
    that we leave out, so that target entropy −dim(A) means the same on every env. For a sample
    drawn here, `sample_action` uses `squashed_log_prob_of_noise`, which is exact where this loses
    precision (u − mean rounds to nothing when σ is tiny beside |mean|).
    """
    return squashed_log_prob_of_noise(u, (u - mean) / jnp.exp(log_std), log_std)


def squashed_log_prob_of_noise(u: jax.Array, eps: jax.Array, log_std: jax.Array) -> jax.Array:
    """log π(tanh(u)) for u = mean + σ·ε, from the noise ε itself: −ε²/2 − log σ − log(2π)/2 per
    dimension, minus log(1 − tanh(u)²), summed. Shapes (..., act_dim) → (...).

    From ε directly, not from (u − mean)/σ: in float32 with log σ near −18, mean + σ·ε rounds to
    mean, and (u − mean)/σ then gives 0 for ε and loses up to ~ε²/2 nats (6 for |ε| = 3.5).
    """
    gaussian = -0.5 * (eps**2 + 2.0 * log_std + jnp.log(2.0 * jnp.pi))
    return jnp.sum(gaussian - log_one_minus_tanh_sq(u), axis=-1)


def sample_action(mean: jax.Array, log_std: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterised sample: a = tanh(mean + σ·ε), ε ~ N(0, I). Returns (a in [−1, 1], log π(a)).

    Gradients flow from a and log π back into mean and log_std.
    """
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    u = mean + jnp.exp(log_std) * eps
    return jnp.tanh(u), squashed_log_prob_of_noise(u, eps, log_std)


def tanh_gaussian_head(deterministic: bool = False) -> tuple[Callable, Callable]:
    """(sample, mode) of the tanh-squashed Gaussian, from the actor's (mean, log_std).

    sample(mean, log_std, key) -> (action in [−1, 1], log π): a reparameterised draw; with
    deterministic (the ablation) tanh(mean) and log π = 0. mode(mean, log_std) -> tanh(mean), the
    evaluation action (seed pitfall 7).
    """

    def mode(mean: jax.Array, log_std: jax.Array) -> jax.Array:
        return jnp.tanh(mean)

    def sample(mean: jax.Array, log_std: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        if deterministic:
            return jnp.tanh(mean), jnp.zeros(mean.shape[:-1])
        return sample_action(mean, log_std, key)

    return sample, mode


def scale_action(action: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """Map an action in [−1, 1] to [low, high] (affine, per dimension)."""
    return low + (action + 1.0) * 0.5 * (high - low)


class SACNetworks(NamedTuple):
    """The actor, the critic ensemble and how they are used, as pure functions of their params.

    Shapes: obs (..., obs_dim), action (..., act_dim) in [−1, 1] (the squashed space; `scale_action`
    maps it to the env's bounds); Q (n_critics, ...). With an asymmetric layout the actor reads
    obs[..., actor_obs] and the critics obs[..., critic_obs] of the one stored vector.
    A distributional critic (critic_type "c51") also has `support` (K,) and `critic_logits`;
    `critic_apply` is then its expected value, so the actor and everything else read Q alike.
    """

    obs_dim: int
    act_dim: int
    actor_init: Callable  # (key) -> actor params
    actor_apply: Callable  # (params, obs) -> (mean, log_std), each (..., act_dim)
    critic_init: Callable  # (key) -> critic params, leaves with a leading n_critics axis
    critic_apply: Callable  # (params, obs, action) -> Q (n_critics, ...)
    sample: Callable  # (actor params, obs, key) -> (action (..., act_dim), log π (...))
    mode: Callable  # (actor params, obs) -> deterministic action (..., act_dim)
    target_q: Callable  # Q (n_critics, ...) -> (...) or (n_critics, ...): the reduction in the critic target
    actor_q: Callable  # Q (n_critics, ...) -> (...): the reduction in the actor loss (min or mean)
    scale_action: Callable = scale_action  # (action in [−1, 1], low, high) -> action in [low, high]
    support: Any = None  # (K,) atoms of a distributional critic; None for a scalar one
    critic_logits: Callable | None = None  # (params, obs, action) -> logits (n_critics, ..., K)
    target_dist: Callable | None = None  # (probs (n, ..., K), values (n, ...)) -> target probs (..., K) or (n, ..., K)
    actor_obs: tuple[int, int] | None = None  # (start, stop) columns of obs the actor reads; None: all
    critic_obs: tuple[int, int] | None = None  # (start, stop) columns of obs the critics read; None: all


# The config fields that shape the actor (an exported policy stores them), and those of the critics.
ACTOR_FIELDS = ("hidden_sizes", "actor_hidden_sizes", "actor_activation", "actor_layer_norm", "log_std_min",
                "log_std_max", "log_std_squash", "deterministic_policy", "compute_dtype")
NETWORK_FIELDS = (*ACTOR_FIELDS, "critic_hidden_sizes", "critic_activation", "n_critics", "critic_layer_norm",
                  "actor_q", "target_q", "critic_type", "num_atoms", "v_min", "v_max")
# How the critic target combines the critics' values: min (clipped double Q), mean, or each critic
# its own target (independent: returned with the critics' axis).
_REDUCTIONS = {"min": lambda q: q.min(axis=0), "mean": lambda q: q.mean(axis=0), "independent": lambda q: q}
_DIST_REDUCTIONS = {
    "min": lambda probs, values: distributional.lower_value_distribution(probs, values),
    "mean": lambda probs, values: probs.mean(axis=0),
    "independent": lambda probs, values: probs,
}


def _columns(obs: jax.Array, cols: tuple[int, int] | None) -> jax.Array:
    return obs if cols is None else obs[..., cols[0]:cols[1]]


def make_networks(config: Any, obs_dim: int, act_dim: int, obs_layout: Any = None) -> SACNetworks:
    """The networks that `config` (a SACConfig, or any object with NETWORK_FIELDS) describes.

    obs_layout: None (both networks read the whole observation) or an object with `actor` and
    `critic`, each the (start, stop) columns that network reads, or None for all of them
    (envs.dict_obs.ObsLayout: the actor sees the env's `state`, the critics its `privileged_state`).
    """
    dtype = DTYPES[config.compute_dtype]
    distributional_critic = config.critic_type == "c51"
    actor = Actor(act_dim, config.actor_hidden_sizes or config.hidden_sizes, config.log_std_min, config.log_std_max,
                  config.actor_layer_norm, config.actor_activation, config.log_std_squash, dtype)
    critic = CriticEnsemble(config.n_critics, config.critic_hidden_sizes or config.hidden_sizes,
                            config.critic_layer_norm, config.critic_activation, dtype,
                            config.num_atoms if distributional_critic else 1)
    actor_cols, critic_cols = (None if obs_layout is None or getattr(obs_layout, part) is None
                               else tuple(getattr(obs_layout, part)) for part in ("actor", "critic"))
    head_sample, head_mode = tanh_gaussian_head(config.deterministic_policy)

    def actor_apply(params, o):
        return actor.apply(params, _columns(o, actor_cols))

    def critic_out(params, o, a):
        return critic.apply(params, _columns(o, critic_cols), a)

    obs, action = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
    fields = dict(
        obs_dim=obs_dim,
        act_dim=act_dim,
        actor_init=lambda key: actor.init(key, _columns(obs, actor_cols)),
        actor_apply=actor_apply,
        critic_init=lambda key: critic.init(key, _columns(obs, critic_cols), action),
        critic_apply=critic_out,
        sample=lambda params, o, key: head_sample(*actor_apply(params, o), key),
        mode=lambda params, o: head_mode(*actor_apply(params, o)),
        target_q=_REDUCTIONS[config.target_q],
        actor_q=_REDUCTIONS[config.actor_q],
        actor_obs=actor_cols,
        critic_obs=critic_cols,
    )
    if distributional_critic:
        atoms = distributional.support(config.v_min, config.v_max, config.num_atoms)
        fields.update(
            support=atoms,
            critic_logits=critic_out,
            critic_apply=lambda params, o, a: distributional.expected(jax.nn.softmax(critic_out(params, o, a)), atoms),
            target_dist=_DIST_REDUCTIONS[config.target_q],
        )
    return SACNetworks(**fields)
