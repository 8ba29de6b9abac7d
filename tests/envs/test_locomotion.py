"""Playground's locomotion envs: their names, the Menagerie meshes (fetched without GitHub, or a quick
error that says what is missing), dict observations made flat for asymmetric actor-critic, presets.

The Go1/G1 build tests fetch the meshes from PyPI on first use, as a fresh clone does (the maker does it:
no separate step before the README's test command)."""

from __future__ import annotations

import io
import socket
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from gpu_sac import envs
from gpu_sac.envs import dict_obs, locomotion, menagerie
from gpu_sac.envs.dict_obs import FlatDictEnv, ObsLayout, obs_layout

# ------------------------------------------------------------------------------------------- names


def test_names_match_playgrounds_locomotion_registry_and_are_registered():
    from mujoco_playground import locomotion as playground_locomotion

    assert set(locomotion.LOCOMOTION_ENVS) == set(playground_locomotion.ALL_ENVS)
    for name in locomotion.LOCOMOTION_ENVS:
        spec = envs.spec(name)
        assert spec.family == "playground_locomotion"
        assert spec.options == ("playground_impl", "worlds", "warp_graph_mode", "num_devices", "domain_randomization")
        assert locomotion.robot_dir(name)  # every robot's Menagerie dir is known


def test_episode_lengths_are_playgrounds():
    from mujoco_playground import locomotion as playground_locomotion

    for name in locomotion.LOCOMOTION_ENVS:
        expected = playground_locomotion.get_default_config(name).episode_length
        assert envs.preset(name)["episode_length"] == expected, name


@pytest.mark.parametrize("name", locomotion.LOCOMOTION_ENVS)
def test_presets_are_valid_configs_on_both_platforms(name):
    from gpu_sac import SACConfig

    gpu = SACConfig(env=name, preset="gpu")
    assert (gpu.num_envs, gpu.gamma, gpu.init_alpha, gpu.target_entropy) == (1024, 0.97, 0.001, 0.0)
    assert gpu.total_steps % gpu.steps_per_chunk == 0
    cpu = SACConfig(env=name, preset="cpu")
    assert (cpu.num_envs, cpu.env_group_size, cpu.total_steps) == (16, 16, 2048)


# ------------------------------------------------------------------------------------------- meshes

ROBOT_FILES = {"unitree_go1": ("calf.stl", "hip.stl"), "unitree_g1": ("head_link.STL", "sub/pelvis.STL")}


def _fake_wheel(path: Path, robots: dict[str, tuple[str, ...]] = ROBOT_FILES) -> Path:
    """A wheel laid out as mjlab's: mjlab/asset_zoo/robots/<robot>/xmls/{<robot>.xml, assets/...}."""
    with zipfile.ZipFile(path, "w") as z:
        for robot, files in robots.items():
            z.writestr(f"mjlab/asset_zoo/robots/{robot}/xmls/{robot}.xml", "<mujoco/>")
            for f in files:
                z.writestr(f"mjlab/asset_zoo/robots/{robot}/xmls/assets/{f}", f"{robot}/{f}")
        z.writestr("mjlab/__init__.py", "")
    return path


def _fake_tgz(path: Path) -> Path:
    """wheels.sh's layout: unitree_go1/assets/..., unitree_g1/assets/..."""
    with tarfile.open(path, "w:gz") as t:
        for robot, files in ROBOT_FILES.items():
            for f in files:
                data = f"{robot}/{f}".encode()
                info = tarfile.TarInfo(f"{robot}/assets/{f}")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return path


def _assert_extracted(root: Path) -> None:
    for robot, files in ROBOT_FILES.items():
        for f in files:
            assert (root / robot / "assets" / f).read_text() == f"{robot}/{f}"
        assert not (root / robot / f"{robot}.xml").exists()  # mjlab's own XMLs are not Menagerie's
    assert sorted(p.name for p in root.iterdir()) == ["unitree_g1", "unitree_go1"]  # no temporary dirs left


@pytest.mark.parametrize("source", ["wheel", "tgz"])
def test_menagerie_command_extracts_both_robots_once(tmp_path, capsys, source):
    archive = _fake_wheel(tmp_path / "mjlab-1.6.0-py3-none-any.whl") if source == "wheel" else \
        _fake_tgz(tmp_path / "menagerie_go1_g1.tgz")
    root = tmp_path / "mujoco_menagerie"
    flag = "--from-wheel" if source == "wheel" else "--from-tgz"
    assert menagerie.main([flag, str(archive), "--dest", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("extracted from" in line for line in lines)
    assert lines[0].startswith("Go1: ") and lines[1].startswith("G1: ")
    _assert_extracted(root)
    mtime = (root / "unitree_go1" / "assets" / "calf.stl").stat().st_mtime_ns
    assert menagerie.main([flag, str(archive), "--dest", str(root)]) == 0  # idempotent
    assert [line.endswith(": present") for line in capsys.readouterr().out.splitlines()] == [True, True]
    assert (root / "unitree_go1" / "assets" / "calf.stl").stat().st_mtime_ns == mtime


def test_menagerie_refuses_a_wheel_without_a_robot(tmp_path, capsys):
    wheel = _fake_wheel(tmp_path / "mjlab.whl", {"unitree_go1": ("calf.stl",)})
    root = tmp_path / "mujoco_menagerie"
    assert menagerie.main(["--from-wheel", str(wheel), "--dest", str(root)]) == 1
    assert "has no mjlab/asset_zoo/robots/unitree_g1/xmls/assets/" in capsys.readouterr().err
    assert menagerie.present("unitree_go1", root) and not (root / "unitree_g1").exists()


def test_menagerie_downloads_the_pinned_wheel_with_a_timeout(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append((cmd, kwargs))
        _fake_wheel(Path(cmd[cmd.index("-d") + 1]) / f"mjlab-{menagerie.MJLAB_VERSION}-py3-none-any.whl")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(menagerie.subprocess, "run", fake_run)
    status = menagerie.ensure(tmp_path / "m")
    (cmd, kwargs), = calls
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
    assert cmd[-1] == f"mjlab=={menagerie.MJLAB_VERSION}" and kwargs["timeout"] == menagerie.DOWNLOAD_TIMEOUT_S
    assert all("(PyPI)" in v for v in status.values())
    _assert_extracted(tmp_path / "m")
    assert menagerie.ensure(tmp_path / "m") == {"unitree_go1": "present", "unitree_g1": "present"}
    assert len(calls) == 1


@pytest.mark.parametrize("failure", ["exit", "timeout"])
def test_menagerie_download_failure_says_how_to_work_offline(tmp_path, monkeypatch, failure):
    def fake_run(cmd, **kwargs):
        if failure == "timeout":
            raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version\nNo matching distribution")

    monkeypatch.setattr(menagerie.subprocess, "run", fake_run)
    with pytest.raises(RuntimeError, match="ran past 300 s" if failure == "timeout" else "No matching distribution"):
        menagerie.ensure(tmp_path / "m")
    with pytest.raises(RuntimeError, match="--from-wheel mjlab-.*--from-tgz menagerie_go1_g1.tgz"):
        menagerie.ensure(tmp_path / "m")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty Menagerie dir, and any subprocess or socket a failure: nothing may clone or download."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"no subprocess or network allowed here: {args[:1]}")

    root = tmp_path / "mujoco_menagerie"
    monkeypatch.setattr(menagerie, "menagerie_path", lambda: root)
    for name in ("run", "Popen", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, refuse)
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return root


@pytest.mark.parametrize("name, robot", [("T1JoystickFlatTerrain", "booster_t1"),
                                         ("ApolloJoystickFlatTerrain", "apptronik_apollo"),
                                         ("SpotGetup", "boston_dynamics_spot"),
                                         ("BarkourJoystick", "google_barkour_vb")])
def test_a_robot_no_package_ships_fails_at_once_naming_its_dir(offline, name, robot):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{name} needs MuJoCo Menagerie's {robot} \(.*{robot}/assets.*git clone"):
        envs.make(name)
    assert time.perf_counter() - start < 5.0
    assert not offline.exists()  # and nothing was made where Playground looks


def test_barkour_needs_menageries_scene_xml_too(offline):
    (offline / "google_barkour_vb" / "assets").mkdir(parents=True)
    (offline / "google_barkour_vb" / "assets" / "body.stl").write_text("")
    with pytest.raises(ValueError, match="scene_mjx.xml"):
        locomotion.ensure_assets("BarkourJoystick")


def test_go1_meshes_are_fetched_on_first_use(offline, monkeypatch, tmp_path, capsys):
    wheel = _fake_wheel(tmp_path / "mjlab.whl")
    monkeypatch.setattr(menagerie, "download_wheel", lambda dest, timeout: wheel)
    locomotion.ensure_assets("Go1Getup")
    assert "fetching Go1/G1 meshes from the mjlab wheel on PyPI" in capsys.readouterr().out
    _assert_extracted(offline)
    locomotion.ensure_assets("G1JoystickFlatTerrain")  # present now: no second fetch, no message
    assert capsys.readouterr().out == ""


def test_a_failed_go1_fetch_names_what_is_missing_and_the_command(offline, monkeypatch):
    def no_pypi(dest, timeout):
        raise RuntimeError("pip download failed (no network)")

    monkeypatch.setattr(menagerie, "download_wheel", no_pypi)
    with pytest.raises(RuntimeError, match=r"Go1Handstand needs MuJoCo Menagerie's unitree_go1 meshes in .*"
                                           r"unitree_go1/assets.*no network.*python -m gpu_sac.envs.menagerie"):
        envs.make("Go1Handstand")


# ------------------------------------------------------------------------------------- dict obs

N, EXTRA, ACT = 3, 4, 2


@struct.dataclass
class _State:
    pipeline_state: jax.Array  # (N,)
    obs: dict[str, jax.Array]
    reward: jax.Array
    done: jax.Array
    metrics: dict[str, Any] = struct.field(default_factory=dict)
    info: dict[str, Any] = struct.field(default_factory=dict)


class _DictEnv:
    """Pure JAX: x' = x + a-ish; observes {"state": x + noise (N,), "privileged_state": (N + EXTRA,)}
    built as `kind` says: "prefix" hstacks the noisy state itself (as Playground's Go1 does), "fresh"
    an independently noised copy, "copy" an equal but recomputed one. Its step reads state.obs."""

    action_size = ACT
    dt = 0.02

    def __init__(self, kind: str):
        self.kind = kind

    def _obs(self, x: jax.Array, key: jax.Array) -> dict[str, jax.Array]:
        k1, k2 = jax.random.split(key)
        state = x + 0.1 * jax.random.normal(k1, (N,))
        first = {"prefix": state, "fresh": x + 0.1 * jax.random.normal(k2, (N,)), "copy": state * 1.0}[self.kind]
        return {"state": state, "privileged_state": jnp.hstack([first, x, jnp.sum(x)])}

    def reset(self, key: jax.Array) -> _State:
        x = jax.random.normal(key, (N,))
        return _State(x, self._obs(x, key), jnp.zeros(()), jnp.zeros(()), info={"key": key})

    def step(self, state: _State, action: jax.Array) -> _State:
        # reads the previous observation, as Playground's Barkour/H1/Op3 build their histories
        x = state.pipeline_state + 0.1 * jnp.sum(action) + 0.01 * state.obs["privileged_state"][-1]
        key = jax.random.fold_in(state.info["key"], 1)
        reward = -jnp.sum(state.obs["state"] ** 2)
        return state.replace(pipeline_state=x, obs=self._obs(x, key), reward=reward, info={"key": key})

    def render(self, trajectory: Any) -> str:
        return "frames"


@pytest.mark.parametrize("kind, prefix", [("prefix", True), ("fresh", False), ("copy", False)])
def test_flat_dict_env_stores_state_once_only_where_privileged_state_begins_with_it(kind, prefix):
    inner = _DictEnv(kind)
    env = dict_obs.flatten(inner)
    m = N + N + 1
    assert env.prefix is prefix
    assert env.observation_size == (m if prefix else N + m)
    assert obs_layout(env) == (ObsLayout((0, N), (0, m)) if prefix else ObsLayout((0, N), (N, N + m)))
    assert envs.check_env(env) == (env.observation_size, ACT)
    assert (env.dt, env.render(None)) == (0.02, "frames")  # everything else is the inner env's

    keys = jax.random.split(jax.random.PRNGKey(1), 5)
    actions = jax.random.uniform(jax.random.PRNGKey(2), (5, ACT), minval=-1, maxval=1)
    flat = jax.jit(jax.vmap(env.reset))(keys)
    ref = jax.jit(jax.vmap(inner.reset))(keys)
    step, ref_step = jax.jit(jax.vmap(env.step)), jax.jit(jax.vmap(inner.step))
    (a0, a1), (c0, c1) = env.obs_layout
    for t in range(3):
        assert flat.obs.shape == (5, env.observation_size), t
        # (to float32 rounding: XLA may order a sum differently in the two programs)
        np.testing.assert_allclose(flat.obs[:, a0:a1], ref.obs["state"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(flat.obs[:, c0:c1], ref.obs["privileged_state"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(flat.reward, ref.reward, rtol=1e-6)  # the inner step read the right dict
        flat, ref = step(flat, actions), ref_step(ref, actions)


def test_flatten_refuses_flat_or_other_observations():
    from gpu_sac.envs.pendulum import Pendulum

    with pytest.raises(ValueError, match="does not observe a dict with keys state, privileged_state"):
        FlatDictEnv(Pendulum())
    assert dict_obs.flatten_if_dict(Pendulum()).__class__ is Pendulum
    assert obs_layout(Pendulum()) is None


def test_check_env_points_dict_observations_at_dict_obs_flatten():
    with pytest.raises(ValueError, match=r"gpu_sac.envs.dict_obs.flatten\(env\)"):
        envs.check_env(_DictEnvWithSize("prefix"))


class _DictEnvWithSize(_DictEnv):
    observation_size = {"state": (N,), "privileged_state": (2 * N + 1,)}


# ----------------------------------------------------------------------- Playground's Go1 and G1

EXPECTED = {  # name → (state n, privileged_state m, action size)
    "Go1JoystickFlatTerrain": (48, 123, 12),
    "G1JoystickFlatTerrain": (103, 216, 29),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_go1_and_g1_build_flat_with_state_a_prefix_of_privileged_state(name):
    n, m, act = EXPECTED[name]
    env = envs.make(name)  # fetches the meshes from PyPI on first use
    assert isinstance(env, FlatDictEnv) and env.env._config.impl == "jax"
    assert obs_layout(env) == ObsLayout((0, n), (0, m)) and env.prefix
    assert envs.check_env(env) == (m, act)
    assert env.mj_model is env.env.mj_model  # rendering reads the inner env's model


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_go1_and_g1_reset_and_step_under_vmap_with_the_inner_envs_observations(name):
    """The flat obs against the inner env's dict, value by value, in one program per call (here, on a
    loaded 2-core CPU: ~75 s for Go1, ~200 s for G1, nearly all of it compiling)."""
    n, m, act = EXPECTED[name]
    env = envs.make(name)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    reset = jax.jit(jax.vmap(lambda k: (env.reset(k), env.env.reset(k).obs)))
    # Playground's step writes into state.info (the dict) while tracing: each call gets its own copy
    copy = lambda s: jax.tree.map(lambda x: x, s)  # noqa: E731
    step = jax.jit(jax.vmap(lambda s, a: (env.step(copy(s), a),
                                          env.env.step(copy(s).replace(obs=env.split_obs(s.obs)), a).obs)))
    state, inner = reset(keys)
    for _ in range(2):
        assert state.obs.shape == (2, m) and np.all(np.isfinite(np.asarray(state.obs)))
        # in the inner env's own output, privileged_state begins with state, bit for bit
        np.testing.assert_array_equal(inner["privileged_state"][:, :n], inner["state"])
        # the flat obs is that privileged_state (both computed in one program: XLA may round apart)
        np.testing.assert_allclose(state.obs, inner["privileged_state"], rtol=1e-5, atol=1e-5)
        state, inner = step(state, jnp.zeros((2, act)))
    assert state.reward.shape == (2,) and np.all(np.isfinite(np.asarray(state.reward)))


# ----------------------------------------------------------------------- training (the FastSAC recipe)

TINY_RUN = dict(preset="cpu", num_envs=4, total_steps=32, steps_per_chunk=32, start_steps=8, min_replay_size=16,
                batch_size=8, buffer_size=64, episode_length=8, eval_episodes=1, hidden_sizes=(16, 16))


@pytest.mark.parametrize("name", [
    "Go1JoystickFlatTerrain",
    pytest.param("G1JoystickFlatTerrain", marks=pytest.mark.slow),
])
def test_go1_and_g1_train_a_tiny_chunk_with_the_recipe_and_an_asymmetric_actor(name, tmp_path):
    """train() on the env under its preset's recipe (C51 critics, bf16, AdamW, compact replay; CPU-sized),
    the actor reading `state`, the critics `privileged_state`; the exported policy acts on the flat obs."""
    from gpu_sac import SACConfig, load_policy
    from gpu_sac.run.experiment import RunOptions, run_experiment

    n, m, act = EXPECTED[name]
    config = SACConfig(env=name, **TINY_RUN)
    assert (config.critic_type, config.compute_dtype, config.replay_layout) == ("c51", "bfloat16", "compact")
    options = RunOptions(run_dir=str(tmp_path / "run"), progress="none", video=False, tensorboard=False)
    result = run_experiment(config, options).result
    final = result.history[-1]
    assert final["env_steps"] == 32 and np.isfinite(final["critic_loss"]) and np.isfinite(final["eval_return"])
    first_layer = result.state.agent.actor_params["params"]["MLP_0"]["Dense_0"]["kernel"]
    assert first_layer.shape[-2:] == (n, 16)  # the actor reads the n columns of `state`
    act_fn = load_policy(tmp_path / "run")
    assert act_fn(jnp.zeros(m)).shape == (act,)
