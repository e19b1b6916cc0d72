"""Why short answers miss: each answerable question of a ``rag eval`` run sorted into a kind.

    python eval/short_failures.py eval/results/short/heldout --dataset eval/results/short/heldout.jsonl

Reads the run's details.jsonl (which keeps each answer's short answer and text) and the dataset's
gold answers, and prints how many questions fall into each kind, with an example of each; then,
for the answers given a short answer, whether its confidence means what it says: the mean
confidence and the share exactly right, by fifths of confidence.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.evaluation.metrics import contains_answer, exact_match, normalize_answer, token_f1  # noqa: E402


def kind_of(d: dict[str, object], answers: list[str], question: str = "") -> str:
    """The failure kind of one answerable question's record (or "exact" when it is right)."""
    short = d.get("short")
    if d["abstained"]:
        return "refused (no answer at all)"
    if not d["contained"]:
        return "quoted sentence does not hold the answer"
    if not short:
        return "no short answer (rated under the threshold)"
    text = str(short)
    if exact_match(text, answers):
        return "exact"
    norm, golds = normalize_answer(text), [normalize_answer(a) for a in answers]
    if any(g and f" {g} " in f" {norm} " for g in golds):
        return "too long (the answer is inside it)"
    if any(norm and f" {norm} " in f" {g} " for g in golds):
        return "too short (inside the answer)"
    if token_f1(text, answers) > 0:
        return "overlaps the answer (neither inside the other)"
    if any(ch.isdigit() for ch in text) != any(any(ch.isdigit() for ch in a) for a in answers):
        return "wrong kind of phrase (number against words)"
    if contains_answer(str(d.get("text", "")), answers):
        if _CLAUSE.search(question):
            return "another phrase of the right sentence (a why/how question: the answer is a clause)"
        return "another phrase of the right sentence"
    return "other"


_CLAUSE = re.compile(r"^\s*(why|how)\b(?!\s+(many|much|long|old|far|large|big|often))", re.I)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="the --out folder of a rag eval run")
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--mode", default="hybrid")
    args = ap.parse_args()
    gold = {}
    for line in args.dataset.open(encoding="utf-8"):
        row = json.loads(line)
        gold[row["id"]] = (row["question"], row.get("answers") or [])
    kinds: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    rated: list[tuple[float, bool]] = []
    for line in (args.run / "details.jsonl").open(encoding="utf-8"):
        d = json.loads(line)
        if d.get("mode", args.mode) != args.mode or not d["answerable"] or d["id"] not in gold:
            continue
        question, answers = gold[d["id"]]
        k = kind_of(d, answers, question)
        kinds[k] += 1
        if d.get("short_confidence") is not None:
            rated.append((float(d["short_confidence"]), k == "exact"))
        if len(examples[k]) < 1:
            examples[k].append(f"{question} | gold {answers[:2]} | short {d.get('short')!r}")
    total = sum(kinds.values())
    print(f"{total} answerable questions")
    for k, n in kinds.most_common():
        print(f"{n:6d} {n / total:6.3f}  {k}\n        e.g. {examples[k][0]}")
    if rated:
        print(calibration(rated))


def calibration(rated: list[tuple[float, bool]], bins: int = 5) -> str:
    """Mean confidence against the share exactly right, by equal-count bins of confidence."""
    rated = sorted(rated)
    lines = [f"short-answer confidence, {len(rated)} short answers: mean confidence -> share exact (by fifths)"]
    for i in range(bins):
        part = rated[i * len(rated) // bins : (i + 1) * len(rated) // bins]
        conf = sum(c for c, _ in part) / len(part)
        lines.append(f"  {conf:.3f} -> {sum(e for _, e in part) / len(part):.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
