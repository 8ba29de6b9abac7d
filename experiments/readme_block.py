"""The README's generated blocks: each experiment renders its records into the text between
`<!-- NAME:begin -->` and `<!-- NAME:end -->`, and nothing else of the README changes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block `name`."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace(text: str, name: str, block: str) -> str:
    """`text` with block `name`'s content replaced by `block` (SystemExit naming the markers if absent)."""
    begin, end = markers(name)
    if begin not in text or end not in text:
        raise SystemExit(f"the README has no {begin} ... {end} block to replace")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def write(readme: Path, name: str, block: str) -> None:
    """Replace block `name` of the file `readme` with `block`."""
    readme.write_text(replace(readme.read_text(), name, block))


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The --render and --readme flags of an experiment whose README block is `name`."""
    parser.add_argument("--render", action="store_true", help="train nothing; print the records as markdown")
    parser.add_argument("--readme", type=Path, help=f"with --render: rewrite this file's {markers(name)[0]} block")


def render_if_asked(args: argparse.Namespace, name: str, render: Callable[[Path], str]) -> bool:
    """With --render: print render(args.out) and, with --readme, write it into block `name`; True if so."""
    if not args.render:
        return False
    block = render(args.out)
    print(block)
    if args.readme:
        write(args.readme, name, block)
    return True


def link(path: Path) -> str:
    """path as the README links it: relative to the project root where it lies inside it."""
    root = Path(__file__).resolve().parent.parent
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> None:
    """Write a rendered figure to path (its folder made if need be) and close it."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
