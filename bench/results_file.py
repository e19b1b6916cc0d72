"""bench/RESULTS.md holds one section per benchmark; each script rewrites only its own."""

from __future__ import annotations

import re
from pathlib import Path

TITLE = "# Benchmarks\n\nEach section is written by the script its command names; rerun it to refresh the section.\n"


def replace_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` under ``## name``, between markers, keeping every other section as it is."""
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    block = f"{start}\n## {name}\n\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else TITLE
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
