"""SACConfig: the seed's defaults, per-env presets that explicit fields override, and clear errors
for bad input before anything compiles."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
import warnings

import pytest
from conftest import tiny_config

from gpu_sac import ConfigError, MemoryBudgetError, SACConfig, train
from gpu_sac.config import SEED_DEFAULTS
from gpu_sac.training.memory import check_fits


def test_seed_defaults():
    d = SEED_DEFAULTS
    assert (d["actor_lr"], d["critic_lr"], d["alpha_lr"]) == (3e-4, 3e-4, 3e-4)
    assert (d["gamma"], d["tau"], d["batch_size"]) == (0.99, 0.005, 256)
    assert (d["buffer_size"], d["start_steps"]) == (10**6, 10**4)
    assert d["hidden_sizes"] == (256, 256) and (d["log_std_min"], d["log_std_max"]) == (-20.0, 2.0)
    assert d["init_alpha"] == 0.2 and d["learn_alpha"] is True and d["target_entropy"] is None
    assert d["n_critics"] == 2


def test_optimisation_tricks_and_ablations_are_off_by_default():
    d = SEED_DEFAULTS
    assert d["grad_updates_per_step"] == 1 and d["n_step"] == 1 and d["prioritized_replay"] is False
    assert d["critic_layer_norm"] is False and d["reward_scale"] == 1.0 and d["normalize_observations"] is False
    assert d["max_grad_norm"] is None and d["policy_delay"] == 1 and d["alpha_min"] is None and d["alpha_max"] is None
    assert d["actor_q"] == "min" and d["lr_schedule"] == "constant" and d["deterministic_policy"] is False


def test_preset_fills_fields_the_caller_did_not_pass():
    c = SACConfig(env="pendulum", total_steps=5_000)
    assert c.total_steps == 5_000  # caller wins
    assert c.start_steps == 1_000 and c.episode_length == 200  # preset
    assert c.gamma == 0.99 and c.tau == 0.005  # seed defaults where the preset is silent
    p = SACConfig(env="CheetahRun", preset="gpu")
    assert (p.num_envs, p.batch_size, p.grad_updates_per_step, p.buffer_size) == (128, 512, 8, 4_194_304)
    assert p.critic_layer_norm and p.normalize_observations and p.actor_lr == 1e-3
    assert SACConfig(env="CheetahRun", num_envs=16).num_envs == 16


def test_unknown_env_lists_the_names():
    with pytest.raises(ConfigError, match="not a known environment.*pendulum.*halfcheetah.*CheetahRun"):
        SACConfig(env="halfcheeta")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_envs", 0, "num_envs=0 is invalid: must be a positive integer"),
        ("batch_size", -3, "batch_size=-3 is invalid: must be a positive integer"),
        ("total_steps", 1.5, "total_steps=1.5 is invalid: must be a positive integer"),
        ("actor_lr", math.nan, "actor_lr=nan is invalid: must be a finite number > 0"),
        ("critic_lr", math.inf, "critic_lr=inf is invalid: must be a finite number > 0"),
        ("alpha_lr", 0.0, "alpha_lr=0.0 is invalid"),
        ("gamma", 1.5, r"gamma=1.5 is invalid: must be in \(0, 1\]"),
        ("gamma", 0.0, r"gamma=0.0 is invalid: must be in \(0, 1\]"),
        ("tau", 0.0, r"tau=0.0 is invalid: must be in \(0, 1\]"),
        ("init_alpha", -0.1, "init_alpha=-0.1 is invalid"),
        ("actor_q", "max", "actor_q='max' is invalid: must be one of min, mean"),
        ("hidden_sizes", (), r"hidden_sizes=\(\) is invalid: must be a non-empty tuple"),
    ],
)
def test_bad_values_name_the_field_the_value_and_what_is_allowed(field, value, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**{field: value})


def test_relations_between_fields_are_checked():
    with pytest.raises(ConfigError, match="buffer_size=2 is invalid: must be >= num_envs=4"):
        tiny_config(buffer_size=2, min_replay_size=2, batch_size=2)
    with pytest.raises(ConfigError, match="batch_size=128 is invalid: must be <= min_replay_size=64"):
        tiny_config(batch_size=128)
    with pytest.raises(ConfigError, match="deterministic_policy=True is invalid: needs learn_alpha=False"):
        tiny_config(deterministic_policy=True)
    with pytest.raises(ConfigError, match="env_group_size=3 is invalid: must divide num_seeds·num_envs=8"):
        tiny_config(num_seeds=2, env_group_size=3)
    with pytest.raises(ConfigError, match="total_steps=.*int32"):
        tiny_config(total_steps=2**33, num_envs=1, steps_per_chunk=1)


def test_config_is_frozen():
    c = tiny_config()
    with pytest.raises(AttributeError):
        c.gamma = 0.5  # type: ignore[misc]


def test_total_steps_not_a_whole_number_of_chunks_is_rounded_up_with_a_warning():
    c = tiny_config(total_steps=300, steps_per_chunk=128, num_envs=4)
    assert c.trained_steps == 384 and c.num_chunks == 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(c)
    assert any("training 384 env steps" in str(w.message) for w in caught)
    assert result.history[-1]["env_steps"] == 384


def test_replay_that_does_not_fit_names_a_capacity_that_does():
    c = tiny_config(buffer_size=10**8, min_replay_size=64)
    with pytest.raises(MemoryBudgetError, match=r"buffer_size=100000000 needs .* use buffer_size <= \d+"):
        check_fits(c, 3, 1, free=1 << 30)
    fits = int(str(pytest.raises(MemoryBudgetError, check_fits, c, 3, 1, free=1 << 30).value).rsplit("<= ", 1)[1])
    check_fits(tiny_config(buffer_size=fits), 3, 1, free=1 << 30)  # the named capacity does fit



def test_the_memory_check_counts_the_weights_of_the_run_s_own_networks():
    """An actor that reads part of the observation (asymmetric actor-critic) has fewer weights: the
    check counts those of the networks the run builds, not of networks that read everything."""
    import jax

    from gpu_sac.agent.learner import init_agent
    from gpu_sac.agent.networks import make_networks
    from gpu_sac.training.memory import state_bytes

    c, obs_dim = tiny_config(), 40
    layout = dataclasses.make_dataclass("Layout", ["actor", "critic"])((0, 10), None)
    nets = make_networks(c, obs_dim, 1, layout)
    agent = jax.eval_shape(lambda k: init_agent(c, nets, k), jax.random.PRNGKey(0))
    exact = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(agent))
    assert state_bytes(c, obs_dim, 1, nets)["agent"] == exact < state_bytes(c, obs_dim, 1)["agent"]


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(alpha_min=0.3), "init_alpha=0.2 is invalid: must be within the α bounds alpha_min=0.3, alpha_max=None"),
        (dict(alpha_max=0.1), "init_alpha=0.2 is invalid: must be within the α bounds alpha_min=None, alpha_max=0.1"),
        # Fixed α too: it is the α the losses use, so it must lie within the bounds as well.
        (dict(learn_alpha=False, init_alpha=0.5, alpha_min=0.1, alpha_max=0.3),
         "init_alpha=0.5 is invalid: must be within the α bounds alpha_min=0.1, alpha_max=0.3"),
        (dict(learn_alpha=False, init_alpha=0.0, alpha_min=0.1),
         "init_alpha=0.0 is invalid: must be within the α bounds alpha_min=0.1, alpha_max=None"),
    ],
    ids=["below_alpha_min", "above_alpha_max", "fixed_alpha_above_alpha_max", "alpha_zero_below_alpha_min"],
)
def test_init_alpha_outside_the_alpha_bounds_is_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**fields)


def test_init_alpha_within_the_alpha_bounds_and_the_alpha_zero_ablation_are_allowed():
    assert tiny_config(alpha_min=0.2, alpha_max=0.2).init_alpha == 0.2  # the bounds are inclusive
    assert tiny_config(alpha_min=0.1, alpha_max=0.3, learn_alpha=False, init_alpha=0.3).init_alpha == 0.3
    assert tiny_config(learn_alpha=False, init_alpha=0.0).init_alpha == 0.0  # α = 0: no alpha_min set
    assert tiny_config(learn_alpha=False, init_alpha=0.0, alpha_max=0.5).init_alpha == 0.0


@pytest.mark.parametrize(
    "n_step, grad_updates_per_step",
    [(1, 1), (3, 1), (3, 2)],
)
def test_derived_update_counts_are_the_updates_that_happen(n_step, grad_updates_per_step):
    """With n-step returns the first n − 1 vectorised steps insert nothing, so learning starts n − 1
    steps later: first_update_iteration, updates_after and total_updates (the learning-rate schedules'
    horizon) count that, chunk by chunk, through the trainer."""
    config = tiny_config(n_step=n_step, grad_updates_per_step=grad_updates_per_step, lr_schedule="linear",
                         total_steps=384, eval_episodes=0)
    result = train(config)
    chunk = config.iterations_per_chunk
    assert [r["updates"] for r in result.history] == [config.updates_after((i + 1) * chunk) for i in range(3)]
    assert result.history[-1]["updates"] == result.config.total_updates
    # 64 transitions are in after 16 inserting steps of 4 envs; the first n − 1 steps insert none.
    assert config.first_update_iteration == 15 + n_step - 1
    assert config.total_updates == (96 - 15 - (n_step - 1)) * grad_updates_per_step


def test_the_preset_is_the_cpu_one_on_a_cpu_and_either_can_be_asked_for():
    cpu, gpu = SACConfig(env="halfcheetah", preset="cpu"), SACConfig(env="halfcheetah", preset="gpu")
    assert (cpu.num_envs, cpu.env_group_size, cpu.batch_size) == (16, 16, 256)
    assert (gpu.num_envs, gpu.env_group_size, gpu.batch_size) == (128, None, 512)
    assert cpu.gamma == gpu.gamma and cpu.critic_layer_norm == gpu.critic_layer_norm  # learning settings stay
    assert SACConfig(env="halfcheetah") == dataclasses.replace(cpu, preset="auto")  # tests run on a CPU
    assert dataclasses.replace(cpu, preset="gpu") == gpu
    assert SACConfig(env="pendulum", preset="cpu") == dataclasses.replace(SACConfig(env="pendulum", preset="gpu"),
                                                                          preset="cpu")  # one preset
    with pytest.raises(ConfigError, match="preset"):
        SACConfig(env="halfcheetah", preset="tpu")


def test_a_presets_group_size_shrinks_to_divide_the_envs_but_a_callers_is_checked():
    assert SACConfig(env="halfcheetah", preset="cpu", num_envs=4).env_group_size == 4
    assert SACConfig(env="halfcheetah", preset="cpu", num_envs=24).env_group_size == 8
    with pytest.raises(ConfigError, match="env_group_size"):
        SACConfig(env="halfcheetah", num_envs=24, env_group_size=16)


def test_auto_preset_reads_the_platform_without_starting_jax(monkeypatch):
    # A multi-process run makes its config before jax.distributed.initialize, which must come before
    # JAX's runtime starts: choosing the preset must not start it.
    code = ("from gpu_sac import SACConfig; c = SACConfig(env='halfcheetah'); "
            "from jax._src import xla_bridge; assert not xla_bridge.backends_are_initialized(); print(c.num_envs)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "16"  # no accelerator plugin here: the CPU preset
    from gpu_sac.config import preset_platform

    monkeypatch.setenv("JAX_PLATFORMS", "cuda")
    assert preset_platform("auto") == "gpu" and SACConfig(env="halfcheetah").num_envs == 128
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert preset_platform("auto") == "cpu" and preset_platform("gpu") == "gpu"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # Each of these ended in a raw OverflowError or TypeError from JAX, or silently aliased a key.
        (dict(seed=2**63), "seed=9223372036854775808 is invalid: must be an integer in [0, 4294967295]"),
        (dict(seed=2**32), "seed=4294967296 is invalid"),  # PRNGKey(2**32) is PRNGKey(0)
        (dict(seed=2**32 - 1, num_seeds=2), "seed=4294967295 is invalid: must be <= 4294967295 - (num_seeds - 1)"),
        (dict(episode_length=2**31), "episode_length=2147483648 is invalid: must be a positive integer <= 2147483647"),
        (dict(policy_delay=2**31), "policy_delay=2147483648 is invalid"),
        (dict(n_step=2**31), "n_step=2147483648 is invalid"),
        # Env steps over all envs may pass 2**31; the vectorised steps they take (here / 4 envs) may not.
        (dict(start_steps=2**40), "start_steps=1099511627776 is invalid: needs 274877906944 vectorised steps"),
        (dict(total_steps=2**63), "total_steps=9223372036854775808 is invalid: must be a positive integer <= 2**62"),
        (dict(eval_episodes=2**63), "eval_episodes=9223372036854775808 is invalid"),
        (dict(n_critics=2**63), "n_critics=9223372036854775808 is invalid"),
        (dict(hidden_sizes=(2**31,)), "hidden_sizes=(2147483648,) is invalid"),
        (dict(num_atoms=2**31), "num_atoms=2147483648 is invalid"),
        (dict(tau=10**400), "is invalid: must be in (0, 1]"),  # math.isfinite would overflow on it
    ],
)
def test_integers_are_bounded_where_jax_would_fail(fields, message):
    with pytest.raises(ConfigError) as error:
        tiny_config(**fields)
    assert message in str(error.value)
    assert tiny_config(seed=2**32 - 2, num_seeds=2).seed == 2**32 - 2  # the largest seeds that run
    wide = dict(num_envs=2**12, buffer_size=2**12, steps_per_chunk=2**32, min_replay_size=2**12)
    assert tiny_config(start_steps=2**40, total_steps=2**32, **wide).start_steps == 2**40  # 2**28 vectorised steps


def test_numpy_scalars_are_taken_as_the_values_they_hold():
    import numpy as np

    c = tiny_config(n_critics=np.int64(4), gamma=np.float32(0.5), learn_alpha=np.bool_(True),
                    hidden_sizes=(np.int64(16), np.int32(8)), seed=np.uint32(7))
    assert (c.n_critics, c.gamma, c.learn_alpha, c.hidden_sizes, c.seed) == (4, 0.5, True, (16, 8), 7)
    assert type(c.n_critics) is int and type(c.gamma) is float and type(c.learn_alpha) is bool
    assert all(type(h) is int for h in c.hidden_sizes)
    assert c == tiny_config(n_critics=4, gamma=0.5, hidden_sizes=(16, 8), seed=7)
    import json

    json.dumps(c.to_dict())  # config.json takes it


@pytest.mark.parametrize("field", ["critic_type", "num_envs", "gamma", "hidden_sizes", "learn_alpha", "preset"])
def test_arrays_are_refused_naming_the_field(field):
    import numpy as np

    with pytest.raises(ConfigError, match=rf"^{field}=array\(\[1, 2\]\) is invalid"):
        tiny_config(**{field: np.array([1, 2])})


def test_the_memory_check_counts_every_array_a_run_makes():
    """The n-step window, the training and evaluation envs' states, the networks and optimiser states,
    the batches and the replay: each counted, and named when it is the part that does not fit."""
    from gpu_sac import envs
    from gpu_sac.training.memory import PARTS, state_bytes

    c = tiny_config(n_step=5, eval_episodes=7)
    env = envs.make_env(c)
    need = state_bytes(c, 3, 1, env=env)
    assert set(need) == set(PARTS)
    # The n-step window: per env, n_step transitions of obs, action, reward, next obs, discount and a flag.
    assert need["nstep"] == c.num_envs * c.n_step * (4 * (3 + 1 + 1 + 3 + 1) + 1)
    per_env = need["envs"] // c.num_envs
    assert per_env >= 4 * 3 and need["eval"] == c.eval_episodes * per_env
    assert state_bytes(tiny_config(), 3, 1)["nstep"] == 0
    for fields, field in [(dict(n_step=2**31 - 1), "n_step=2147483647"),
                          (dict(eval_episodes=2**31 - 1), "eval_episodes=2147483647"),
                          (dict(hidden_sizes=(10**9,)), "hidden_sizes=(1000000000,)")]:
        with pytest.raises(MemoryBudgetError, match=re.escape(field) + ".*lower " + field.split("=")[0]):
            check_fits(tiny_config(**fields), 3, 1, free=1 << 34, env=env)
