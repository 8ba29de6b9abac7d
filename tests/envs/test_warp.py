"""MuJoCo Warp as the physics of Playground envs (gpu_sac/envs/physics.py), on this CPU (Warp runs CPU devices too):
training through the README's command, agreement with MJX, fresh resets with Warp's shared contact
buffers, grouped stepping, several seeds, exact resume, contact buffers sized from num_envs, and the
choice of physics that `playground_impl="auto"` makes.

Warp compiles its kernels once per machine (~1 min on a 2-core CPU, then cached under ~/.cache/warp);
each test's JAX program then compiles in seconds for CartpoleBalance, tens of seconds with contacts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import QUIET, assert_trees_equal

from gpu_sac import SACConfig, envs, resume_experiment, run_experiment
from gpu_sac.config import ConfigError
from gpu_sac.envs import physics
from gpu_sac.training import rollout

pytest.importorskip("warp", reason="MuJoCo Warp needs the warp extra: pip install -e '.[warp]'")

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(num_envs=4, total_steps=64, steps_per_chunk=32, start_steps=16, min_replay_size=16, batch_size=8,
            buffer_size=256, hidden_sizes=(16, 16), episode_length=5, eval_episodes=2)
TINY_FLAGS = ["--num-envs", "4", "--total-steps", "32", "--steps-per-chunk", "16", "--start-steps", "8",
              "--min-replay-size", "8", "--batch-size", "8", "--buffer-size", "64", "--hidden-sizes", "16", "16",
              "--episode-length", "5", "--eval-episodes", "1", "--no-video", "--progress", "lines"]


def train_cli(env: str, run_dir: Path, *flags: str) -> subprocess.CompletedProcess:
    """experiments/train.py (the README's command 1) in a fresh process."""
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "train.py"), "--env", env, "--playground-impl",
                           "warp", *TINY_FLAGS, "--run-dir", str(run_dir), *flags],
                          capture_output=True, text=True, timeout=1200, cwd=ROOT)


def finite_run(run_dir: Path) -> list[dict]:
    from gpu_sac.store.run_dir import read_metrics

    history = read_metrics(run_dir)
    assert history and history[-1]["updates"] > 0
    for record in history:
        for name in ("eval_return", "critic_loss", "actor_loss", "alpha"):
            assert np.isfinite(record[name]), (name, record)
    return history


def test_a_dm_control_env_trains_with_warp_through_the_readme_command(tmp_path):
    done = train_cli("CartpoleBalance", tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "physics: MuJoCo Warp (playground_impl=warp)" in done.stderr
    assert [r["env_steps"] for r in finite_run(tmp_path / "run")] == [16, 32]


def test_go1_trains_a_tiny_chunk_with_warp_and_domain_randomization(tmp_path):
    """Contacts (Warp's shared contact buffers), a dict observation flattened for an asymmetric actor, and
    Playground's domain randomizer drawing each episode's model, in groups of 2 envs."""
    done = train_cli("Go1JoystickFlatTerrain", tmp_path / "run", "--domain-randomization", "--env-group-size", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "physics: MuJoCo Warp" in done.stderr
    finite_run(tmp_path / "run")


def _same_state(warp_state, mjx_state):
    """Warp's state with MJX's positions, velocities, controls and solver warm start (one env, unbatched)."""
    data = warp_state.data.replace(qpos=mjx_state.data.qpos, qvel=mjx_state.data.qvel, ctrl=mjx_state.data.ctrl,
                                   act=mjx_state.data.act, qacc_warmstart=mjx_state.data.qacc_warmstart,
                                   time=mjx_state.data.time)
    return warp_state.replace(data=data, obs=mjx_state.obs, info=mjx_state.info)


# One step of CheetahRun (its feet touch the floor: contacts) from the same state, in float32: positions and
# velocities agree to this absolute tolerance; measured 2.4e-5 over 20 steps from a reset of each.
STEP_ATOL = 1e-4


def test_a_warp_step_from_the_same_state_and_action_agrees_with_mjx():
    mjx_env = envs.make("CheetahRun", impl="jax")
    warp_env = envs.make("CheetahRun", impl="warp", worlds=2)
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    mjx_state = jax.jit(jax.vmap(mjx_env.reset))(keys)
    warp_state = jax.jit(jax.vmap(warp_env.reset))(keys)
    warp_state = jax.jit(jax.vmap(_same_state, in_axes=(0, 0)))(warp_state, mjx_state)
    action = jax.random.uniform(jax.random.PRNGKey(4), (2, mjx_env.action_size), minval=-1.0, maxval=1.0)
    mjx_next = jax.jit(jax.vmap(mjx_env.step))(mjx_state, action)
    warp_next = jax.jit(jax.vmap(warp_env.step))(warp_state, action)
    for name in ("qpos", "qvel"):
        diff = float(jnp.abs(getattr(mjx_next.data, name) - getattr(warp_next.data, name)).max())
        assert diff < STEP_ATOL, (name, diff)
    assert float(jnp.abs(mjx_next.obs - warp_next.obs).max()) < STEP_ATOL
    assert float(jnp.abs(mjx_next.reward - warp_next.reward).max()) < STEP_ATOL
    # The step moved the state: agreement is not two copies of the input.
    assert float(jnp.abs(mjx_next.data.qvel - mjx_state.data.qvel).max()) > 100 * STEP_ATOL


def test_warp_resets_are_fresh_and_grouped_steps_are_one_vmaps():
    """Episodes of 3 steps: every new episode starts from its own reset (not a cached first state), the
    shared contact buffers pass through the per-env selection, and stepping in groups of 2 gives the
    transitions of one vmap over all 4 envs, bitwise."""
    env = envs.make("CartpoleBalance", impl="warp", worlds=4)
    assert rollout.env_axes(env, jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 4)), 4) is not None
    runs = []
    for group in (None, 2):
        env_step = jax.jit(rollout.make_env_step(env, episode_length=3, group_size=group))
        carry = rollout.reset(env, jax.random.split(jax.random.PRNGKey(0), 4))
        firsts, outs = [np.asarray(carry.state.obs)], []
        for t in range(9):
            action = jnp.full((4, env.action_size), 0.1 * (t % 3))
            carry, out = env_step(carry, action, jax.random.split(jax.random.PRNGKey(100 + t), 4))
            outs.append(out)
            if (t + 1) % 3 == 0:
                assert np.all(np.asarray(out.truncated)) and not np.any(np.asarray(out.terminated))
                firsts.append(np.asarray(carry.state.obs))
        runs.append((firsts, outs))
    (firsts, outs), (grouped_firsts, grouped_outs) = runs
    for a, b in zip(outs + firsts, grouped_outs + grouped_firsts, strict=True):
        assert_trees_equal(a, b)
    firsts = np.stack(firsts)  # (episodes, envs, obs_dim): all first observations differ
    flat = firsts.reshape(-1, firsts.shape[-1])
    assert len({row.tobytes() for row in flat}) == len(flat)


def test_several_seeds_in_groups_resume_exactly_with_warp(tmp_path):
    """Two agents (vmapped seeds), envs stepped in groups of 2: a run checkpointed and resumed equals the
    uninterrupted run, bit for bit (the env states with Warp's data included)."""
    config = dict(TINY, env="CartpoleBalance", playground_impl="warp", num_seeds=2, env_group_size=2)
    split = dataclasses.replace(QUIET, run_dir=str(tmp_path / "split"))
    run_experiment(SACConfig(**{**config, "total_steps": 32}), split)
    resumed = resume_experiment(tmp_path / "split", total_steps=64)
    whole = run_experiment(SACConfig(**config), dataclasses.replace(QUIET, run_dir=str(tmp_path / "whole")))
    assert [r["env_steps"] for r in resumed.history] == [32, 64]
    assert_trees_equal(resumed.result.state, whole.result.state)
    assert resumed.history[-1]["eval_return"] == whole.history[-1]["eval_return"]


def test_warp_contact_buffers_are_sized_from_num_envs():
    config = SACConfig(**{**TINY, "env": "CheetahRun", "playground_impl": "warp", "num_envs": 8, "num_seeds": 2,
                          "eval_episodes": 3})
    assert envs.worlds(config) == 16  # the training batch (2 x 8) outnumbers the evaluation's (2 x 3)
    env = envs.make_env(config)
    state = jax.eval_shape(jax.vmap(env.reset), jax.random.split(jax.random.PRNGKey(0), 16))
    per_world = -(-100_000 // physics.PLAYGROUND_WORLDS)  # Playground's CheetahRun: naconmax 100 000
    assert state.data._impl.contact__dist.shape == (per_world * 16,)
    assert physics.warp_sizes(4 * 8192, 40, worlds=1024) == {"naconmax": 4 * 1024, "njmax": 40}
    assert physics.warp_sizes(100_000, 100, worlds=None) == {"naconmax": 100_000, "njmax": 100}


def test_auto_physics_is_warp_on_a_gpu_with_warp_and_mjx_elsewhere(monkeypatch):
    impl, why = physics.resolve("auto")  # this machine: a CPU
    assert impl == "jax" and "cpu" in why and "--playground-impl warp" in why
    monkeypatch.setattr(physics, "_platform", lambda: "gpu")
    assert physics.resolve("auto") == ("warp", physics.resolve("auto")[1])
    assert "GPU with warp-lang" in physics.resolve("auto")[1]
    monkeypatch.setattr(physics, "warp_installed", lambda: False)
    impl, why = physics.resolve("auto")
    assert impl == "jax" and "pip install -e '.[warp]'" in why
    with pytest.raises(RuntimeError, match=r"playground_impl=warp needs warp-lang: pip install -e '\.\[warp\]'"):
        physics.resolve("warp")
    assert physics.graph_mode("auto") == "WARP_STAGED" and physics.graph_mode("staged_ex") == "WARP_STAGED_EX"
    assert physics.graph_mode("warp") == "WARP"
    impl, why = physics.resolve("auto", num_devices=2)
    assert impl == "jax" and "2 devices" in why


def test_warp_on_several_devices_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"playground_impl='warp' is invalid: must be 'jax' or 'auto' with "
                                          r"num_devices=2 \(MuJoCo Warp runs on one device"):
        SACConfig(**{**TINY, "env": "CartpoleBalance", "playground_impl": "warp", "num_devices": 2})


def test_the_physics_benchmark_makes_each_case_on_its_physics_sized_for_its_largest_batch(monkeypatch):
    from experiments import benchmark

    made = []
    monkeypatch.setattr(envs, "make", lambda name, **options: made.append((name, options)))
    for case in benchmark.PRESETS["physics-gpu"].cases:
        benchmark.make_case_env(case)
    assert made[0] == ("G1JoystickFlatTerrain", {"impl": "warp", "worlds": 8192})
    assert ("CheetahRun", {"impl": "jax", "worlds": 8192}) in made
    assert made[-1] == ("G1JoystickFlatTerrain", {"impl": "warp", "worlds": 4096})  # gpu_sac end to end
    cpu = benchmark.PRESETS["physics-cpu"]
    assert {c.config["playground_impl"] for c in cpu.cases} == {"jax", "warp"}


def test_a_warp_episode_is_recorded_for_the_video_as_one_envs_trajectory():
    """The video path cuts env 0 out of the batch after taking its positions: Warp's shared contact
    buffers have no env axis (this failed with an IndexError before, and the run ended without a video)."""
    from gpu_sac.outputs import video

    env = envs.make("CartpoleBalance", impl="warp", worlds=2)
    out = video.evaluate_policy(env, lambda obs: jnp.zeros((obs.shape[0], env.action_size)), episodes=2,
                                episode_length=5, key=jax.random.PRNGKey(0), record=True)
    assert out.trajectory["qpos"].shape == (6, env.mj_model.nq)  # the initial state, then one per step
    assert np.all(np.isfinite(out.trajectory["qpos"]))
