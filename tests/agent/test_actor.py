"""Checklist: tanh-squashed Gaussian actor, reparameterised sample, log σ clamped to [−20, 2],
log-prob with the squash correction summed over action dimensions, actions scaled to the env's
bounds; deterministic tanh(mean) for evaluation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from conftest import tiny_config

from gpu_sac.agent.networks import Actor, make_networks, sample_action, scale_action, squashed_log_prob
from gpu_sac.agent.policy import PolicyParams, make_act


def reference_log_prob(u: np.ndarray, mean: np.ndarray, log_std: np.ndarray) -> np.ndarray:
    """Independent float64 computation: Gaussian log-density minus log|d tanh/du|, summed."""
    std = np.exp(log_std)
    gaussian = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return np.sum(gaussian - np.log(1.0 - np.tanh(u) ** 2), axis=-1)


def test_squashed_log_prob_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(64, 3))
    log_std = rng.uniform(-2, 1, size=(64, 3))
    u = mean + np.exp(log_std) * rng.normal(size=(64, 3))
    u = np.clip(u, -5, 5)  # where float64's direct formula is still exact
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    ours = squashed_log_prob(f32(u), f32(mean), f32(log_std))
    np.testing.assert_allclose(np.asarray(ours), reference_log_prob(u, mean, log_std), rtol=1e-4, atol=1e-3)


def test_squashed_density_integrates_to_one_over_the_action_interval():
    # π(a) for a in (−1, 1) with a = tanh(u): a density, so ∫ π(a) da = 1. The grid is uniform in u
    # so that it resolves the density's pile-up at ±1 when σ is large.
    u = np.linspace(-12, 12, 400_001)
    a = np.tanh(u)
    for mean, log_std in ((0.0, 0.0), (1.5, -1.0), (-0.7, 0.8)):
        logp = squashed_log_prob(jnp.asarray(u[:, None]), jnp.full((a.size, 1), mean), jnp.full((a.size, 1), log_std))
        integral = np.trapezoid(np.exp(np.asarray(logp, np.float64)), a)
        assert abs(integral - 1.0) < 1e-3, (mean, log_std, integral)


def test_log_prob_is_finite_when_tanh_saturates():
    u = jnp.array([[20.0], [-20.0], [40.0]])
    logp = squashed_log_prob(u, jnp.zeros((3, 1)), jnp.zeros((3, 1)))
    assert np.all(np.isfinite(np.asarray(logp)))
    # The exact correction −log(1 − tanh²(20)) = 2·(20 − log 2) + ..., not capped at −log(1e-6).
    expected = -0.5 * 20.0**2 - 0.5 * np.log(2 * np.pi) + 2 * (20.0 - np.log(2.0))
    np.testing.assert_allclose(float(logp[0]), expected, rtol=1e-5)


def test_log_std_is_clamped_to_its_bounds():
    actor = Actor(2, (8,), log_std_min=-20.0, log_std_max=2.0)
    params = actor.init(jax.random.PRNGKey(0), jnp.zeros(3))
    for bias, bound in ((1e3, 2.0), (-1e3, -20.0)):
        p = jax.tree_util.tree_map(lambda x: x, params)
        p["params"]["log_std"]["bias"] = jnp.full(2, bias)
        _, log_std = actor.apply(p, jnp.ones(3))
        np.testing.assert_allclose(np.asarray(log_std), bound)


def test_sample_is_reparameterised():
    mean, log_std = jnp.array([0.3, -0.2]), jnp.array([-0.5, 0.1])
    key = jax.random.PRNGKey(1)
    action, _ = sample_action(mean, log_std, key)
    eps = jax.random.normal(key, (2,))
    np.testing.assert_allclose(np.asarray(action), np.tanh(np.asarray(mean + jnp.exp(log_std) * eps)), rtol=1e-6)
    # Gradients reach mean and log σ through the sample.
    g_mean, g_log_std = jax.grad(lambda m, s: sample_action(m, s, key)[0].sum(), argnums=(0, 1))(mean, log_std)
    assert np.all(np.asarray(g_mean) != 0) and np.all(np.asarray(g_log_std) != 0)


def test_actions_are_scaled_to_the_env_bounds():
    low, high = jnp.array([-2.0, 0.0]), jnp.array([2.0, 10.0])
    np.testing.assert_allclose(np.asarray(scale_action(jnp.array([-1.0, -1.0]), low, high)), [-2.0, 0.0])
    np.testing.assert_allclose(np.asarray(scale_action(jnp.array([1.0, 1.0]), low, high)), [2.0, 10.0])
    np.testing.assert_allclose(np.asarray(scale_action(jnp.array([0.0, 0.0]), low, high)), [0.0, 5.0])
    # Stochastic actions from a policy with a huge mean stay inside the bounds.
    act = make_act(make_networks(tiny_config(hidden_sizes=(8,)), 3, 2))
    params = Actor(2, (8,)).init(jax.random.PRNGKey(0), jnp.zeros(3))
    params["params"]["mean"]["bias"] = jnp.array([50.0, -50.0])
    policy = PolicyParams(params, None, low, high)
    actions = jax.vmap(lambda k: act(policy, jnp.ones(3), key=k, deterministic=False))(
        jax.random.split(jax.random.PRNGKey(2), 256))
    assert np.all(np.asarray(actions) >= np.asarray(low)) and np.all(np.asarray(actions) <= np.asarray(high))


def test_evaluation_action_is_tanh_of_the_mean():
    actor = Actor(2, (8,))
    params = actor.init(jax.random.PRNGKey(0), jnp.zeros(3))
    act = make_act(make_networks(tiny_config(hidden_sizes=(8,)), 3, 2))
    policy = PolicyParams(params, None, -jnp.ones(2), jnp.ones(2))
    obs = jax.random.normal(jax.random.PRNGKey(3), (5, 3))
    mean, _ = actor.apply(params, obs)
    np.testing.assert_allclose(np.asarray(act(policy, obs)), np.tanh(np.asarray(mean)), rtol=1e-6)
    # Deterministic: the same action every call; stochastic: differs with the key.
    np.testing.assert_array_equal(np.asarray(act(policy, obs)), np.asarray(act(policy, obs)))
    a1 = act(policy, obs, key=jax.random.PRNGKey(4), deterministic=False)
    a2 = act(policy, obs, key=jax.random.PRNGKey(5), deterministic=False)
    assert not np.allclose(np.asarray(a1), np.asarray(a2))


def test_sample_log_prob_is_exact_when_sigma_is_tiny_beside_the_mean():
    """log σ = −18 beside |mean| = 5: in float32, mean + σ·ε rounds to mean, so a log-density taken
    from (u − mean)/σ loses ε²/2 nats per dimension. Ours comes from ε itself."""
    mean = jnp.array([[5.0, -4.0, 3.0]] * 64)
    log_std = jnp.full((64, 3), -18.0)
    key = jax.random.PRNGKey(0)
    _, logp = sample_action(mean, log_std, key)
    eps = np.asarray(jax.random.normal(key, mean.shape), np.float64)
    u = np.asarray(mean, np.float64) + np.exp(-18.0) * eps
    # Float64 reference: Gaussian log-density of ε, minus log(1 − tanh²(u)) = 2·(log 2 − |u| − log1p(e^−2|u|)).
    gaussian = -0.5 * eps**2 - (-18.0) - 0.5 * np.log(2 * np.pi)
    correction = 2 * (np.log(2.0) - np.abs(u) - np.log1p(np.exp(-2 * np.abs(u))))
    np.testing.assert_allclose(np.asarray(logp, np.float64), np.sum(gaussian - correction, -1), rtol=0, atol=2e-3)
