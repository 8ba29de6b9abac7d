"""Checklist: the seed's optimisation tricks and ablations as options (off by default: see
test_config), each changing what is trained, and doing what it says."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import tiny_config

from gpu_sac import replay, train
from gpu_sac.agent import normalizer
from gpu_sac.agent.learner import _optimizer, init_agent, make_optimizers, make_update
from gpu_sac.agent.networks import make_networks
from gpu_sac.training.train import build, seed_keys, select_seed

SMALL = dict(total_steps=128, steps_per_chunk=128, hidden_sizes=(16, 16), eval_episodes=1)


def leaves_differ(a, b) -> bool:
    """Some leaf differs (in shape or value) between two pytrees of parameters."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        return True
    return any(x.shape != y.shape or not np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(la, lb, strict=True))


@pytest.fixture(scope="module")
def plain_run():
    return train(tiny_config(**SMALL))


# Equal α bounds bind from the first update on: α must stay exactly there while it is learned.
ALPHA_PINNED = dict(alpha_min=0.2, alpha_max=0.2)


@pytest.mark.parametrize(
    "option",
    [
        dict(grad_updates_per_step=2),  # the pendulum preset takes 4
        dict(n_step=3),
        dict(prioritized_replay=True),
        dict(critic_layer_norm=True),
        dict(reward_scale=0.1),
        dict(normalize_observations=True),
        dict(max_grad_norm=1.0),
        dict(policy_delay=2),
        ALPHA_PINNED,
        dict(actor_q="mean"),
        dict(lr_schedule="linear"),
        dict(lr_schedule="cosine"),
        dict(learn_alpha=False, init_alpha=0.0),  # ablation: α = 0
        dict(learn_alpha=False),  # ablation: fixed α
        dict(n_critics=1),  # ablation: one critic
        dict(learn_alpha=False, deterministic_policy=True),  # ablation: deterministic policy
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_option_changes_what_is_trained_and_stays_finite(option, plain_run):
    """An option that the trainer silently ignored would give the plain run's parameters bitwise
    (same seed, same data): each option must change both the actor and the critics."""
    result = train(tiny_config(**SMALL, **option))
    record = result.history[-1]
    for name in ("critic_loss", "actor_loss", "alpha", "q", "eval_return"):
        assert np.isfinite(record[name]), name
    for net in ("actor", "critic"):
        assert leaves_differ(result.params[net], plain_run.params[net]), f"{net} is the plain run's"
    if option == ALPHA_PINNED:
        # The plain run's α moved away from 0.2; the pinned one stays exactly there.
        assert float(plain_run.params["log_alpha"]) != pytest.approx(math.log(0.2), abs=1e-4)
        assert record["alpha"] == float(np.float32(0.2))
        assert float(result.params["log_alpha"]) == float(np.float32(math.log(0.2)))


def batch(n=16, seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    return replay.Transition(jax.random.normal(k[0], (n, 3)), jax.random.uniform(k[1], (n, 1), minval=-1, maxval=1),
                             jax.random.normal(k[2], (n,)), jax.random.normal(k[3], (n, 3)), jnp.full((n,), 0.99))


def one_update(index=0, **overrides):
    config = tiny_config(**overrides)
    nets = make_networks(config, 3, 1)
    agent = init_agent(config, nets, jax.random.PRNGKey(0))
    new, metrics, _ = make_update(config, nets)(agent, batch(), jnp.ones(16), jax.random.PRNGKey(1),
                                                jnp.asarray(index))
    return agent, new, metrics


def changed(a, b) -> float:
    return float(sum(jnp.abs(x - y).sum() for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)))


def test_alpha_zero_ablation_target_has_no_entropy_term_and_actor_loss_is_minus_q():
    """α = 0 (kept as log α = 0, which would read as α = 1 if α came from it): the critic target is
    r + discount·min Q'(s', a') and the actor loss −min Q(s, a), by hand. With the actor's σ ≈ e^−20,
    a = tanh(mean(s)) whatever the key, while log π ≈ +18 per action dimension: any α > 0 left in
    either loss would move it by ≥ 3."""
    config = tiny_config(learn_alpha=False, init_alpha=0.0)
    nets = make_networks(config, 3, 1)
    agent = init_agent(config, nets, jax.random.PRNGKey(0))
    actor = jax.tree.map(jnp.asarray, agent.actor_params)
    actor["params"]["log_std"] = jax.tree.map(lambda x: jnp.full_like(x, -20.0) if x.ndim == 1 else jnp.zeros_like(x),
                                              actor["params"]["log_std"])
    agent = agent.replace(actor_params=actor)
    b = batch()
    new, metrics, _ = make_update(config, nets)(agent, b, jnp.ones(16), jax.random.PRNGKey(1), jnp.asarray(0))

    def min_q(params, obs):
        return nets.critic_apply(params, obs, jnp.tanh(nets.actor_apply(actor, obs)[0])).min(0)

    target = b.reward + b.discount * min_q(agent.target_critic_params, b.next_obs)
    np.testing.assert_allclose(float(metrics["target_q"]), float(target.mean()), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(metrics["actor_loss"]), float(-min_q(agent.critic_params, b.obs).mean()),
                               rtol=1e-5, atol=1e-5)
    assert float(metrics["entropy"]) < -10  # log π is large: the checks above would see α·log π
    assert float(metrics["alpha"]) == 0.0 and float(metrics["alpha_loss"]) == 0.0
    assert float(new.log_alpha) == float(agent.log_alpha)


def test_deterministic_policy_trainer_stores_tanh_mean_of_the_actor_of_the_time():
    """After start_steps the trainer acts with tanh(mean(obs)) of the actor as it is at that step, no
    noise: checked on the rows collected with the initial actor (before learning starts) and on the
    first rows of the second chunk (collected with the actor that the first chunk trained)."""
    config = tiny_config(learn_alpha=False, deterministic_policy=True, total_steps=256, steps_per_chunk=128,
                         start_steps=64, min_replay_size=96, buffer_size=256, eval_episodes=0)
    program = build(config)
    state = program.init(seed_keys(config))
    actor0 = jax.device_get(select_seed(state.agent.actor_params, 0))
    state, _ = program.run_chunk(state)
    actor1 = jax.device_get(select_seed(state.agent.actor_params, 0))
    assert leaves_differ(actor0, actor1)  # the first chunk trained the actor
    state, _ = program.run_chunk(state)
    rows = replay.unpack(state.buffer.data[0], 3, 1)  # row i·4 + e: vectorised step i, env e
    for actor, (start, stop) in ((actor0, (64, 96)), (actor1, (128, 132))):
        obs, action = rows.obs[start:stop], rows.action[start:stop]
        expected = jnp.tanh(program.nets.actor_apply(actor, obs)[0])
        np.testing.assert_allclose(np.asarray(action), np.asarray(expected), rtol=1e-5, atol=1e-6)
    # The actor that acted on those rows matters: the other one proposes other actions.
    assert np.abs(np.asarray(jnp.tanh(program.nets.actor_apply(actor0, rows.obs[128:132])[0])
                             - rows.action[128:132])).max() > 1e-3


def test_single_critic_ablation_has_one_critic():
    agent, _, _ = one_update(n_critics=1)
    assert all(leaf.shape[0] == 1 for leaf in jax.tree.leaves(agent.critic_params))


def test_delayed_actor_updates_move_the_actor_every_policy_delay_updates():
    agent, on, _ = one_update(index=4, policy_delay=2)
    _, off, _ = one_update(index=5, policy_delay=2)
    assert changed(on.actor_params, agent.actor_params) > 0 and float(on.log_alpha) != float(agent.log_alpha)
    assert changed(off.actor_params, agent.actor_params) == 0 and float(off.log_alpha) == float(agent.log_alpha)
    assert changed(off.critic_params, agent.critic_params) > 0  # critics update every time


def numpy_adam(grads, lr, max_norm=None, per_leaf=False, b1=0.9, b2=0.999, eps=1e-8):
    """Adam's updates for a sequence of gradients (lists of float64 arrays), each first clipped to
    global norm max_norm (or each leaf to max_norm, per_leaf)."""
    m = [np.zeros_like(g) for g in grads[0]]
    v = [np.zeros_like(g) for g in grads[0]]
    out = []
    for t, g in enumerate(grads, start=1):
        if max_norm is not None:
            if per_leaf:
                g = [x * min(1.0, max_norm / np.linalg.norm(x)) for x in g]
            else:
                norm = math.sqrt(sum(float((x**2).sum()) for x in g))
                g = [x * min(1.0, max_norm / norm) for x in g]
        m = [b1 * a + (1 - b1) * x for a, x in zip(m, g, strict=True)]
        v = [b2 * a + (1 - b2) * x**2 for a, x in zip(v, g, strict=True)]
        out.append([-lr * (a / (1 - b1**t)) / (np.sqrt(c / (1 - b2**t)) + eps) for a, c in zip(m, v, strict=True)])
    return out


@pytest.mark.parametrize("which", [0, 1, 2], ids=["actor", "critic", "alpha"])
def test_gradient_clipping_clips_the_global_norm_before_adam(which):
    """Three Adam steps on gradients of global norms 13, 0.5 and 3 through each of the trainer's
    optimisers, against numpy's Adam on the gradients clipped to global norm 1. (Adam's first step
    is nearly scale-invariant, so only the later steps show the clipping.)"""
    config = tiny_config(max_grad_norm=1.0)
    opt = make_optimizers(config)[which]
    lr = (config.actor_lr, config.critic_lr, config.alpha_lr)[which]
    rng = np.random.default_rng(0)
    grads = []
    for norm in (13.0, 0.5, 3.0):
        a, b = rng.normal(size=3), 4 * rng.normal(size=(2, 2))  # leaves of different norms
        scale = norm / math.sqrt((a**2).sum() + (b**2).sum())
        grads.append([a * scale, b * scale])
    params = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
    state = opt.init(params)
    got = []
    for g in grads:
        updates, state = opt.update({"a": jnp.asarray(g[0], jnp.float32), "b": jnp.asarray(g[1], jnp.float32)},
                                    state, params)
        got.append([np.asarray(updates["a"]), np.asarray(updates["b"])])
    expected = numpy_adam(grads, lr, max_norm=1.0)
    for g, e in zip(got, expected, strict=True):
        for x, y in zip(g, e, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-9)
    # The comparison can tell: no clipping, or clipping each leaf alone, gives other steps.
    for other in (numpy_adam(grads, lr), numpy_adam(grads, lr, max_norm=1.0, per_leaf=True)):
        assert max(np.abs(x - y).max() / lr for x, y in zip(got[2], other[2], strict=True)) > 0.05
    # Without the option, no clipping.
    plain = _optimizer(lr, horizon=1, schedule="constant", max_grad_norm=None)
    state = plain.init(params)
    for g, e in zip(grads, numpy_adam(grads, lr), strict=True):
        updates, state = plain.update({"a": jnp.asarray(g[0], jnp.float32), "b": jnp.asarray(g[1], jnp.float32)},
                                      state, params)
        np.testing.assert_allclose(np.asarray(updates["b"]), e[1], rtol=1e-4, atol=1e-9)


def counts(opt_state) -> set[int]:
    return {int(np.asarray(v).reshape(-1)[0]) for _, v in optax.tree_utils.tree_get_all_with_path(opt_state, "count")}


def last_and_next_steps(opt, opt_state, params) -> tuple[float, float]:
    """|update| of the optimiser on a gradient of ones at the step before the state's count (the last
    step taken) and at its count (the next, which the run never takes)."""
    state = jax.tree.map(lambda x: x[0], opt_state)  # drop the seed axis
    params = jax.tree.map(lambda x: x[0], params)
    grad = jax.tree.map(jnp.ones_like, params)
    out = []
    for shift in (-1, 0):
        shifted = optax.tree_utils.tree_set(state, count=jnp.asarray(list(counts(state))[0] + shift, jnp.int32))
        updates, _ = opt.update(grad, shifted, params)
        out.append(max(float(jnp.abs(u).max()) for u in jax.tree.leaves(updates)))
    return out[0], out[1]


@pytest.mark.parametrize(
    "schedule, extra",
    [
        ("linear", {}),
        ("cosine", dict(n_step=3)),  # the first n − 1 steps insert nothing: fewer updates
        ("linear", dict(policy_delay=2, grad_updates_per_step=2)),  # 34 updates: the actor takes 17
        ("cosine", dict(policy_delay=2, grad_updates_per_step=1)),  # 17 updates: the actor takes 9 (0, 2, .., 16)
    ],
    ids=["linear", "cosine-nstep3", "linear-delay2", "cosine-delay2-odd"],
)
def test_learning_rate_schedules_reach_zero_exactly_at_the_runs_last_update(schedule, extra):
    """Through the trainer: at the end of the run each optimiser has taken as many steps as the run
    made updates (config.total_updates for the critics; the actor's and α's every policy_delay-th),
    its last step had a learning rate above 0 and its schedule is at 0 there."""
    config = tiny_config(**dict(SMALL, eval_episodes=0, lr_schedule=schedule, **extra))
    result = train(config)
    agent = result.state.agent
    total = result.history[-1]["updates"]
    assert total == config.total_updates > 0
    delay = config.policy_delay
    actor_steps = len(range(0, total, delay))  # update i moves the actor where i % policy_delay == 0
    assert counts(agent.critic_opt_state) == {total}
    assert counts(agent.actor_opt_state) == counts(agent.alpha_opt_state) == {actor_steps}
    actor_opt, critic_opt, alpha_opt = make_optimizers(config)
    for opt, opt_state, params in ((critic_opt, agent.critic_opt_state, agent.critic_params),
                                   (actor_opt, agent.actor_opt_state, agent.actor_params),
                                   (alpha_opt, agent.alpha_opt_state, agent.log_alpha)):
        last, after = last_and_next_steps(opt, opt_state, params)
        assert last > 0 and after == 0.0, (last, after)


def scaled_layer(params, layer: int, c: float):
    """The critic params with hidden Dense layer `layer`'s kernel and bias multiplied by c."""
    params = jax.tree.map(jnp.asarray, params)
    dense = params["params"]["VmapCritic_0"]["MLP_0"][f"Dense_{layer}"]
    params["params"]["VmapCritic_0"]["MLP_0"][f"Dense_{layer}"] = jax.tree.map(lambda x: c * x, dense)
    return params


def test_layer_norm_option_normalises_every_hidden_layer_of_the_critics_and_not_the_actor():
    """With critic_layer_norm, the critics' Q is invariant to scaling any hidden layer's kernel and bias
    by c > 0 (LayerNorm follows each); without it, it is not. The actor is the same network either way.
    Parameters are randomised (biases and LayerNorm's scale and offset included: at init the biases are
    0, which would make scaling invariant more often than it should be)."""
    obs = jax.random.normal(jax.random.PRNGKey(1), (8, 3))
    action = jax.random.uniform(jax.random.PRNGKey(2), (8, 1), minval=-1, maxval=1)
    actors = []
    for layer_norm in (True, False):
        config = tiny_config(critic_layer_norm=layer_norm)
        nets = make_networks(config, 3, 1)
        critic = nets.critic_init(jax.random.PRNGKey(0))
        leaves, tree = jax.tree.flatten(critic)
        keys = jax.random.split(jax.random.PRNGKey(3), len(leaves))
        noisy = [x + 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
        critic = jax.tree.unflatten(tree, noisy)
        q = nets.critic_apply(critic, obs, action)
        for layer in range(len(config.hidden_sizes)):
            for c in (3.0, 0.2):
                q_scaled = nets.critic_apply(scaled_layer(critic, layer, c), obs, action)
                if layer_norm:
                    np.testing.assert_allclose(np.asarray(q_scaled), np.asarray(q), rtol=1e-4, atol=1e-4)
                else:
                    assert float(jnp.abs(q_scaled - q).max()) > 1e-2
        actor = nets.actor_init(jax.random.PRNGKey(0))
        actors.append((jax.tree.structure(actor), nets.actor_apply(actor, obs)))
    assert actors[0][0] == actors[1][0]
    for a, b in zip(actors[0][1], actors[1][1], strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def run_chunk(**overrides):
    config = tiny_config(total_steps=128, steps_per_chunk=128, buffer_size=128, min_replay_size=128, batch_size=32,
                         start_steps=128, eval_episodes=0, **overrides)
    program = build(config)
    state, _ = program.run_chunk(program.init(seed_keys(config)))
    return state


def test_reward_scale_multiplies_the_stored_rewards():
    plain = replay.unpack(run_chunk().buffer.data[0], 3, 1)
    scaled = replay.unpack(run_chunk(reward_scale=0.1).buffer.data[0], 3, 1)
    np.testing.assert_array_equal(np.asarray(plain.obs), np.asarray(scaled.obs))  # same random-action data
    np.testing.assert_allclose(np.asarray(scaled.reward), 0.1 * np.asarray(plain.reward), rtol=1e-6)


def test_observation_normaliser_tracks_the_observed_mean_and_variance():
    state = run_chunk(normalize_observations=True)
    obs = np.asarray(replay.unpack(state.buffer.data[0], 3, 1).obs, np.float64)
    stats = state.agent.obs_stats
    np.testing.assert_allclose(np.asarray(stats.mean[0]), obs.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(stats.var[0]), obs.var(0), rtol=1e-3, atol=1e-5)
    assert float(stats.count[0]) == 128


def test_update_normalises_obs_and_next_obs_with_the_current_statistics():
    """An update on raw transitions with statistics (mean, var) equals one on transitions normalised by
    hand with identity statistics: the critic target reads the normalised next_obs (and the critics and
    actor the normalised obs). Normalising obs alone gives another target."""
    config = tiny_config(normalize_observations=True)
    nets = make_networks(config, 3, 1)
    agent = init_agent(config, nets, jax.random.PRNGKey(0))
    stats = normalizer.RunningStats(jnp.array([2.0, -1.0, 0.5]), jnp.array([4.0, 0.25, 9.0]), jnp.asarray(100.0))
    identity = normalizer.RunningStats(jnp.zeros(3), jnp.ones(3), jnp.asarray(100.0))
    raw = batch()._replace(next_obs=batch(seed=1).next_obs * 3.0 + jnp.array([2.0, -1.0, 0.5]))
    raw = raw._replace(next_obs=raw.next_obs.at[0, 1].set(50.0))  # beyond 10σ: clipped at +10

    def by_hand(x):
        return np.clip((np.asarray(x) - np.asarray(stats.mean)) / np.sqrt(np.asarray(stats.var) + 1e-8), -10, 10)

    normalised = raw._replace(obs=jnp.asarray(by_hand(raw.obs)), next_obs=jnp.asarray(by_hand(raw.next_obs)))
    assert float(normalised.next_obs[0, 1]) == 10.0
    update = jax.jit(make_update(config, nets))
    args = (jnp.ones(16), jax.random.PRNGKey(1), jnp.asarray(0))
    new, metrics, td = update(agent.replace(obs_stats=stats), raw, *args)
    new_hand, metrics_hand, td_hand = update(agent.replace(obs_stats=identity), normalised, *args)
    for name in ("target_q", "q", "critic_loss", "actor_loss"):
        np.testing.assert_allclose(float(metrics[name]), float(metrics_hand[name]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(td), np.asarray(td_hand), rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(new.critic_params), jax.tree.leaves(new_hand.critic_params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    _, metrics_raw_next, _ = update(agent.replace(obs_stats=identity), normalised._replace(next_obs=raw.next_obs),
                                    *args)
    assert abs(float(metrics_raw_next["target_q"]) - float(metrics["target_q"])) > 1e-3
