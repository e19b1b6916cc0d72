"""The command line every small measurement script here shares: one dataset in, JSON out."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def run(doc: str | None, evaluate: Callable[[Path], dict[str, object]], default: Path) -> None:
    """Parse ``--dataset`` (default ``default``), evaluate it, print the report as JSON."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=default)
    print(json.dumps(evaluate(ap.parse_args().dataset), indent=1, ensure_ascii=False))
