"""The ONNX export against the JAX policy: onnxruntime's actions equal load_policy's on batches of
random observations, within 1e-5 absolute (float32 matmuls summed in another order), with the run's
observation statistics, asymmetric actor columns, each activation and LayerNorm; the file a run
writes at its end; the command line; what is refused.

Needs the `onnx` extra (onnx, onnxruntime); `pip install -e '.[test]'` installs it.
"""

from __future__ import annotations

import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

from gpu_sac import RunOptions, load_policy, run_experiment  # noqa: E402
from gpu_sac.agent import normalizer  # noqa: E402
from gpu_sac.agent.networks import make_networks  # noqa: E402
from gpu_sac.cli import export_onnx_main  # noqa: E402
from gpu_sac.envs.dict_obs import ObsLayout  # noqa: E402
from gpu_sac.outputs.export import export_policy  # noqa: E402
from gpu_sac.outputs.onnx_export import OnnxExportError, export_onnx, policy_model, run_onnx  # noqa: E402

TOLERANCE = 1e-5  # absolute, on actions within bounds of width up to 3
OBS_DIM, ACT_DIM, ACTOR_COLS = 10, 3, (0, 4)
LOW, HIGH = np.array([-1.0, 0.0, 2.0], np.float32), np.array([1.0, 0.5, 5.0], np.float32)


def random_obs(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Observations spread wide, some beyond the normaliser's ±10σ clip."""
    obs = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32) * 5.0
    obs[0] = 1e3
    obs[1] = -1e3
    return obs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A pendulum run with normalised observations: it writes policy/policy.onnx at its end."""
    path = tmp_path_factory.mktemp("onnx") / "run"
    config = tiny_config(total_steps=256, normalize_observations=True)
    run_experiment(config, RunOptions(run_dir=str(path), progress="none", video=False, tensorboard=False))
    return path


def test_a_run_writes_an_onnx_policy_that_acts_as_the_jax_policy(run):
    file = run / "policy" / "policy.onnx"
    assert file.is_file()
    act = load_policy(run)
    assert act.params.obs_stats is not None and float(act.params.obs_stats.count) > 0
    obs = random_obs(512, 3)
    expected = np.asarray(jax.jit(act)(jnp.asarray(obs)))
    got = run_onnx(file, obs)
    assert got.shape == (512, 1) and got.dtype == np.float32
    assert np.abs(got - expected).max() < TOLERANCE
    assert np.all(np.abs(got) <= 2.0)  # pendulum's torque bounds
    # The batch axis is dynamic, and the comparison can tell: the graph without the statistics differs.
    np.testing.assert_allclose(run_onnx(file, obs[:1]), expected[:1], atol=TOLERANCE, rtol=0)
    raw = policy_model(act.params.replace(obs_stats=None), act.meta)
    unnormalised = run_onnx_model(raw, obs)
    assert np.abs(unnormalised - expected).max() > 1e-2
    props = {p.key: json.loads(p.value) for p in onnx.load(str(file)).metadata_props}
    assert props["env"] == "pendulum" and props["obs_dim"] == 3 and props["env_steps"] == 256


def run_onnx_model(model, obs):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"obs": obs})[0]


def asymmetric_policy(tmp_path, activation: str, layer_norm: bool):
    """An exported policy whose actor reads columns 0:4 of a 10-column observation (as a Go1's actor
    reads `state` out of the flat [state, privileged] vector), with statistics over all 10 columns. The
    params are the actor's initialisation plus noise, so LayerNorm's scale and bias are not 1 and 0."""
    config = tiny_config(hidden_sizes=(16, 8), actor_activation=activation, actor_layer_norm=layer_norm,
                         normalize_observations=True)
    nets = make_networks(config, OBS_DIM, ACT_DIM, ObsLayout(ACTOR_COLS, (0, OBS_DIM)))
    params = nets.actor_init(jax.random.PRNGKey(0))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    params = jax.tree.unflatten(tree, [x + 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys,
                                                                                                  strict=True)])
    stats = normalizer.RunningStats(jnp.arange(OBS_DIM, dtype=jnp.float32), jnp.linspace(0.5, 4.0, OBS_DIM),
                                    jnp.asarray(100.0))
    agent = types.SimpleNamespace(actor_params=jax.tree.map(lambda x: x[None], params),
                                  obs_stats=jax.tree.map(lambda x: x[None], stats))
    file = export_policy(tmp_path / "policy", config, agent, LOW, HIGH, OBS_DIM, ACT_DIM, actor_obs=ACTOR_COLS)
    return load_policy(file)


@pytest.mark.parametrize(("activation", "layer_norm"),
                         [("relu", False), ("silu", True), ("elu", False), ("gelu", True), ("tanh", False)])
def test_onnx_policy_with_asymmetric_actor_columns_acts_as_the_jax_policy(tmp_path, activation, layer_norm):
    act = asymmetric_policy(tmp_path, activation, layer_norm)
    assert act.meta["actor_obs"] == list(ACTOR_COLS)
    file = export_onnx(tmp_path / "policy")
    assert file == tmp_path / "policy" / "policy.onnx"
    obs = random_obs(256, OBS_DIM)
    expected = np.asarray(jax.jit(act)(jnp.asarray(obs)))
    got = run_onnx(file, obs)
    assert got.shape == (256, ACT_DIM)
    assert np.abs(got - expected).max() < TOLERANCE
    assert np.all(got >= LOW) and np.all(got <= HIGH)
    # The actor reads its columns alone: the critic's columns change nothing, the actor's do.
    critic_only = obs.copy()
    critic_only[:, ACTOR_COLS[1]:] += 3.0
    np.testing.assert_array_equal(run_onnx(file, critic_only), got)
    actor_cols = obs.copy()
    actor_cols[2:, :ACTOR_COLS[1]] += 3.0
    assert np.abs(run_onnx(file, actor_cols) - got).max() > 1e-2


def test_onnx_export_refuses_what_it_cannot_reproduce(tmp_path):
    act = asymmetric_policy(tmp_path, "relu", False)
    with pytest.raises(OnnxExportError, match="compute_dtype='bfloat16' is not supported"):
        policy_model(act.params, {**act.meta, "compute_dtype": "bfloat16"})
    with pytest.raises(OnnxExportError, match="layer widths"):
        policy_model(act.params, {**act.meta, "hidden_sizes": [32, 32]})
    with pytest.raises(ValueError, match="give the output path"):
        export_onnx(act)


def test_export_command_writes_and_checks_the_onnx_file(run, tmp_path, capsys):
    out = tmp_path / "deploy" / "go.onnx"
    assert export_onnx_main([str(run), "--out", str(out), "--check", "64"]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and str(out) in text
    report = json.loads(text.strip().splitlines()[-1])
    assert report["onnx"] == str(out) and report["max_abs_difference"] < TOLERANCE
    with pytest.raises(SystemExit) as exit_:
        export_onnx_main([str(tmp_path / "nothing")], prog="export_onnx.py")
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no exported policy" in err


def test_each_agent_of_a_multi_seed_policy_exports_on_its_own(tmp_path):
    act = asymmetric_policy(tmp_path, "relu", False)
    params = act.params.actor_params
    two = types.SimpleNamespace(  # agent 1: agent 0's actor, shifted, with the same statistics
        actor_params=jax.tree.map(lambda x: jnp.stack([x, x + 0.5]), params),
        obs_stats=jax.tree.map(lambda x: jnp.stack([x, x]), act.params.obs_stats))
    config = tiny_config(hidden_sizes=(16, 8), normalize_observations=True, num_seeds=2)
    export_policy(tmp_path / "two", config, two, LOW, HIGH, OBS_DIM, ACT_DIM, actor_obs=ACTOR_COLS)
    obs = random_obs(64, OBS_DIM)
    files = [export_onnx(tmp_path / "two", agent=i) for i in (0, 1)]
    assert [f.name for f in files] == ["policy.onnx", "policy_agent1.onnx"]
    actions = [run_onnx(f, obs) for f in files]
    for i in (0, 1):
        expected = np.asarray(load_policy(tmp_path / "two", agent=i)(jnp.asarray(obs)))
        assert np.abs(actions[i] - expected).max() < TOLERANCE
    assert np.abs(actions[0] - actions[1]).max() > 1e-2


def test_a_run_whose_policy_cannot_be_onnx_says_so_in_one_line(tmp_path):
    from gpu_sac.run.experiment import _export_onnx

    act = asymmetric_policy(tmp_path, "relu", False)
    agent = types.SimpleNamespace(actor_params=jax.tree.map(lambda x: x[None], act.params.actor_params),
                                  obs_stats=None)
    config = tiny_config(hidden_sizes=(16, 8), compute_dtype="bfloat16")
    export_policy(tmp_path / "run" / "policy", config, agent, LOW, HIGH, OBS_DIM, ACT_DIM, actor_obs=ACTOR_COLS)
    said = []
    assert _export_onnx(tmp_path / "run", said.append) is None
    assert len(said) == 1 and said[0].startswith("note: no ONNX policy: compute_dtype='bfloat16'"), said
    assert not (tmp_path / "run" / "policy" / "policy.onnx").exists()
