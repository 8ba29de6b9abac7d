"""Runs over a mesh of devices (gpu_sac.training.mesh), on 4 forced CPU devices.

JAX fixes its device count when it starts, so these tests need
XLA_FLAGS=--xla_force_host_platform_device_count=4 before it does: test_mesh_subprocess.py runs this
file in a subprocess with it, and here they skip on fewer devices.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config
from jax.sharding import PartitionSpec as P

from gpu_sac import SACConfig, replay, train
from gpu_sac.agent.learner import (
    apply_gradients,
    init_agent,
    make_optimizers,
    make_total_loss,
    make_update,
    polyak,
    temperature,
)
from gpu_sac.agent.networks import make_networks
from gpu_sac.replay import Transition
from gpu_sac.store import checkpoint
from gpu_sac.training import mesh
from gpu_sac.training.train import build, seed_keys

pytestmark = pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 devices: run by test_mesh_subprocess.py")


def leaves_equal(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def host_state(program, state):
    """The state in the one-device layout, as numpy."""
    return mesh.single_state(jax.device_get(state), program.layout)


def leaves_close(a, b) -> None:
    """Integer, boolean and key leaves equal; float leaves equal to float32 rounding (see below)."""
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("prioritized", [False, True])
def test_collection_matches_one_device(prioritized):
    """Before the first update a data-parallel run collects what one device does: the same envs
    (resets included), n-step windows, observation statistics and replay rows, once the 4 rings are
    laid out as one (sum-tree included), with every counter, key and flag equal.

    Not bitwise: XLA:CPU compiles the env step for 2 envs per device differently from 8 on one
    (vectorised or not, fused or not), and the physics differ in the last bit (1 ulp after one step,
    ~1e-6 relative after 32). The same per-device width does give bitwise equality (the seeds test)."""
    config = tiny_config(num_envs=8, total_steps=256, steps_per_chunk=128, episode_length=20, n_step=3,
                         start_steps=1024, min_replay_size=1024, normalize_observations=True,
                         prioritized_replay=prioritized)
    states = {}
    for D in (1, 4):
        program = build(dataclasses.replace(config, num_devices=D))
        state = program.init(seed_keys(program.config))
        for _ in range(2):
            state, summary = program.run_chunk(state)
        assert int(summary["updates"]) == 0
        # Each of the 8 envs ends its first 20-step episode in this chunk (steps 17-32): summed over devices.
        assert np.asarray(summary["train_episodes"]).tolist() == [8]
        states[D] = host_state(program, state)
    one, four = states[1], states[4]
    assert int(one.buffer.size[0]) == 2 * 128 - 2 * 8  # n-step: the first n − 1 steps emit nothing
    leaves_close(one, four)


def test_sharded_update_applies_the_mean_of_the_devices_gradients():
    """One update on 4 devices, each with its quarter of the batch and its own key, equals applying
    the average of the 4 quarter-batch gradients (computed apart, on one device) to the agent: the
    gradients, α's included, are averaged, never summed or left per device. Tolerance: float32
    reduction order (pmean against a mean of 4 numbers) moves the result by a few ulps of Adam's step."""
    config = tiny_config(batch_size=64, policy_delay=1)
    nets = make_networks(config, 3, 1)
    agent = init_agent(config, nets, jax.random.PRNGKey(0))
    k = jax.random.split(jax.random.PRNGKey(1), 4)
    B = config.batch_size
    batch = Transition(jax.random.normal(k[0], (B, 3)), jax.random.uniform(k[1], (B, 1), minval=-1, maxval=1),
                       jax.random.normal(k[2], (B,)), jax.random.normal(k[3], (B, 3)), jnp.full((B,), 0.99))
    weight = jnp.ones(B)
    key = jax.random.PRNGKey(2)
    device_mesh = mesh.make_mesh(4)
    lay = mesh.layout(dataclasses.replace(config, num_devices=4))
    update = make_update(config, nets, mean=lay.mean)

    def on_device(batch, weight):
        new, metrics, td_abs = update(agent, batch, weight, lay.own_key(key), jnp.int32(0))
        return new, metrics, td_abs

    sharded = jax.jit(jax.shard_map(on_device, mesh=device_mesh, in_specs=(P(mesh.AXIS), P(mesh.AXIS)),
                                    out_specs=(P(), P(), P(mesh.AXIS)), check_vma=False))
    new, metrics, _ = sharded(batch, weight)

    losses = make_total_loss(config, nets)
    params = (agent.actor_params, agent.critic_params, agent.log_alpha)
    grads = [jax.grad(losses, has_aux=True)(params, agent.target_critic_params,
                                            jax.tree.map(lambda x, d=d: x[d * 16:(d + 1) * 16], batch),
                                            weight[:16], jax.random.fold_in(key, d))[0] for d in range(4)]
    mean_grad = jax.tree.map(lambda *g: sum(g) / 4, *grads)
    want = apply_gradients(make_optimizers(config), agent, mean_grad, temperature(config))
    want = want.replace(target_critic_params=polyak(want.critic_params, agent.target_critic_params, config.tau))
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert float(new.log_alpha) != float(agent.log_alpha)  # α moved, by the averaged gradient


def test_prioritized_rings_share_the_largest_priority_and_weight():
    """Data-parallel prioritised replay: every ring gives new rows the largest priority seen in any
    ring, and a batch's importance weights are divided by the largest weight of the whole batch (all
    rings' draws), as one ring would; a ring with uniform priorities (raw weights all 1) then gets
    weights below 1 beside a skewed ring."""
    config = tiny_config(num_envs=8, prioritized_replay=True, num_devices=4)
    lay = mesh.layout(config)
    ring = replay.make_replay(config, 3, 1, capacity=16, max_over_rings=lay.max)
    td = jnp.concatenate([jnp.ones(8), *[jnp.logspace(-2, 1, 8)] * 3])  # ring 0 uniform, rings 1-3 skewed
    rows = Transition(jnp.zeros((32, 3)), jnp.zeros((32, 1)), jnp.zeros(32), jnp.zeros((32, 3)), jnp.ones(32))

    def on_device(rows, td):
        buffer = ring.update_priority(ring.insert(ring.init(), rows), jnp.arange(8), td)
        _, _, weight = ring.sample(buffer, lay.own_key(jax.random.PRNGKey(0)), (64,))
        return buffer.max_priority[None], weight.max()[None]

    sharded = jax.jit(jax.shard_map(on_device, mesh=mesh.make_mesh(4), in_specs=(P(mesh.AXIS), P(mesh.AXIS)),
                                    out_specs=(P(mesh.AXIS), P(mesh.AXIS)), check_vma=False))
    max_priority, max_weight = (np.asarray(x) for x in sharded(rows, td))
    np.testing.assert_allclose(max_priority, 10.0 + config.per_eps, rtol=1e-6)  # every ring: the global max
    assert max_weight.max() == 1.0
    assert max_weight[0] < 0.9  # the uniform ring's weights, divided by a skewed ring's largest


@pytest.mark.slow
def test_data_parallel_agent_stays_replicated_and_learns():
    """Pendulum on 4 devices (1 env each) learns to the bar of the one-device test (−250 by 20k steps);
    every device holds the same parameters throughout."""
    result = train(SACConfig(env="pendulum", total_steps=20_000, seed=0, num_devices=4))
    returns = [r["eval_return"] for r in result.history]
    assert returns[-1] >= -250, returns
    assert returns[0] < -700
    for leaf in jax.tree.leaves(result.state.agent):
        shards = [np.asarray(s.data) for s in leaf.addressable_shards]
        assert len(shards) == 4
        for s in shards[1:]:
            np.testing.assert_array_equal(s, shards[0])


def test_seeds_on_the_mesh_match_seeds_on_one_device():
    """shard_over="seeds": 4 agents on 2 devices (2 per device) train as agents 0-1 and 2-3 do on one
    device, two per program. To float32 rounding: the sharded program is fused differently, which
    moves parameters by ulps; the tolerance is the one-device test's for seeds in one program
    (test_train.test_many_seeds_in_one_program_match_separate_runs)."""
    base = tiny_config(num_envs=4)
    together = train(dataclasses.replace(base, num_seeds=4, num_devices=2, shard_over="seeds"))
    assert np.shape(together.params["log_alpha"]) == (4,)
    for first in (0, 2):
        alone = train(dataclasses.replace(base, num_seeds=2, seed=first))
        for a, b in zip(jax.tree.leaves(jax.tree.map(lambda x, f=first: x[f:f + 2], together.params)),
                        jax.tree.leaves(alone.params), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-3, atol=2e-4)
        np.testing.assert_allclose([r["eval_return"][first:first + 2] for r in together.history],
                                   [r["eval_return"] for r in alone.history], rtol=1e-3)


@pytest.mark.parametrize(("saved_on", "restored_on"), [(4, 1), (1, 4), (4, 2)])
def test_checkpoint_restores_on_another_device_count(tmp_path, saved_on, restored_on):
    """A run saved on D devices restores on D′ with the same envs, replay rows, agent and counters, and
    trains on."""
    config = tiny_config(num_envs=8, total_steps=512, steps_per_chunk=128, prioritized_replay=True, n_step=2)
    on = lambda D, **kw: dataclasses.replace(config, num_devices=D, **kw)  # noqa: E731
    first = train(on(saved_on, total_steps=256))
    saver = checkpoint.Checkpointer(tmp_path)
    saver.save(first.state, first.history, first.config)
    saver.close()
    program = build(on(restored_on))
    restored = checkpoint.restore(tmp_path, program)
    leaves_equal(host_state(first.program, first.state), host_state(program, restored.state))
    assert [(r["env_steps"], r["eval_return"]) for r in restored.history] == \
        [(r["env_steps"], r["eval_return"]) for r in first.history]
    result = train(program.config, state=restored.state, history=restored.history, program=program)
    assert result.history[-1]["env_steps"] == 512
    assert np.isfinite(result.history[-1]["critic_loss"])


def test_memory_check_counts_one_device_share():
    """The memory check sizes each device's share, times the CPU devices that share the host's RAM."""
    from gpu_sac.training import memory

    config = tiny_config(buffer_size=1_000_000, min_replay_size=64, num_envs=8)
    one = memory.state_bytes(config, 3, 1)
    four = memory.state_bytes(dataclasses.replace(config, num_devices=4), 3, 1)
    assert four["replay"] * 4 == one["replay"]
    assert four["agent"] == one["agent"]  # replicated
    need = sum(four.values()) * 4
    memory.check_fits(dataclasses.replace(config, num_devices=4), 3, 1, free=int(need / memory.HEADROOM) + 1)
    with pytest.raises(memory.MemoryBudgetError, match="4 devices that share this memory"):
        memory.check_fits(dataclasses.replace(config, num_devices=4), 3, 1, free=int(need / memory.HEADROOM) - 1000)
