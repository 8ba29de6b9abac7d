"""Hindsight experience replay: the goal envs, the relabelling against a brute-force host model of the
ring, the config's checks, success rate in evaluation, resume, and learning on point_reach."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from gpu_sac import RunOptions, envs, resume_experiment, run_experiment
from gpu_sac.config import ConfigError, SACConfig
from gpu_sac.envs.goal import GoalSpec, flat_obs, flatten, sparse_reward, split_obs
from gpu_sac.replay import Transition
from gpu_sac.replay.her import her_replay, relabel_count
from gpu_sac.training.train import build, seed_keys, train

# ------------------------------------------------------------------------- relabelling, brute force

N, L, CAPACITY = 2, 4, 12  # 2 envs, episodes of at most 4 steps, a ring of 6 steps per env
OBS = 1 + 2 + 2  # observation (1), achieved goal (2), desired goal (2)
SCALE = 3.0
# The achieved goal after a transition is (episode id, its step): the drawn goal tells where it came from.
SPEC = GoalSpec(1, 2, lambda achieved, desired: sparse_reward(achieved, desired, 0.5))


def _her(strategy: str, k: int = 4) -> dict:
    """her_replay's options for N envs, episodes of L steps."""
    return dict(envs=N, episode_length=L, strategy=strategy, k=k, reward_scale=SCALE)


def _fill(replay, vector_steps: int, seed: int = 0):
    """Insert `vector_steps` steps of N envs whose episodes end at random (at most L steps); return the
    buffer and the host model: per row, (episode id, step) of the transition it holds."""
    rng = np.random.default_rng(seed)
    buffer = replay.init()
    rows: dict[int, tuple[int, int]] = {}
    episode = list(range(N))  # each env's running episode id
    step = [0] * N
    next_id = N
    for v in range(vector_steps):
        ended = np.array([step[e] == L - 1 or rng.random() < 0.3 for e in range(N)])
        obs = np.zeros((N, OBS), np.float32)
        next_obs = np.zeros((N, OBS), np.float32)
        for e in range(N):
            obs[e] = [v, episode[e], step[e] - 1, -1, -1]
            next_obs[e] = [v, episode[e], step[e], -1, -1]  # achieved goal: (episode, step)
            rows[(v * N + e) % CAPACITY] = (episode[e], step[e])
        reward = np.asarray(SPEC.compute_reward(next_obs[:, 1:3], next_obs[:, 3:5])) * SCALE
        t = Transition(jnp.asarray(obs), jnp.zeros((N, 1)), jnp.asarray(reward), jnp.asarray(next_obs),
                       jnp.full(N, 0.98))
        buffer = replay.insert(buffer, t, jnp.asarray(ended))
        for e in range(N):
            if ended[e]:
                episode[e], step[e], next_id = next_id, 0, next_id + 1
            else:
                step[e] += 1
    return buffer, rows


def _allowed(rows: dict[int, tuple[int, int]], row: int, strategy: str) -> set[tuple[int, int]]:
    """Brute force: the (episode, step) goals that may relabel `row`: steps of its episode still in the ring."""
    episode, t = rows[row]
    steps = sorted(s for e, s in rows.values() if e == episode)
    assert steps == list(range(steps[0], steps[-1] + 1))  # an episode's rows in the ring are contiguous
    if strategy == "final":
        return {(episode, steps[-1])}
    first = t if strategy == "future" else steps[0]
    return {(episode, s) for s in range(first, steps[-1] + 1)}


@pytest.mark.parametrize("strategy", ["future", "final", "episode"])
@pytest.mark.parametrize("vector_steps", [5, 23])  # the ring not yet full; wrapped several times
def test_relabelled_goals_are_exactly_those_the_brute_force_allows(strategy, vector_steps):
    replay = her_replay(CAPACITY, OBS, 1, SPEC, **_her(strategy))
    buffer, rows = _fill(replay, vector_steps)
    batch, index, weight = jax.jit(replay.sample, static_argnums=2)(buffer, jax.random.PRNGKey(1), (4000, 5))
    batch, index = jax.tree.map(np.asarray, batch), np.asarray(index)
    assert np.all(np.asarray(weight) == 1.0)
    relabelled = np.arange(5) < relabel_count(5, 4)  # 4 of each 5
    assert relabelled.sum() == 4
    drawn: dict[int, set] = {}
    for u in range(index.shape[0]):
        for b in range(5):
            row, obs, next_obs = int(index[u, b]), batch.obs[u, b], batch.next_obs[u, b]
            episode, t = rows[row]
            assert (next_obs[1], next_obs[2]) == (episode, t)  # the row's own transition, unchanged
            goal = (int(next_obs[3]), int(next_obs[4]))
            if not relabelled[b]:
                assert goal == (-1, -1) and tuple(obs[3:]) == (-1, -1)
                continue
            assert tuple(obs[3:]) == goal  # obs and next_obs get the same goal
            assert goal in _allowed(rows, row, strategy), (row, goal, strategy)
            expected = float(SPEC.compute_reward(next_obs[1:3], next_obs[3:5])) * SCALE
            assert batch.reward[u, b] == expected  # recomputed for the new goal, scaled
            drawn.setdefault(row, set()).add(goal)
    # Every allowed goal of every row is drawn (4 000 x 4 draws over at most 12 rows).
    assert set(drawn) == set(rows)
    for row, goals in drawn.items():
        assert goals == _allowed(rows, row, strategy), row


def test_the_stored_reward_is_kept_for_real_goals_and_both_rewards_occur():
    replay = her_replay(CAPACITY, OBS, 1, SPEC, **_her("future", k=1))
    buffer, _ = _fill(replay, 23)
    batch, _, _ = replay.sample(buffer, jax.random.PRNGKey(0), (500, 4))  # k = 1: half relabelled
    reward = np.asarray(batch.reward)
    assert np.all(reward[:, 2:] == -SCALE)  # real goal (−1, −1) is never reached
    assert set(np.unique(reward[:, :2])) == {0.0, -SCALE}  # own outcome reached, later ones not


def test_bytes_per_transition_counts_the_episode_index():
    replay = her_replay(CAPACITY, OBS, 1, SPEC, **_her("future"))
    held = sum(x.nbytes for x in jax.tree.leaves(replay.init()))
    scalars = 2 * 4 + N * 4  # insert_pos, size; each env's open step
    assert held == CAPACITY * replay.bytes_per_transition + scalars


def test_her_replay_refuses_a_ring_that_cannot_hold_episodes():
    with pytest.raises(ValueError, match="multiple of num_envs=2"):
        her_replay(7, OBS, 1, SPEC, **_her("future"))
    with pytest.raises(ValueError, match=">= num_envs·episode_length=8"):
        her_replay(6, OBS, 1, SPEC, **_her("future"))


# ----------------------------------------------------------------------------------- goal envs


@pytest.mark.parametrize("name", ["point_reach", "arm_reach"])
def test_goal_envs_reward_is_their_compute_reward_and_success_matches(name):
    env = envs.make(name)
    spec = env.goal
    assert envs.check_env(env) == (spec.observation_dim + 2 * spec.goal_dim, 2)

    def rollout(key):
        state = env.reset(key)

        def body(state, k):
            nxt = env.step(state, jax.random.uniform(k, (2,), minval=-1, maxval=1))
            return nxt, (nxt.obs, nxt.reward, nxt.info["success"])

        return jax.lax.scan(body, state, jax.random.split(key, 50))[1]

    obs, reward, success = jax.jit(jax.vmap(rollout))(jax.random.split(jax.random.PRNGKey(0), 64))
    parts = split_obs(obs, spec)
    np.testing.assert_array_equal(reward, spec.compute_reward(parts["achieved_goal"], parts["desired_goal"]))
    np.testing.assert_array_equal(success, 1.0 + reward)
    assert set(np.unique(reward)) == {-1.0, 0.0}  # random actions reach some goals, miss most
    assert np.mean(reward) < -0.9
    np.testing.assert_array_equal(flat_obs(parts), obs)


def test_flatten_refuses_an_env_without_goal_observations():
    with pytest.raises(ValueError, match="not a goal env"):
        flatten(envs.make("pendulum"))
    dict_env = envs.reach.PointReach()
    with pytest.raises(ValueError, match="gpu_sac.envs.goal.flatten"):
        envs.check_env(dict_env)


def test_reacher_goal_is_brax_reacher_with_goals():
    env = envs.make("reacher_goal")
    assert envs.check_env(env) == (10, 2)
    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    state = jax.jit(env.step)(state, jnp.ones(2))
    parts = split_obs(state.obs, env.goal)
    np.testing.assert_allclose(parts["desired_goal"], state.pipeline_state.q[2:4])
    assert np.linalg.norm(parts["desired_goal"]) <= 0.2
    assert float(state.reward) == float(env.goal.compute_reward(parts["achieved_goal"], parts["desired_goal"]))
    assert float(state.info["success"]) == 1.0 + float(state.reward)


# ------------------------------------------------------------------------------- config, trainer


def her_config(**overrides) -> SACConfig:
    return tiny_config(**{"env": "point_reach", "her": "future", "steps_per_chunk": 200, "total_steps": 400,
                          "buffer_size": 1000, **overrides})


@pytest.mark.parametrize("fields, message", [
    (dict(env="pendulum"), "her='future' is invalid: needs a goal-conditioned env"),
    (dict(n_step=3), "n_step=3 is invalid: must be 1 with her"),
    (dict(prioritized_replay=True), "prioritized_replay=True is invalid: must be False with her"),
    (dict(buffer_size=1002), "buffer_size=1002 is invalid: must be a multiple of num_envs=4"),
    (dict(buffer_size=100, min_replay_size=64), "must be >= num_envs·episode_length=200"),
    (dict(num_devices=2, batch_size=32), "num_devices=2 is invalid: must be 1 with her"),
])
def test_config_refuses_what_her_cannot_run(fields, message):
    with pytest.raises(ConfigError, match=message):
        her_config(**fields)


def test_goal_env_presets_use_her_and_others_do_not():
    assert SACConfig(env="point_reach").her == "future" and SACConfig(env="pendulum").her == "off"
    assert SACConfig(env="point_reach", her="off").her == "off"


def test_evaluation_reports_success_for_goal_envs_only():
    result = train(her_config(total_steps=200))
    record = result.history[-1]
    assert 0.0 <= record["eval_success"] <= 1.0
    assert "eval_success" not in train(tiny_config(total_steps=128)).history[-1]
    returns, success = result.program.evaluate(result.state.agent, seed_keys(result.config))
    # A 50-step episode of rewards in {−1, 0} ends at its goal exactly where its last reward is 0.
    assert np.all((np.asarray(returns) >= -50) & (np.asarray(returns) <= 0))
    assert set(np.unique(np.asarray(success))) <= {0.0, 1.0}


def test_the_trainer_fills_the_episode_index():
    config = her_config(total_steps=200)
    program = build(config)
    state, _ = program.run_chunk(program.init(seed_keys(config)))  # 50 vectorised steps: one whole episode
    ep = jax.tree.map(lambda x: np.asarray(x[0]), state.buffer.episodes)
    written = int(state.buffer.size[0])
    assert written == 200
    np.testing.assert_array_equal(ep.step[:written], np.repeat(np.arange(50), 4))
    np.testing.assert_array_equal(ep.last[:written], 49)  # every episode truncated at step 49
    np.testing.assert_array_equal(ep.open_step, 0)


def test_her_run_resumes_bitwise(tmp_path):
    quiet = RunOptions(progress="none", video=False, tensorboard=False)
    run_experiment(her_config(total_steps=200), dataclasses.replace(quiet, run_dir=str(tmp_path / "split")))
    resumed = resume_experiment(tmp_path / "split", total_steps=400)
    whole = run_experiment(her_config(total_steps=400), dataclasses.replace(quiet, run_dir=str(tmp_path / "whole")))
    for a, b in zip(jax.tree.leaves(resumed.result.state), jax.tree.leaves(whole.result.state), strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    assert resumed.history[-1]["eval_success"] == whole.history[-1]["eval_success"]
    # The run directory's plot has the success rate beside the return.
    from gpu_sac.outputs.plot import load_groups

    (group,) = load_groups([tmp_path / "split"])
    assert group["success"].shape == (1, 2) and group["returns"].shape == (1, 2)


def test_init_buffer_refuses_a_buffer_of_another_replay_variant(tmp_path):
    from gpu_sac.store.transfer import InitFrom, TransferError

    quiet = RunOptions(progress="none", video=False, tensorboard=False, run_dir=str(tmp_path / "plain"))
    run_experiment(her_config(total_steps=200, her="off"), quiet)
    with pytest.raises(TransferError, match="another replay variant \\(her='off' there, 'future' here\\)"):
        train(her_config(total_steps=200), init_from=InitFrom(str(tmp_path / "plain"), buffer=True))


@pytest.mark.slow
def test_the_her_experiment_writes_records_and_renders_them(tmp_path):
    """experiments/her.py end to end at its smoke size (every strategy on point_reach, 2 seeds)."""
    import json

    from experiments import her as experiment

    assert experiment.main(["--preset", "smoke", "--out", str(tmp_path)]) == 0
    path = next(tmp_path.glob("*/her/point_reach_smoke.json"))
    record = json.loads(path.read_text())
    assert set(record["arms"]) == {"future", "off", "final", "episode"}
    assert all(len(arm["curve"][-1]["eval_success"]) == 2 for arm in record["arms"].values())
    assert record["arms"]["off"]["config"]["her"] == "off"
    copy = json.loads(path.read_text())
    copy["preset"] = "cpu"
    path.with_name("point_reach.json").write_text(json.dumps(copy))  # the renderer leaves smoke records out
    block = experiment.render(tmp_path)
    assert "| point_reach (FetchReach) |" in block and (path.parent / "success.png").is_file()


def test_her_learns_point_reach_where_sparse_rewards_alone_do_not_yet():
    """Measured (experiments/her.py, seed 0): 100 % success at 6 000 steps with HER, 0 % without."""
    config = SACConfig(env="point_reach", total_steps=6_000, seed=0)
    assert train(config).history[-1]["eval_success"] >= 0.8
    assert train(dataclasses.replace(config, her="off")).history[-1]["eval_success"] <= 0.3
