"""Build the mixed public corpus that ``public_qa.jsonl`` asks about, from clones of its sources.

The files are not in the repo (their licences differ from ours); this is the recipe. Clone the
two repositories, check out the commits below, and run::

    git clone https://github.com/python/peps && git -C peps checkout ba4deeb7969588d937da609008d05bb83a47b1ab
    git clone https://github.com/rust-lang/book && git -C book checkout 917544888a55e4da7109bdba8c88c893c0da70f4
    python eval/public/build_corpus.py --peps peps --book book --out eval/public/corpus

Then ``rag eval --corpus eval/public/corpus --dataset eval/public/public_qa.jsonl``.

What it holds, and why: PEPs are reStructuredText with a ``Title:`` header block; three are
copied as ``.rst`` and three renamed to ``.txt`` (as the trial's user had them), so the structure
of rST is read whatever the file is called. The Rust book's chapters are Markdown with headings,
code fences, tables and ``{{#include}}`` directives. PEPs are in the public domain or CC0-1.0;
the Rust book is MIT or Apache-2.0.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

PEPS_COMMIT = "ba4deeb7969588d937da609008d05bb83a47b1ab"
BOOK_COMMIT = "917544888a55e4da7109bdba8c88c893c0da70f4"
PEPS = {"peps/pep-0008.rst": "peps/pep-0008.txt", "peps/pep-0020.rst": "peps/pep-0020.txt",
        "peps/pep-0257.rst": "peps/pep-0257.txt", "peps/pep-0001.rst": "peps/pep-0001.rst",
        "peps/pep-0484.rst": "peps/pep-0484.rst", "peps/pep-0572.rst": "peps/pep-0572.rst"}  # fmt: skip
BOOK = [
    "src/ch01-01-installation.md", "src/ch01-02-hello-world.md", "src/ch01-03-hello-cargo.md",
    "src/ch03-01-variables-and-mutability.md", "src/ch03-02-data-types.md", "src/ch03-03-how-functions-work.md",
    "src/ch03-05-control-flow.md", "src/ch04-01-what-is-ownership.md", "src/ch04-02-references-and-borrowing.md",
    "src/ch04-03-slices.md", "src/ch07-02-defining-modules-to-control-scope-and-privacy.md",
]  # fmt: skip


def _show(repo: Path, commit: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"], check=True, capture_output=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peps", type=Path, required=True, help="a clone of github.com/python/peps")
    ap.add_argument("--book", type=Path, required=True, help="a clone of github.com/rust-lang/book")
    ap.add_argument("--out", type=Path, default=Path("eval/public/corpus"))
    args = ap.parse_args()
    for src, dest in PEPS.items():
        target = args.out / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_show(args.peps, PEPS_COMMIT, src))
    for src in BOOK:
        target = args.out / "rust-book" / Path(src).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_show(args.book, BOOK_COMMIT, src))
    print(f"{len(PEPS) + len(BOOK)} documents in {args.out}")


if __name__ == "__main__":
    main()
