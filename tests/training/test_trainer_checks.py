"""The fused program's plumbing: the replay buffer updated in place (donation), priorities refreshed
and new rows given the largest priority, importance weights passed on to the critic loss, evaluation
stopping at termination without touching the training state, and counters that cannot overflow."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CounterEnv, tiny_config

from gpu_sac import replay
from gpu_sac.agent.learner import init_agent
from gpu_sac.agent.networks import make_networks
from gpu_sac.config import MAX_COUNT, ConfigError
from gpu_sac.training.train import build, make_learn, seed_keys

SHAPE = re.compile(r"\w+\[[\d,]*\]")


def hlo_signature(hlo: str) -> tuple[list[str], list[str], dict[int, int]]:
    """(parameter shapes, output shapes, {output index: aliased parameter index}) of a compiled
    module's entry computation, read from its HloModule header line."""
    header = hlo.splitlines()[0]
    layout = header.split("entry_computation_layout={(", 1)[1]
    params, outputs = layout.split(")->(", 1)
    aliases = re.search(r"input_output_alias=\{(.*?)\}, entry_computation_layout", header)
    pairs = re.findall(r"\{(\d+)\}: \((\d+), \{\}, (?:may|must)-alias\)", aliases.group(1) if aliases else "")
    return SHAPE.findall(params), SHAPE.findall(outputs.split(")}", 1)[0]), {int(o): int(p) for o, p in pairs}


@pytest.mark.parametrize("prioritized", [False, True], ids=["uniform", "prioritized"])
def test_run_chunk_writes_the_replay_buffer_in_place(prioritized):
    """The compiled chunk aliases each buffer array (the ring's rows, the sum-tree) to the matching
    output, so XLA writes it in place; the donated input is deleted after a call. Without donation
    each chunk would copy the whole buffer. (Capacity 136: shapes no other array of the state has.)"""
    config = tiny_config(total_steps=64, steps_per_chunk=64, buffer_size=136, min_replay_size=64, eval_episodes=0,
                         prioritized_replay=prioritized)
    program = build(config)
    state = program.init(seed_keys(config))
    params, outputs, aliases = hlo_signature(program.run_chunk.lower(state).compile().as_text())
    buffers = [state.buffer.data] + ([state.buffer.tree] if prioritized else [])
    for array in buffers:
        shape = f"f32[{','.join(map(str, array.shape))}]"
        assert params.count(shape) == 1, (shape, params)
        param = params.index(shape)
        aliased = [o for o, p in aliases.items() if p == param]
        assert len(aliased) == 1 and outputs[aliased[0]] == shape, (shape, aliases)
    new_state, _ = program.run_chunk(state)
    assert all(array.is_deleted() for array in buffers)
    assert not new_state.buffer.data.is_deleted() and int(new_state.buffer.size[0]) == 64


def test_prioritized_trainer_refreshes_sampled_rows_and_gives_new_rows_the_largest_priority():
    """One vectorised step per chunk (4 envs), one update of one row per step. After each step, compared
    with the sum-tree before it: the 4 new rows hold max_priority^α as it was when they were inserted
    (before the step's update), and exactly one row (the one drawn; possibly a new one) holds a new
    priority p^α, with max_priority raised to p if p is larger. Before learning starts nothing else
    changes."""
    config = tiny_config(prioritized_replay=True, num_envs=4, steps_per_chunk=4, batch_size=1, min_replay_size=8,
                         buffer_size=64, grad_updates_per_step=1, start_steps=0, eval_episodes=0)
    alpha, capacity = config.per_alpha, config.buffer_size
    program = build(config)
    state = program.init(seed_keys(config))
    largest_at_insert = []
    for _ in range(14):
        before = jax.device_get(state.buffer)
        state, _ = program.run_chunk(state)
        after = jax.device_get(state.buffer)
        leaves_before, leaves = before.tree[0, capacity:], after.tree[0, capacity:]
        largest = float(before.max_priority[0])
        new_rows = (int(before.insert_pos[0]) + np.arange(4)) % capacity
        expected = leaves_before.copy()
        expected[new_rows] = np.float32(largest) ** np.float32(alpha)
        moved = np.flatnonzero(~np.isclose(leaves, expected, rtol=1e-6, atol=0))
        if int(after.size[0]) < config.min_replay_size:
            assert moved.size == 0 and float(after.max_priority[0]) == largest
            continue
        largest_at_insert.append(largest)
        assert moved.size == 1, moved  # the one row drawn for the update
        refreshed = float(leaves[moved[0]]) ** (1 / alpha)
        np.testing.assert_allclose(float(after.max_priority[0]), max(largest, refreshed), rtol=1e-5)
        np.testing.assert_allclose(after.tree[0, 1], leaves.sum(), rtol=1e-5)  # the root sums the leaves
    assert len(largest_at_insert) == 13 and max(largest_at_insert) > 1.0  # the largest priority moved off 1


def test_learn_passes_the_replays_importance_weights_to_the_critic_loss():
    """make_learn with a replay whose sample returns weight 0 for every row: the critics (and so their
    targets) do not move, while the actor does. With weight 1, the critics move."""
    config = tiny_config(grad_updates_per_step=2)
    nets = make_networks(config, 3, 1)
    real = replay.make_replay(config, 3, 1)
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    data = replay.Transition(jax.random.normal(k[0], (64, 3)), jax.random.uniform(k[1], (64, 1), minval=-1, maxval=1),
                             jax.random.normal(k[2], (64,)), jax.random.normal(k[3], (64, 3)), jnp.full((64,), 0.99))
    buffer = real.insert(real.init(), data)
    agent = init_agent(config, nets, jax.random.PRNGKey(1))
    for weight in (0.0, 1.0):
        def sample(buf, key, shape, weight=weight):
            batch, index, _ = real.sample(buf, key, shape)
            return batch, index, jnp.full(shape, weight)

        learn = make_learn(config, nets, real._replace(sample=sample))
        new, _, _ = learn(agent, buffer, jax.random.PRNGKey(2), jnp.asarray(0))
        critic_moved = any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(new.critic_params),
                                                                    jax.tree.leaves(agent.critic_params), strict=True))
        actor_moved = any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(new.actor_params),
                                                                   jax.tree.leaves(agent.actor_params), strict=True))
        assert critic_moved == (weight > 0) and actor_moved, weight


class NaNAfterDone(CounterEnv):
    """CounterEnv whose reward turns NaN after the terminating step (as a diverged simulation's might)."""

    def step(self, state, action):
        state = super().step(state, action)
        return state.replace(reward=jnp.where(state.pipeline_state[0] > self.terminate_at, jnp.nan, state.reward))


def test_evaluation_stops_at_termination_and_leaves_the_training_state_alone():
    """Episodes terminating at t = 4 (within episode_length 10) return 1 + 2 + 3 + 4: the NaN rewards after
    termination add nothing. Episodes that never terminate return 1 + ... + 10 (the time limit). The
    TrainState given to evaluate (after a chunk of learning) is neither changed nor deleted."""
    config = tiny_config(episode_length=10, eval_episodes=3, total_steps=64, steps_per_chunk=64, min_replay_size=32,
                         buffer_size=64, batch_size=8, start_steps=0)
    program = build(config, NaNAfterDone(terminate_at=4))
    state, _ = program.run_chunk(program.init(seed_keys(config)))
    before = jax.device_get(state)
    keys = seed_keys(config)
    returns = np.asarray(program.evaluate(state.agent, keys)[0])
    np.testing.assert_array_equal(returns, np.full((1, 3), 10.0))
    after = jax.device_get(state)  # raises if evaluate deleted (donated) any of the state's arrays
    jax.tree.map(np.testing.assert_array_equal, before, after)
    long = build(config, CounterEnv())
    np.testing.assert_array_equal(np.asarray(long.evaluate(state.agent, keys)[0]), np.full((1, 3), 55.0))


def test_configs_whose_step_or_update_counters_would_overflow_int32_are_refused():
    """The device counts vectorised steps and optax counts updates in int32: a config needing more than
    2^31 − 1 of either is refused when it is made, and one needing exactly that many is accepted."""
    one_env = dict(num_envs=1, steps_per_chunk=1, grad_updates_per_step=1)
    assert tiny_config(total_steps=MAX_COUNT, **one_env).num_chunks == MAX_COUNT
    with pytest.raises(ConfigError, match=r"total_steps=2147483648 is invalid: .*int32"):
        tiny_config(total_steps=MAX_COUNT + 1, **one_env)
    # Steps rounded up to whole chunks count: 2^31 − 1 env steps in chunks of 2 take 2^31 vectorised steps.
    with pytest.raises(ConfigError, match=r"total_steps=2147483647 is invalid: needs 2147483648 vectorised steps"):
        tiny_config(total_steps=MAX_COUNT, **dict(one_env, steps_per_chunk=2))
    # Updates: (vectorised steps − first_update_iteration) · grad_updates_per_step, here 4 envs and 2
    # updates per step, learning from vectorised step 15.
    fits = tiny_config(total_steps=4 * (2**30 + 14), num_envs=4, steps_per_chunk=4, grad_updates_per_step=2)
    assert fits.total_updates == 2**31 - 2 and fits.first_update_iteration == 15
    with pytest.raises(ConfigError, match=r"grad_updates_per_step=2 is invalid: gives 2147483648 updates"):
        tiny_config(total_steps=4 * (2**30 + 15), num_envs=4, steps_per_chunk=4, grad_updates_per_step=2)
