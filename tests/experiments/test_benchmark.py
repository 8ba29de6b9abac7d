"""The throughput benchmark's harness: the Brax SAC stand-in, the raw simulator, the records and
their rendering. Fast tests use pendulum with tiny networks; no timing is asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `experiments` is not a package

from experiments import benchmark, brax_sac_compat, raw_sim, render_benchmark  # noqa: E402


def test_device_put_replicated_stand_in_stacks_on_a_new_leading_axis():
    tree = {"a": jnp.arange(3.0), "b": (jnp.ones((2, 2)), 7)}
    out = brax_sac_compat.device_put_replicated(tree, jax.local_devices()[:1])
    assert out["a"].shape == (1, 3)
    assert out["b"][0].shape == (1, 2, 2)
    assert out["b"][1].shape == (1,) and int(out["b"][1][0]) == 7
    np.testing.assert_array_equal(out["a"][0], tree["a"])


def test_device_put_replicated_works_under_pmap():
    devices = jax.local_devices()
    x = brax_sac_compat.device_put_replicated(jnp.arange(4.0), devices)
    y = jax.pmap(lambda v: v * 2.0)(x)
    np.testing.assert_array_equal(np.asarray(y), np.tile(np.arange(4.0) * 2.0, (len(devices), 1)))


def test_patched_jax_installs_the_stand_in_only_inside_the_block():
    assert "device_put_replicated" not in vars(jax)
    with brax_sac_compat.patched_jax():
        assert jax.device_put_replicated is brax_sac_compat.device_put_replicated
    assert "device_put_replicated" not in vars(jax)


def test_brax_replay_stores_the_observation_twice_and_ours_is_no_larger():
    from gpu_sac import replay

    obs, act = 17, 6
    assert brax_sac_compat.brax_bytes_per_transition(obs, act) == 4 * (2 * obs + act + 3)
    assert replay.bytes_per_transition(obs, act) <= brax_sac_compat.brax_bytes_per_transition(obs, act)


def test_raw_sim_steps_every_env_for_the_chunk_length():
    from gpu_sac import envs

    env = envs.make("pendulum")
    init, run = raw_sim.make_raw_sim(env, num_envs=3, length=5)
    state, key = init(jax.random.PRNGKey(0))
    theta0 = np.asarray(state.pipeline_state[:, 0])
    state, _ = run((state, key))
    assert state.obs.shape == (3, 3)
    assert not np.allclose(np.asarray(state.pipeline_state[:, 0]), theta0)


def test_points_cover_every_sweep_once():
    case = benchmark.PRESETS["cpu"].cases[0]
    pts = benchmark.points(case, tuple(benchmark.RUNNERS))
    keys = [p.key for p in pts]
    assert len(keys) == len(set(keys))
    u0 = case.updates[0]
    for n in case.num_envs:
        for trainer, u in (("gpu_sac", u0), ("brax_sac", u0), ("raw_sim", 0)):
            assert benchmark.Point(trainer, n, u, 1) in pts
    for u in case.updates:
        assert benchmark.Point("gpu_sac", case.updates_at, u, 1) in pts
    for s in case.seeds:
        assert benchmark.Point("gpu_sac", case.seeds_at, u0, s) in pts
    for n in case.collect_at:
        assert benchmark.Point("gpu_sac_collect", n, 0, 1) in pts


def test_gpu_preset_is_playgrounds_published_sac_config():
    from gpu_sac import SACConfig

    case = next(c for c in benchmark.PRESETS["gpu"].cases if c.env == "CheetahRun")
    point = benchmark.Point("gpu_sac", 128, 8, 1)
    config = benchmark.sac_config(case, point, iterations=100, warmup=1, repeats=1)
    published = SACConfig(env="CheetahRun", preset="gpu")  # gpu_sac's preset: Playground's brax_sac_config
    for name in ("num_envs", "batch_size", "grad_updates_per_step", "buffer_size", "min_replay_size",
                 "critic_layer_norm", "normalize_observations", "hidden_sizes", "gamma", "tau", "episode_length"):
        assert getattr(config, name) == getattr(published, name), name
    kwargs = brax_sac_compat.brax_kwargs(config)
    assert kwargs["num_envs"] == 128 and kwargs["batch_size"] == 512 and kwargs["grad_updates_per_step"] == 8
    assert kwargs["max_replay_size"] == 4_194_304 and kwargs["min_replay_size"] == 8192
    assert kwargs["normalize_observations"] is True
    assert kwargs["network_factory"].keywords == {"hidden_layer_sizes": (256, 256), "q_network_layer_norm": True}


def test_collect_only_config_never_learns():
    case = benchmark.PRESETS["smoke"].cases[0]
    point = benchmark.Point("gpu_sac_collect", 8, 0, 1)
    config = benchmark.sac_config(case, point, iterations=4, warmup=1, repeats=2)
    assert config.min_replay_size > config.trained_steps
    assert config.start_steps == 0
    assert config.total_updates == 0


def test_warmup_skips_every_chunk_that_filled_the_buffer():
    case = benchmark.PRESETS["gpu"].cases[0]  # min replay 8192
    assert benchmark.warmup_chunks(case, benchmark.Point("gpu_sac", 16, 8, 1), iterations=100) == 6
    assert benchmark.warmup_chunks(case, benchmark.Point("gpu_sac", 4096, 8, 1), iterations=100) == 1


def test_brax_sac_runs_on_current_jax_with_the_stand_in():
    from gpu_sac import SACConfig, envs

    config = SACConfig(env="pendulum", num_envs=4, hidden_sizes=(16, 16), batch_size=16, buffer_size=512,
                       min_replay_size=32, start_steps=32, total_steps=256, steps_per_chunk=64, eval_episodes=0,
                       episode_length=20)
    epochs = []
    out = brax_sac_compat.run_brax_sac(config, envs.make("pendulum"), epochs=2, iterations_per_epoch=8,
                                       on_epoch=epochs.append)
    assert len(epochs) == 2 and len(out["sps"]) == 1 and out["sps"][0] > 0
    assert [e["env_steps"] for e in epochs] == [32 + 8 * 4, 32 + 16 * 4]  # prefill, then 8 steps of 4 envs
    assert out["compile_s"] >= 0 and out["prefill_s"] >= 0 and out["live_bytes"] > 0
    assert "device_put_replicated" not in vars(jax)


def _record(trainer, n, u, s, sps, device=None):
    device = device or {"platform": "cpu", "device_kind": "cpu", "name": "CPU: test (2 cores)"}
    return {
        "schema": 1, "trainer": trainer, "env": "pendulum", "case": "synthetic", "case_description": "synthetic",
        "case_sweeps": {"num_envs": [4, 8], "updates": [1, 2], "updates_at": 4, "seeds": [1, 2], "seeds_at": 4,
                        "collect_at": [8]},
        "point": {"num_envs": n, "grad_updates_per_step": u, "num_seeds": s},
        "config": {"hidden_sizes": [8, 8], "batch_size": 8, "buffer_size": 64, "min_replay_size": 8,
                   "critic_layer_norm": False, "normalize_observations": False, "episode_length": 10},
        "chunk": {"iterations": 4, "env_steps": 4 * n, "warmup": 1},
        "device": device, "versions": {"jax": "0"},
        "figures": {"env_steps_per_s": {"median": sps, "min": sps * 0.9, "max": sps * 1.1, "values": [sps] * 3},
                    "updates_per_s": {"median": sps / n * u, "min": 0, "max": 0, "values": []},
                    "compile_s": 1.0, "peak_device_bytes": None, "resident_bytes": 1000,
                    "replay_bytes_per_transition": None if trainer == "raw_sim" else (36 if "gpu" in trainer else 40),
                    "chunk_s": {"median": 1, "min": 1, "max": 1, "values": [1]}},
        "contention": {"max_foreign_cpu_share": 0.5 if trainer == "brax_sac" and n == 8 else 0.0},
        "date": "2026-01-01T00:00:00+00:00",
    }


def test_render_tables_targets_and_png_from_records(tmp_path):
    results = tmp_path / "results"
    folder = results / "cpu-test-2c" / "synthetic"
    folder.mkdir(parents=True)
    records = [
        _record("raw_sim", 4, 0, 1, 1000.0), _record("raw_sim", 8, 0, 1, 2000.0),
        _record("gpu_sac", 4, 1, 1, 300.0), _record("gpu_sac", 8, 1, 1, 500.0), _record("gpu_sac", 4, 2, 1, 200.0),
        _record("gpu_sac", 4, 1, 2, 540.0), _record("brax_sac", 4, 1, 1, 100.0), _record("brax_sac", 8, 1, 1, 400.0),
        _record("brax_sac", 4, 2, 1, 150.0), _record("gpu_sac_collect", 8, 0, 1, 1900.0),
    ]
    for r in records:
        p = r["point"]
        (folder / f"{r['trainer']}_n{p['num_envs']}_u{p['grad_updates_per_step']}_s{p['num_seeds']}.json").write_text(
            json.dumps(r))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{render_benchmark.BEGIN}\nold\n{render_benchmark.END}\noutro\n")
    out = tmp_path / "BENCHMARK.md"
    assert render_benchmark.main(["--results", str(results), "--out", str(out), "--readme", str(readme)]) == 0
    text = out.read_text()
    assert "CPU: test (2 cores)" in text
    assert "| 4 | 300 (270–330) | 100 (90.0–110) | 3.00× |" in text  # num_envs sweep row
    assert "| env steps/s ≥ 1.5× Brax SAC (num_envs=8, 1 update(s)/step) | 1.25× | no |" in text
    assert "| collection ≥ 90% of the raw simulator (num_envs=8) | 95% | yes |" in text
    assert "| replay bytes per transition ≤ Brax's | 36 vs 40 | yes |" in text
    assert "| 2 seeds at once ≥ 1.6× one agent's env steps/s (num_envs=4) | 1.80× | yes |" in text
    assert "†" in text  # the contended Brax record is marked
    assert (folder / "throughput.png").stat().st_size > 0
    updated = readme.read_text()
    assert updated.startswith("intro\n") and updated.endswith("outro\n") and "old" not in updated
    assert "](results/cpu-test-2c/synthetic/throughput.png)" in updated  # image path relative to the README


@pytest.mark.slow
def test_smoke_preset_writes_a_complete_record_per_measurement(tmp_path):
    """The whole harness on pendulum: every trainer, every sweep, records that render."""
    out = tmp_path / "results"
    assert benchmark.main(["--preset", "smoke", "--out", str(out), "--quiet-wait", "0", "--repeats", "2"]) == 0
    paths = sorted(out.glob("*/pendulum-smoke/*.json"))
    case = benchmark.PRESETS["smoke"].cases[0]
    assert {p.stem for p in paths} == {p.key for p in benchmark.points(case, tuple(benchmark.RUNNERS))}
    for path in paths:
        record = json.loads(path.read_text())
        assert record["device"]["platform"] == jax.devices()[0].platform and record["device"]["name"]
        for name in ("jax", "jaxlib", "brax", "mujoco", "mujoco-mjx", "playground", "python"):
            assert record["versions"][name], name
        figures = record["figures"]
        sps = figures["env_steps_per_s"]
        assert len(sps["values"]) == 2 and 0 < sps["min"] <= sps["median"] <= sps["max"]
        assert figures["compile_s"] >= 0
        assert "peak_device_bytes" in figures and "resident_bytes" in figures
        if record["trainer"] in ("gpu_sac", "brax_sac"):
            assert figures["updates_per_s"]["median"] > 0 and figures["replay_bytes_per_transition"] > 0
        assert record["date"] and record["config"]
    folder = paths[0].parent
    ours = json.loads((folder / "gpu_sac_n4_u1_s1.json").read_text())
    theirs = json.loads((folder / "brax_sac_n4_u1_s1.json").read_text())
    kw, c = theirs["brax_kwargs"], ours["config"]
    assert kw["num_envs"] == c["num_envs"] and kw["batch_size"] == c["batch_size"]
    assert kw["grad_updates_per_step"] == c["grad_updates_per_step"]
    assert kw["max_replay_size"] == c["buffer_size"] and kw["min_replay_size"] == c["min_replay_size"]
    assert kw["normalize_observations"] == c["normalize_observations"]
    assert kw["episode_length"] == c["episode_length"]
    assert theirs["brax_network"] == {"hidden_layer_sizes": c["hidden_sizes"],
                                      "q_network_layer_norm": c["critic_layer_norm"]}
    assert render_benchmark.main(["--results", str(out)]) == 0
    assert "**Targets**" in (out / "BENCHMARK.md").read_text()


@pytest.mark.slow
def test_brax_sac_runs_on_a_playground_env():
    """Playground envs take Playground's wrapper for Brax training, and a Playground-shaped stub for
    the evaluation (the GPU preset's CheetahRun and HumanoidWalk go this way)."""
    from gpu_sac import SACConfig, envs

    config = SACConfig(env="CartpoleBalance", num_envs=4, hidden_sizes=(16, 16), batch_size=16, buffer_size=512,
                       min_replay_size=32, start_steps=32, total_steps=256, steps_per_chunk=64, eval_episodes=0,
                       episode_length=20)
    out = brax_sac_compat.run_brax_sac(config, envs.make("CartpoleBalance"), epochs=2, iterations_per_epoch=4)
    assert len(out["sps"]) == 1 and out["sps"][0] > 0
