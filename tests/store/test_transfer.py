"""Starting a run from another run's parameters (gpu_sac.store.transfer)."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest
from conftest import tiny_config

from gpu_sac import RunOptions, run_experiment
from gpu_sac.cli import train_main
from gpu_sac.store.transfer import InitFrom, TransferError, apply
from gpu_sac.training.train import build, seed_keys, train


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A finished tiny pendulum run with its checkpoint (buffer included)."""
    path = tmp_path_factory.mktemp("source") / "run"
    out = run_experiment(tiny_config(normalize_observations=True),
                         RunOptions(run_dir=str(path), progress="none", video=False, tensorboard=False))
    return path, out.result


def equal(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_a_fine_tuned_run_starts_from_the_source_parameters(source):
    """Every part is the source's final one, so the first policy is the source's: evaluated with the same
    keys it scores exactly what the source scores; the optimiser states start fresh."""
    path, result = source
    program = build(result.config)
    fresh = program.init(seed_keys(result.config))
    state = apply(fresh, program, InitFrom(str(path)))
    final = result.state.agent
    for field in ("actor_params", "critic_params", "target_critic_params", "log_alpha", "obs_stats"):
        assert equal(getattr(state.agent, field), getattr(final, field)), field
    assert equal(state.agent.actor_opt_state, fresh.agent.actor_opt_state)
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(5), 1))
    np.testing.assert_array_equal(np.asarray(program.evaluate(state.agent, keys)[0]),
                                  np.asarray(program.evaluate(final, keys)[0]))
    assert int(state.buffer.size[0]) == 0  # the buffer starts empty unless asked for


def test_only_the_named_parts_are_taken_and_the_buffer_on_request(source):
    path, result = source
    program = build(result.config)
    fresh = program.init(seed_keys(result.config))
    state = apply(fresh, program, InitFrom(str(path), parts=("actor",), buffer=True))
    assert equal(state.agent.actor_params, result.state.agent.actor_params)
    assert equal(state.agent.critic_params, fresh.agent.critic_params)
    assert equal(state.agent.log_alpha, fresh.agent.log_alpha)
    assert equal(state.buffer, result.state.buffer)


def test_one_source_agent_initialises_every_seed(source):
    path, result = source
    config = dataclasses.replace(result.config, num_seeds=3)
    program = build(config)
    state = apply(program.init(seed_keys(config)), program, InitFrom(str(path), parts=("actor",)))
    for s in range(3):
        assert equal(jax.tree.map(lambda x, s=s: x[s:s + 1], state.agent.actor_params), result.state.agent.actor_params)


@pytest.mark.parametrize(("change", "message"), [
    (dict(hidden_sizes=(16, 16)),
     r"actor_params\['params'\]\['MLP_0'\]\['Dense_0'\]\['bias'\] is \(1, 32\) float32 there, \(1, 16\) float32 here"),
    (dict(normalize_observations=False), "this run has no obs_stats"),
])
def test_a_source_that_does_not_fit_is_refused_naming_the_leaf(source, change, message):
    path, result = source
    config = dataclasses.replace(result.config, **change)
    program = build(config)
    with pytest.raises(TransferError, match=message):
        apply(program.init(seed_keys(config)), program, InitFrom(str(path)))


def test_bad_parts_and_missing_runs_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(TransferError, match="init parts.*invalid"):
        InitFrom(str(tmp_path), parts=("policy",))
    with pytest.raises(SystemExit) as e:
        train_main(["--init-from", str(tmp_path / "none"), "--run-dir", str(tmp_path / "r")])
    assert e.value.code == 2


def test_init_from_through_the_command_line_is_recorded(source, tmp_path):
    path, result = source
    run = tmp_path / "fine"
    args = ["--env", "pendulum", "--num-envs", "4", "--total-steps", "128", "--steps-per-chunk", "128",
            "--hidden-sizes", "32", "32", "--batch-size", "32", "--buffer-size", "1024", "--min-replay-size", "64",
            "--start-steps", "64", "--eval-episodes", "2", "--episode-length", "50", "--normalize-observations",
            "--progress", "none", "--no-video", "--no-tensorboard", "--run-dir", str(run),
            "--init-from", str(path), "--init-parts", "actor", "critic"]
    assert train_main(args) == 0
    options = json.loads((run / "config.json").read_text())["options"]
    assert options["init_from"] == str(path) and options["init_parts"] == ["actor", "critic"]
    fine = train(result.config, init_from=InitFrom(str(path), parts=("actor",)))
    assert fine.history[-1]["env_steps"] == result.history[-1]["env_steps"]


@pytest.mark.slow
def test_the_transfer_experiment_writes_a_record(tmp_path):
    """experiments/transfer.py end to end at its smoke size: pre-train, fine-tune and fresh arms."""
    from experiments import transfer

    assert transfer.main(["--preset", "smoke", "--out", str(tmp_path)]) == 0
    record = json.loads(next(tmp_path.glob("*/transfer_halfcheetah_smoke.json")).read_text())
    assert record["finetune"]["config"]["mass_scale"] == 1.5 and record["pretrain"]["config"]["mass_scale"] == 1.0
    assert record["finetune"]["config"]["start_steps"] == 0
    assert len(record["finetune"]["curve"][0]["eval_return"]) == len(record["fresh_time_to_threshold"]) == 2
