"""The large-batch recipe as options (issue 10): the C51 distributional critic (projection against a
brute-force one, its soft target's mean, clipped double Q by the lower-mean distribution, gradients),
bf16 matmuls with float32 parameters, AdamW, per-network widths and activations, LayerNorm and a tanh
log σ on the actor, independent targets, and the asymmetric observation layout."""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_batch, tiny_config

from gpu_sac import ConfigError, SACConfig, train
from gpu_sac.agent import distributional
from gpu_sac.agent.learner import apply_gradients, init_agent, make_optimizers, make_update, temperature
from gpu_sac.agent.losses import critic_loss
from gpu_sac.agent.networks import make_networks
from gpu_sac.replay import Transition

OBS, ACT, B = 5, 2, 16


def batch(key=0, discount=0.99) -> Transition:
    return random_batch(key, B, OBS, ACT, discount)


def setup(layout=None, **overrides):
    config = tiny_config(**overrides)
    nets = make_networks(config, OBS, ACT, layout)
    return config, nets, init_agent(config, nets, jax.random.PRNGKey(0))


# ----------------------------------------------------------------------------- C51 projection


def brute_force_projection(probs: np.ndarray, atoms: np.ndarray, v_min: float, v_max: float) -> np.ndarray:
    """Textbook C51 projection, one mass at a time, with float64 loops: a mass at position x (clipped
    to the support) goes to the two atoms around it, in proportion to closeness; all of it to an atom
    it sits on."""
    k = probs.shape[-1]
    z = np.linspace(v_min, v_max, k)
    out = np.zeros(probs.shape, np.float64)
    for row in np.ndindex(probs.shape[:-1]):
        for j in range(k):
            x = min(max(float(atoms[row + (j,)]), v_min), v_max)
            exact = np.flatnonzero(np.isclose(z, x, rtol=0, atol=1e-9))
            if exact.size:
                out[row + (exact[0],)] += probs[row + (j,)]
                continue
            upper = int(np.searchsorted(z, x))
            lower = upper - 1
            w_upper = (x - z[lower]) / (z[upper] - z[lower])
            out[row + (lower,)] += probs[row + (j,)] * (1 - w_upper)
            out[row + (upper,)] += probs[row + (j,)] * w_upper
    return out


def test_projection_matches_brute_force_including_exact_atoms_and_values_beyond_the_support():
    rng = np.random.default_rng(0)
    v_min, v_max, k = -3.0, 5.0, 9  # atoms at -3, -2, ..., 5: integers land exactly on them
    probs = rng.dirichlet(np.ones(k), size=(2, 6)).astype(np.float32)  # (2, 6, K): leading axes kept
    atoms = rng.uniform(-6, 8, size=(2, 6, k)).astype(np.float32)
    atoms[0, 0] = np.arange(-3, 6)  # every atom exactly
    atoms[0, 1, :3] = [v_min, v_max, -10.0]  # ends, and beyond them
    atoms[1, 2] = rng.integers(-3, 6, size=k)
    got = np.asarray(distributional.project(jnp.asarray(probs), jnp.asarray(atoms), v_min, v_max))
    np.testing.assert_allclose(got, brute_force_projection(probs, atoms, v_min, v_max), atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)


def test_projection_keeps_the_mean_within_the_support():
    rng = np.random.default_rng(1)
    probs = jnp.asarray(rng.dirichlet(np.ones(51), size=32), jnp.float32)
    atoms = jnp.asarray(rng.uniform(-9, 9, size=(32, 51)), jnp.float32)
    got = distributional.project(probs, atoms, -10.0, 10.0)
    z = distributional.support(-10.0, 10.0, 51)
    np.testing.assert_allclose(distributional.expected(got, z), distributional.expected(probs, atoms), atol=1e-4)


def test_lower_value_distribution_picks_per_row_the_critic_with_the_lower_mean():
    probs = jnp.stack([jnp.array([[1.0, 0.0], [1.0, 0.0]]), jnp.array([[0.0, 1.0], [0.0, 1.0]])])  # (n=2, B=2, K=2)
    values = jnp.array([[0.0, 5.0], [1.0, 2.0]])  # row 0: critic 0 lower; row 1: critic 1 lower
    got = distributional.lower_value_distribution(probs, values)
    np.testing.assert_array_equal(np.asarray(got), [[1.0, 0.0], [0.0, 1.0]])


# ----------------------------------------------------------------------------- C51 critic loss

C51 = dict(critic_type="c51", num_atoms=51, v_min=-20.0, v_max=20.0)


@pytest.mark.parametrize("target_q", ["min", "mean", "independent"])
def test_c51_targets_mean_is_the_scalar_soft_target(target_q):
    """E[Φ(r + γ(Z' − α log π'))] = r + γ(reduce_i E[Z'_i] − α log π') while inside the support: the
    distributional target is the scalar one in expectation (min: the lower-mean critic's)."""
    config, nets, agent = setup(**C51, target_q=target_q)
    b = batch(discount=0.9)
    alpha = jnp.asarray(0.3)
    key = jax.random.PRNGKey(3)
    _, aux = critic_loss(nets, agent.critic_params, agent.target_critic_params, agent.actor_params, alpha, b,
                         jnp.ones(B), key)
    next_action, next_log_prob = nets.sample(agent.actor_params, b.next_obs, key)
    next_q = nets.critic_apply(agent.target_critic_params, b.next_obs, next_action)  # (n, B) expected values
    reduced = {"min": next_q.min(0), "mean": next_q.mean(0), "independent": next_q}[target_q]
    expected = b.reward + b.discount * (reduced - alpha * next_log_prob)
    np.testing.assert_allclose(float(aux["target_q"]), float(jnp.mean(expected)), rtol=1e-4, atol=1e-4)


def test_c51_critic_loss_is_cross_entropy_reaching_only_the_critics_and_zero_discount_is_the_reward():
    config, nets, agent = setup(**C51)
    b = batch(discount=0.0)._replace(reward=jnp.full((B,), 4.0))  # target: all mass on the atom at 4.0
    loss_fn = lambda a, c: critic_loss(nets, c, agent.target_critic_params, a, jnp.asarray(0.2), b,  # noqa: E731
                                       jnp.ones(B), jax.random.PRNGKey(0))
    loss, aux = loss_fn(agent.actor_params, agent.critic_params)
    z = distributional.support(-20.0, 20.0, 51)
    logits = nets.critic_logits(agent.critic_params, b.obs, b.action)  # (n, B, K)
    atom = int(np.flatnonzero(np.isclose(z, 4.0))[0])
    want = -jnp.sum(jnp.mean(jax.nn.log_softmax(logits)[..., atom], axis=-1))
    np.testing.assert_allclose(float(loss), float(want), rtol=1e-5)
    np.testing.assert_allclose(float(aux["target_q"]), 4.0, atol=1e-5)
    actor_grad, critic_grad = jax.grad(lambda a, c: loss_fn(a, c)[0], argnums=(0, 1))(agent.actor_params,
                                                                                      agent.critic_params)
    assert all(not np.any(np.asarray(g)) for g in jax.tree.leaves(actor_grad))
    assert any(np.any(np.asarray(g)) for g in jax.tree.leaves(critic_grad))


def test_c51_update_runs_and_lowers_the_loss_on_a_fixed_batch():
    config, nets, agent = setup(**C51, critic_lr=3e-3)
    update = jax.jit(make_update(config, nets))
    b = batch(discount=0.0)
    losses = []
    for i in range(60):
        agent, metrics, td_abs = update(agent, b, jnp.ones(B), jax.random.PRNGKey(i), jnp.asarray(i))
        losses.append(float(metrics["critic_loss"]))
    assert td_abs.shape == (B,) and losses[-1] < 0.6 * losses[0], losses[::10]


# ----------------------------------------------------------------------------- precision, optimiser, shapes


def test_bfloat16_computes_hidden_layers_in_bf16_with_float32_parameters_and_outputs():
    config, nets, agent = setup(compute_dtype="bfloat16", critic_layer_norm=True, actor_layer_norm=True)
    for leaf in jax.tree.leaves((agent.actor_params, agent.critic_params, agent.actor_opt_state,
                                 agent.critic_opt_state)):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
    obs, action = jnp.ones((4, OBS)), jnp.zeros((4, ACT))
    jaxpr = str(jax.make_jaxpr(nets.critic_apply)(agent.critic_params, obs, action))
    assert "bf16" in jaxpr and "dot_general" in jaxpr
    q = nets.critic_apply(agent.critic_params, obs, action)
    mean, log_std = nets.actor_apply(agent.actor_params, obs)
    assert q.dtype == mean.dtype == log_std.dtype == jnp.float32
    # float32 is float32 throughout.
    _, nets32, agent32 = setup()
    assert "bf16" not in str(jax.make_jaxpr(nets32.critic_apply)(agent32.critic_params, obs, action))


def test_weight_decay_is_adamw_on_the_networks_and_never_on_log_alpha():
    config, nets, agent = setup(weight_decay=0.5, actor_lr=0.1, critic_lr=0.1, alpha_lr=0.1)
    zero = jax.tree.map(jnp.zeros_like, (agent.actor_params, agent.critic_params, agent.log_alpha))
    new = apply_gradients(make_optimizers(config), agent, zero, temperature(config))
    # With a zero gradient Adam moves nothing; AdamW shrinks every weight by lr·wd = 5 %.
    for old, got in zip(jax.tree.leaves((agent.actor_params, agent.critic_params)),
                        jax.tree.leaves((new.actor_params, new.critic_params)), strict=True):
        np.testing.assert_allclose(np.asarray(got), 0.95 * np.asarray(old), rtol=1e-6, atol=1e-7)
    assert float(new.log_alpha) == float(agent.log_alpha)
    plain_config, _, plain_agent = setup(weight_decay=0.0, actor_lr=0.1, critic_lr=0.1)
    plain = apply_gradients(make_optimizers(plain_config), plain_agent, zero, temperature(plain_config))
    for old, got in zip(jax.tree.leaves(plain_agent.actor_params), jax.tree.leaves(plain.actor_params), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(old))


def test_each_network_takes_its_own_widths_activation_and_layer_norm():
    config, nets, agent = setup(actor_hidden_sizes=(8, 4), critic_hidden_sizes=(16, 12, 6), actor_layer_norm=True,
                                actor_activation="silu", critic_activation="elu")
    actor = agent.actor_params["params"]["MLP_0"]
    assert [actor[f"Dense_{i}"]["kernel"].shape for i in range(2)] == [(OBS, 8), (8, 4)]
    assert "LayerNorm_0" in actor
    critic = [leaf.shape for leaf in jax.tree.leaves(agent.critic_params["params"])]
    assert (2, OBS + ACT, 16) in critic and (2, 16, 12) in critic and (2, 12, 6) in critic
    # The activation is the one named: silu(x) != relu(x) for negative x changes the actor's output.
    _, relu_nets, _ = setup(actor_hidden_sizes=(8, 4), critic_hidden_sizes=(16, 12, 6), actor_layer_norm=True)
    obs = jax.random.normal(jax.random.PRNGKey(1), (3, OBS))
    assert not np.allclose(np.asarray(nets.actor_apply(agent.actor_params, obs)[0]),
                           np.asarray(relu_nets.actor_apply(agent.actor_params, obs)[0]))


def test_tanh_log_std_stays_within_bounds_and_keeps_its_gradient_there():
    config, nets, agent = setup(log_std_squash="tanh", log_std_min=-5.0, log_std_max=0.0)
    obs = 100.0 * jax.random.normal(jax.random.PRNGKey(0), (64, OBS))  # drive the head far out
    _, log_std = nets.actor_apply(agent.actor_params, obs)
    assert float(log_std.min()) >= -5.0 and float(log_std.max()) <= 0.0
    grad = jax.grad(lambda p: nets.actor_apply(p, jnp.ones((1, OBS)))[1].sum())(agent.actor_params)
    assert np.any(np.asarray(grad["params"]["log_std"]["bias"]))  # clip at 0 would cut it at init (σ ≈ 1)


def test_asymmetric_layout_actor_reads_its_columns_and_the_critics_theirs():
    layout = types.SimpleNamespace(actor=(0, 2), critic=(0, 5))  # actor: 2 of the 5 columns
    config, nets, agent = setup(layout)
    assert agent.actor_params["params"]["MLP_0"]["Dense_0"]["kernel"].shape == (2, 32)
    obs = jax.random.normal(jax.random.PRNGKey(0), (4, OBS))
    other = obs.at[:, 2:].set(7.0)  # privileged columns changed
    np.testing.assert_array_equal(np.asarray(nets.mode(agent.actor_params, obs)),
                                  np.asarray(nets.mode(agent.actor_params, other)))
    action = jnp.zeros((4, ACT))
    assert not np.allclose(np.asarray(nets.critic_apply(agent.critic_params, obs, action)),
                           np.asarray(nets.critic_apply(agent.critic_params, other, action)))


def test_recipe_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="v_min"):
        tiny_config(v_min=1.0, v_max=1.0)
    with pytest.raises(ConfigError, match="num_atoms"):
        tiny_config(num_atoms=1)
    with pytest.raises(ConfigError, match="critic_hidden_sizes"):
        tiny_config(critic_hidden_sizes=())
    with pytest.raises(ConfigError, match="compute_dtype"):
        tiny_config(compute_dtype="float16")
    assert tiny_config(actor_hidden_sizes=[8, 8]).actor_hidden_sizes == (8, 8)


# ----------------------------------------------------------------------------- learning


@pytest.mark.parametrize("option", [dict(critic_type="c51", v_min=-1000.0, v_max=0.0), dict(compute_dtype="bfloat16"),
                                    dict(replay_layout="compact")], ids=["c51", "bfloat16", "compact_replay"])
def test_recipe_option_trains_pendulum_to_the_default_configs_bar(option):
    """The bar of test_train.test_pendulum_learns_within_20k_steps (−250 after 20k steps, 10 deterministic
    episodes), with one recipe option on. The c51 support covers pendulum's returns (γ 0.99: Q in
    about [−1 000, 0])."""
    result = train(SACConfig(env="pendulum", total_steps=20_000, seed=0, **option))
    returns = [r["eval_return"] for r in result.history]
    assert returns[-1] >= -250 and returns[0] < -700, returns


def test_fastsac_preset_is_the_recipe_over_any_envs_gpu_preset():
    config = SACConfig(env="halfcheetah", preset="fastsac")
    assert (config.critic_type, config.compute_dtype, config.batch_size, config.num_envs) == ("c51", "bfloat16", 8192,
                                                                                             1024)
    assert SACConfig(env="halfcheetah", preset="fastsac", batch_size=512).batch_size == 512  # the caller's wins
