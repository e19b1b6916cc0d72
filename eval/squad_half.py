"""Write the real questions of one half of SQuAD v1.1 dev's articles, for ``rag eval``.

    python eval/squad_half.py heldout eval/results/short/heldout.jsonl

The halves are eval/make_adversarial.py's (``split_of``, by a hash of the article's name):
models are fitted on ``fit`` and reported on ``heldout``. Derived from SQuAD v1.1 (CC BY-SA 4.0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from make_adversarial import DEFAULT_SQUAD, article_of, split_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("half", choices=("fit", "heldout"))
    ap.add_argument("out", type=Path)
    ap.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    args = ap.parse_args()
    rows = [json.loads(line) for line in (args.squad / "questions.jsonl").open(encoding="utf-8")]
    kept = [r for r in rows if split_of(article_of(r["evidence"][0]["source"])) == args.half]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for r in kept:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(kept)} of {len(rows)} questions ({args.half} half) written to {args.out}")


if __name__ == "__main__":
    main()
