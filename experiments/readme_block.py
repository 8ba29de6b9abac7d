"""The generated blocks of the README and the docs pages: each experiment renders its records into
the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` of its page (`--readme PAGE`, any
Markdown file: docs/NAME.md for most, README.md for the headline table), and nothing else of the page
changes. Links inside a block are relative to the folder of the page it is written into."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project root, where README.md lies
DOCS = ROOT / "docs"  # the generated pages


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block `name`."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace(text: str, name: str, block: str) -> str:
    """`text` with block `name`'s content replaced by `block` (SystemExit naming the markers if absent)."""
    begin, end = markers(name)
    if begin not in text or end not in text:
        raise SystemExit(f"the page has no {begin} ... {end} block to replace")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def write(readme: Path, name: str, block: str) -> None:
    """Replace block `name` of the Markdown file `readme` (README.md or a docs page) with `block`."""
    readme.write_text(replace(readme.read_text(), name, block))


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The --render and --readme flags of an experiment whose block is `name` (on docs/NAME.md)."""
    parser.add_argument("--render", action="store_true", help="train nothing; print the records as markdown")
    parser.add_argument("--readme", type=Path, metavar="PAGE",
                        help=f"with --render: rewrite this file's {markers(name)[0]} block (its page: docs/{name}.md)")


def page_dir(page: Path | None) -> Path:
    """The folder a block's links are relative to: the page's, or the project root when only printed."""
    return ROOT if page is None else page.resolve().parent


def render_if_asked(args: argparse.Namespace, name: str, render: Callable[[Path, Path], str]) -> bool:
    """With --render: print render(args.out, folder of args.readme) and, with --readme, write it into
    block `name` of that page; True if so."""
    if not args.render:
        return False
    block = render(args.out, page_dir(args.readme))
    print(block)
    if args.readme:
        write(args.readme, name, block)
    return True


def link(path: Path, base: Path) -> str:
    """path as a page in the folder `base` links it: relative to that folder (`..` where need be)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


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
