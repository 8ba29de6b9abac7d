"""The seed-tables harness: every row is a valid config that changes what its name says, records
are per row and skipped when present, rows not run show as such, the sample-efficiency milestones
and the ablation order are read from the records (no training in the fast tests)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `experiments` is not a package

from experiments import seed_tables as st  # noqa: E402


@pytest.mark.parametrize("base", sorted(st.BASES))
def test_every_row_is_a_valid_config_with_its_change(base):
    full = st.sac_config(base, 100_000, "full", seeds=3, seed=0)
    assert full.num_seeds == 3 and full.total_steps == 100_000 and full.steps_per_chunk == 10_000
    for row, (changes, _, _) in st.ROWS.items():
        config = st.sac_config(base, 100_000, row, seeds=3, seed=0)
        differs = {k for k, v in config.to_dict().items() if v != full.to_dict()[k]}
        assert differs <= set(changes), (row, differs)
        assert all(getattr(config, k) == v for k, v in changes.items())


def test_the_ablations_turn_off_what_the_seed_turns_off():
    assert st.sac_config("cpu", 100_000, "alpha_zero", 1, 0).init_alpha == 0.0
    assert st.sac_config("cpu", 100_000, "one_critic", 1, 0).n_critics == 1
    assert st.sac_config("cpu", 100_000, "deterministic", 1, 0).deterministic_policy
    assert st.sac_config("cpu", 100_000, "entropy_2", 1, 0).target_entropy == -2 * st.ACT_DIM


def test_milestones_are_evaluations_at_every_budget():
    for budget in (100_000, 250_000, 500_000, 1_000_000):
        assert all(s % st.eval_every(budget) == 0 for s in st.SAMPLE_STEPS if s <= budget)


def row_record(row, finals, budget=100_000):
    config = st.sac_config("cpu", budget, row, seeds=len(finals), seed=0).to_dict()
    curve = [{"env_steps": s, "wall_s": s / 100, "eval_return": [f * s / budget for f in finals]}
             for s in range(10_000, budget + 1, 10_000)]
    return {"row": row, "base": "cpu", "budget": budget, "changes": st.ROWS[row][0], "seed_figure": st.ROWS[row][1],
            "device": {"name": "CPU: test"}, "config": config, "final": finals, "curve": curve}


def test_render_shows_rows_not_run_and_the_order_found(tmp_path):
    folder = tmp_path / "cpu-test" / "seed_tables" / "cpu_100000"
    folder.mkdir(parents=True)
    for row, finals in (("full", [3000.0, 3400.0, 3200.0]), ("alpha_zero", [3500.0, 3500.0, 3500.0]),
                        ("one_critic", [1000.0, 1200.0, 1100.0])):
        (folder / f"{row}.json").write_text(json.dumps(row_record(row, finals)))
    block = st.render(tmp_path)
    assert "| full (the base config) | 10,214 | 3200 ± 163 | 0.05 |" in block
    assert "| fixed_alpha (learn_alpha=False, init_alpha=0.2) | 9,834 | not run yet | — |" in block
    assert "| ours | 3200 ± 163 | beyond budget | beyond budget | beyond budget |" in block
    assert "Order here: alpha_zero > full > one_critic" in block and "the order differs from the seed's" in block
    assert "rows not run yet: fixed_alpha, deterministic" in block
    assert (tmp_path / "cpu-test" / "seed_tables" / "cpu_100000.png").stat().st_size > 0


def test_a_budget_with_the_full_row_alone_shows_its_milestones_and_no_empty_tables(tmp_path):
    folder = tmp_path / "cpu-test" / "seed_tables" / "cpu_250000"
    folder.mkdir(parents=True)
    (folder / "full.json").write_text(json.dumps(row_record("full", [5000.0, 5000.0], budget=250_000)))
    block = st.render(tmp_path)
    assert "| ours | 2000 ± 0 | 5000 ± 0 | beyond budget | beyond budget |" in block
    assert "not run yet" not in block
    assert "The ablation table is not run at this budget" in block
    assert "--budget 250000 --rows alpha_0.05 alpha_0.1 fixed_alpha alpha_0.5 alpha_1.0" in block


def test_an_existing_row_is_skipped(tmp_path, capsys, monkeypatch):
    from experiments.harness import device_info

    path = st.record_path(tmp_path, device_info(), "cpu", 100_000, "full")
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    monkeypatch.setattr(st, "run_row", lambda *a: pytest.fail("ran a recorded row"))
    assert st.main(["--rows", "full", "--out", str(tmp_path)]) == 0
    assert "exists, skipped" in capsys.readouterr().out


@pytest.mark.slow
def test_one_row_runs_end_to_end(tmp_path):
    assert st.main(["--rows", "one_critic", "--budget", "10000", "--seeds", "1", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*/seed_tables/cpu_10000/one_critic.json")
    record = json.loads(path.read_text())
    assert record["config"]["n_critics"] == 1 and record["curve"][-1]["env_steps"] >= 10_000
    assert len(record["final"]) == 1
