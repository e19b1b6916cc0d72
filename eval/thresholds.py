"""What a confidence threshold would do, read off a `rag eval` run's details.jsonl.

    python eval/thresholds.py eval/results/heldout/details.jsonl [--mode hybrid]

For each candidate RAG_MIN_CONFIDENCE it prints the false refusal on answerable questions, the
abstention recall on unanswerable ones, and the containment, as the run would have given them
with that setting: an answer abstains when the run abstained or its confidence is under the
threshold (refusal by confidence is applied after the other checks, so this is exact). Use it to
pick a threshold for your own questions: run `rag eval` on a set like yours, then read the row
whose false refusal you can accept.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def table(rows: list[dict], thresholds: list[float]) -> list[tuple[float, float, float, float, float]]:
    real = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    out = []
    for t in thresholds:
        refused = [r["abstained"] or r["confidence"] < t for r in real]
        held = [r["abstained"] or r["confidence"] < t for r in unanswerable]
        contained = [r["contained"] and not ref for r, ref in zip(real, refused, strict=True)]
        answered = len(rows) - sum(refused) - sum(held)
        out.append(
            (
                t,
                sum(refused) / max(len(real), 1),
                sum(held) / max(len(unanswerable), 1) if unanswerable else float("nan"),
                sum(contained) / max(len(real), 1),
                answered / max(len(rows), 1),
            )
        )
    return out


def by_kind(rows: list[dict], kinds: dict[str, str]) -> dict[str, float]:
    """Share of each kind of question the run abstained on."""
    seen: dict[str, list[bool]] = {}
    for r in rows:
        seen.setdefault(kinds.get(r["id"], "?"), []).append(bool(r["abstained"]))
    return {k: sum(v) / len(v) for k, v in sorted(seen.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("details", type=Path)
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--thresholds", default="0,0.1,0.2,0.25,0.3,0.35,0.4,0.5,0.6")
    ap.add_argument("--dataset", type=Path, help="the run's dataset: also print abstention recall by question kind")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.details.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r["mode"] == args.mode]
    print(f"{len(rows)} questions ({sum(r['answerable'] for r in rows)} answerable), mode {args.mode}")
    print("| RAG_MIN_CONFIDENCE | false refusal | abstention recall | containment | coverage |")
    print("|---|---|---|---|---|")
    for t, fr, recall, cont, cov in table(rows, [float(x) for x in args.thresholds.split(",")]):
        print(f"| {t:.3f} | {fr:.3f} | {recall:.3f} | {cont:.3f} | {cov:.3f} |")
    if args.dataset:
        kinds = {}
        for line in args.dataset.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            kinds[item["id"]] = item.get("kind", "answerable" if item.get("answers") else "unanswerable")
        print("abstention by kind, as run: " + ", ".join(f"{k} {v:.2f}" for k, v in by_kind(rows, kinds).items()))


if __name__ == "__main__":
    main()
