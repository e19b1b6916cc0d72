"""Build the mixed public corpus that ``public_qa.jsonl`` asks about, from clones of its sources.

The files are not in the repo (their licences differ from ours); this is the recipe. Clone the
repositories, and run (each file is read at the commit below, whatever is checked out)::

    git clone https://github.com/python/peps
    git clone https://github.com/rust-lang/book
    git clone https://github.com/w3c/wcag
    git clone https://github.com/papers-we-love/papers-we-love
    git clone https://github.com/opengovfoundation/site-policy
    python eval/public/build_corpus.py --peps peps --book book --wcag wcag \
        --papers papers-we-love --docx site-policy --out eval/public/corpus

Then ``rag eval --corpus eval/public/corpus --dataset eval/public/public_qa.jsonl``.

What it holds, and why: PEPs are reStructuredText with a ``Title:`` header block; three are
copied as ``.rst`` and three renamed to ``.txt`` (as the trial's user had them), so the structure
of rST is read whatever the file is called. The Rust book's chapters are Markdown with headings,
code fences, tables and ``{{#include}}`` directives. WCAG 2 "Understanding" pages are HTML
with navigation, notes and definition lists. The papers are PDFs of classic systems papers as
their authors typeset them (ligatures, hyphenation, running headers, two columns). The OpenGov
Foundation's site policies are Word files (.docx) with headings and lists. PEPs are in
the public domain or CC0-1.0; the Rust book is MIT or Apache-2.0; WCAG documents are under the
W3C Document License; the site policies are CC0-1.0; the papers are their authors' and publishers', collected by Papers We
Love for reading, which is why none of them is copied into the repo. ``--wcag``, ``--papers``
and ``--docx`` are optional: without them the corpus is the 17 documents of the first rows of
eval/RESULTS.md, which the first 22 questions (p1-p8, r1-r10, u1-u4) ask about.
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
WCAG_COMMIT = "58080bdb063746f1519d55c4714897ac4b83d171"
WCAG = [
    "understanding/20/audio-control.html", "understanding/20/bypass-blocks.html",
    "understanding/20/captions-live.html", "understanding/20/contrast-minimum.html",
    "understanding/20/enough-time.html",
]  # fmt: skip
PAPERS_COMMIT = "47567e0154e38b4a4cf3eb9e30296221e940522f"
PAPERS = [
    "distributed_systems/end-to-end-arguments-in-system-design.pdf",
    "comp_sci_fundamentals_and_history/hints-for-computer-system-design.pdf",
    "distributed_systems/paxos-made-simple.pdf",
    "distributed_systems/a-note-on-distributed-computing.pdf",
    "distributed_systems/harvest-yield-and-scalable-tolerant-systems.pdf",
    "distributed_systems/the-chubby-lock-service-for-loosely-coupled-distributed-systems.pdf",
]  # fmt: skip
DOCX_COMMIT = "f10f4fc458fed3e48e4e7e32dce1c22164aee74f"
DOCX = ["docx/copyright.docx", "docx/privacy-policy.docx", "docx/terms.docx"]
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
    ap.add_argument("--wcag", type=Path, help="a clone of github.com/w3c/wcag (optional)")
    ap.add_argument("--papers", type=Path, help="a clone of github.com/papers-we-love/papers-we-love (optional)")
    ap.add_argument("--docx", type=Path, help="a clone of github.com/opengovfoundation/site-policy (optional)")
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
    n = len(PEPS) + len(BOOK)
    for repo, commit, paths, folder in (
        (args.wcag, WCAG_COMMIT, WCAG, "wcag"),
        (args.papers, PAPERS_COMMIT, PAPERS, "papers"),
        (args.docx, DOCX_COMMIT, DOCX, "policies"),
    ):
        if repo is None:
            continue
        for src in paths:
            target = args.out / folder / Path(src).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_show(repo, commit, src))
        n += len(paths)
    print(f"{n} documents in {args.out}")


if __name__ == "__main__":
    main()
