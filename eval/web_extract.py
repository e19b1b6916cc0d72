"""Main-content extraction from saved web pages: our tag parser, trafilatura, and the loader.

    python -m eval.web_extract [--dataset eval/datasets/web_pages.jsonl]

Each page lists passages a reader came for (``content``) and boilerplate a reader skips
(``boilerplate``: menus, cookie banners, share buttons, comments, sidebars, footers). An
extractor scores content recall (passages found, white space and Markdown emphasis ignored)
and boilerplate leaks (boilerplate strings found, case-sensitive, whole words).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from eval.script import run
from rag.ingest.loaders import decode_text
from rag.ingest.webpage import html_text, tag_text

DATASETS = Path(__file__).resolve().parent / "datasets"
DATASET = DATASETS / "web_pages.jsonl"


def tags_only(markup: str) -> str:
    """Our tag-based parser alone (the loader before trafilatura): drops nav/aside/footer/form."""
    return tag_text(markup)


def shipped(markup: str) -> str:
    """What the loader indexes: our Markdown lines that trafilatura calls content."""
    return html_text(markup)[0]


def trafilatura_markdown(markup: str) -> str:
    import trafilatura

    text = trafilatura.extract(
        markup, output_format="markdown", include_tables=True, include_formatting=False, favor_recall=True
    )
    return text or ""


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[*_`]", "", text).split())


def _score(extract: Callable[[str], str], pages: list[dict]) -> dict[str, object]:
    found = total = leaks = bad = 0
    missed: list[str] = []
    leaked: list[str] = []
    t0 = time.perf_counter()
    for page in pages:
        raw = (DATASETS / page["page"]).read_bytes()
        text = _flat(extract(decode_text(raw)))
        for passage in page["content"]:
            total += 1
            if _flat(passage) in text:
                found += 1
            else:
                missed.append(f"{page['page']}: {passage}")
        for junk in page["boilerplate"]:
            bad += 1
            if re.search(rf"(?<!\w){re.escape(junk)}(?!\w)", text):
                leaks += 1
                leaked.append(f"{page['page']}: {junk}")
    ms = (time.perf_counter() - t0) * 1000 / len(pages)
    return {
        "content_recall": round(found / total, 3),
        "boilerplate_leaked": round(leaks / bad, 3),
        "ms_per_page": round(ms, 2),
        "missed": missed,
        "leaked": leaked,
    }


def evaluate(path: Path = DATASET) -> dict[str, object]:
    pages = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return {
        "pages": len(pages),
        "tags only (ours)": _score(tags_only, pages),
        "trafilatura markdown": _score(trafilatura_markdown, pages),
        "shipped: our lines that trafilatura keeps": _score(shipped, pages),
    }


def main() -> None:
    run(__doc__, evaluate, DATASET)


if __name__ == "__main__":
    main()
