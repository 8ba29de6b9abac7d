"""The package's structure: subpackages by layer whose imports only go down, and no import circle.

Read from the source (every `import`, at module level or inside a function), not from what happens to
be imported at run time, so a lazy import that goes up or closes a circle is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gpu_sac"
# Bottom to top: a module may import from its own layer and the layers below it.
LAYERS = ("envs", "config", "replay", "agent", "training", "store", "outputs", "run", "cli", "")
MAX_MODULES = 13  # per folder, __init__ included


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The gpu_sac modules `path` (module `name`) imports, resolved to the deepest known module."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package that holds this module
                here = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    out = set()
    for target in found:
        while target and target not in known:  # gpu_sac.agent.networks.make_networks -> its module
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, name, set(mods)) for name, path in mods.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1] if len(parts) > 1 else "")


def test_imports_only_go_down():
    up = [f"{m} (layer {LAYERS[layer(m)] or 'gpu_sac'}) imports {t} (layer {LAYERS[layer(t)] or 'gpu_sac'})"
          for m, targets in graph().items() for t in targets if layer(t) > layer(m)]
    assert not up, "imports going up:\n" + "\n".join(sorted(up))


def test_no_import_circle():
    edges = graph()
    # A package's __init__ and its modules: `from gpu_sac.replay import ring` runs replay/__init__ first,
    # so an edge into a submodule also enters every package above it.
    for m in list(edges):
        edges[m] = edges[m] | {t.rpartition(".")[0] for t in edges[m] if t.rpartition(".")[0] in edges
                               and t.rpartition(".")[0] != m and not m.startswith(t.rpartition(".")[0] + ".")}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                circles.append(" -> ".join(path[path.index(t):] + [m, t]) if t in path else f"{m} -> {t}")
            elif t not in state:
                visit(t, path + [m])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("folder", sorted({p.parent for p in PACKAGE.rglob("*.py")}), ids=lambda p: p.name)
def test_folders_are_small(folder):
    count = len(list(folder.glob("*.py")))
    assert count <= MAX_MODULES, f"{folder} holds {count} modules (at most {MAX_MODULES})"


def test_checker_sees_a_circle_and_an_upward_import(tmp_path, monkeypatch):
    """The two checks above can fail: a tiny package with a circle and an import going up."""
    pkg = tmp_path / "gpu_sac"
    for sub, text in {"agent/__init__.py": "", "agent/a.py": "from gpu_sac.agent import b\n",
                      "agent/b.py": "def f():\n    from gpu_sac.agent import a\n    from gpu_sac.run import r\n",
                      "run/__init__.py": "", "run/r.py": "", "__init__.py": ""}.items():
        (pkg / sub).parent.mkdir(parents=True, exist_ok=True)
        (pkg / sub).write_text(text)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    with pytest.raises(AssertionError, match="gpu_sac.agent.a -> gpu_sac.agent.b -> gpu_sac.agent.a"):
        test_no_import_circle()
    with pytest.raises(AssertionError, match="gpu_sac.agent.b .layer agent. imports gpu_sac.run.r"):
        test_imports_only_go_down()
