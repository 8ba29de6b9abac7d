"""The README as a front door and the docs/ pages the renderers write: length, links, the two
commands, and links relative to the page a block is written into. Renders only; trains nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiments import harness, render_headline

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Each generated block and the page it lives on (docs/physics.md is written whole by render_physics).
BLOCKS = {"headline": "README.md", "time_to_score": "docs/time_to_score.md", "seed_tables": "docs/seed_tables.md",
          "transfer": "docs/transfer.md", "her": "docs/her.md", "benchmark": "docs/throughput.md",
          "scaling": "docs/scaling.md", "learning": "docs/learning.md", "physics": "docs/envs.md"}


def _targets(page: Path) -> list[str]:
    """The relative link targets of a Markdown page, anchors cut off."""
    return [t.split("#")[0] for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:", t) and t[0] != "#"]


def test_the_readme_is_at_most_250_lines_and_links_every_docs_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    linked = {t for t in _targets(README) if t.startswith("docs/") and t.endswith(".md")}
    assert linked, "the README links no docs page"
    assert all((ROOT / t).is_file() for t in linked), sorted(t for t in linked if not (ROOT / t).is_file())
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"


@pytest.mark.parametrize("page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_every_relative_link_of_a_page_resolves_from_its_folder(page):
    missing = [t for t in _targets(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.name}: {missing}"


def test_each_generated_block_is_on_its_page_and_names_that_page():
    for name, page in BLOCKS.items():
        text = (ROOT / page).read_text()
        begin, end = harness.markers(name)
        assert text.count(begin) == 1 and text.count(end) == 1, (name, page)
        block = text.split(begin, 1)[1].split(end, 1)[0]
        if name != "physics":  # the physics block has rows and a link, no command line of its own
            assert f"--readme {page}" in block.splitlines()[1], (name, block.splitlines()[1])
    assert "README.md" not in (ROOT / "docs" / "time_to_score.md").read_text().split("time_to_score:begin")[1]


def test_the_two_commands_are_as_ci_runs_them():
    lines = README.read_text().splitlines()
    start = lines.index("## Two commands")
    fence = lines.index("```bash", start)
    one = next(i for i in range(fence, len(lines)) if lines[i].startswith("# 1."))
    assert lines[one + 1].startswith("python3 -m venv .venv") and "experiments/train.py" in lines[one + 1]
    two = next(i for i in range(one, len(lines)) if lines[i].startswith("# 2."))
    command = "\n".join(lines[two + 1:lines.index("```", two)])
    assert command in (ROOT / ".ci" / "run").read_text()


def test_link_is_relative_to_the_page_folder(tmp_path):
    record = tmp_path / "results" / "cpu" / "case" / "r.json"
    assert harness.link(record, tmp_path) == "results/cpu/case/r.json"
    assert harness.link(record, tmp_path / "docs") == "../results/cpu/case/r.json"
    assert harness.page_dir(tmp_path / "docs" / "x.md") == (tmp_path / "docs").resolve()
    assert harness.page_dir(None) == ROOT


def test_the_headline_links_its_records_relative_to_any_page(tmp_path):
    """From the committed records: every row links a record (or a case's folder of records) that
    exists, from the README's folder and from a page one folder down."""
    for page in (README, ROOT / "docs" / "x.md"):
        block = render_headline.render(harness.ROOT / "experiments" / "results", page.parent)
        rows = [line for line in block.splitlines() if line.startswith("| ") and "](" in line]
        assert rows and any("CPU" in r for r in rows)
        for target in (t for r in rows for t in LINK.findall(r)):
            assert (page.parent / target).exists(), target
    page = tmp_path / "README.md"
    page.write_text(f"a\n{harness.markers('headline')[0]}\nold\n{harness.markers('headline')[1]}\nb\n")
    assert render_headline.main(["--readme", str(page)]) == 0
    assert "old" not in page.read_text() and page.read_text().endswith("-->\nb\n")


def test_the_learning_block_links_its_plot_from_a_page_in_a_folder(tmp_path):
    from experiments import learning_curve

    page = tmp_path / "docs" / "learning.md"
    page.parent.mkdir()
    page.write_text("\n".join(harness.markers("learning")) + "\n")
    learning_curve.render_readme(page)
    plots = [t for t in LINK.findall(page.read_text()) if t.endswith(".png")]
    assert plots and all((page.parent / t).is_file() for t in plots)


def test_render_physics_links_its_page_from_the_block_page(tmp_path):
    from experiments import render_physics

    page, doc = tmp_path / "docs" / "envs.md", tmp_path / "docs" / "physics.md"
    page.parent.mkdir()
    page.write_text("\n".join(harness.markers("physics")) + "\n")
    assert render_physics.main(["--doc", str(doc), "--readme", str(page)]) == 0
    assert "[physics.md](physics.md)" in page.read_text() and doc.read_text().startswith("# Physics")
