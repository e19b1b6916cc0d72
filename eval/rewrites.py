"""Follow-up rewriting measured: ``python -m eval.rewrites [--dataset eval/datasets/followup_rewrites.jsonl]``.

Each row is one conversation turn: earlier questions (and, optionally, the ``answer`` to the
last one, as the chat passes it), the new question, and what a correct
rewrite does with it. ``followup``: the rewrite names ``antecedent`` in place of the pronoun;
``glue``: the question cannot be completed with a noun (an ellipsis, an event "that"), so the
last question is put before it; ``standalone``: the question is returned unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

from eval.script import run
from rag.answer.conversation import standalone_query

DATASET = Path(__file__).resolve().parent / "datasets" / "followup_rewrites.jsonl"


def judge(row: dict[str, object], rewrite: str) -> bool:
    question, history = str(row["question"]), [str(h) for h in row["history"]]  # type: ignore[attr-defined]
    if row["kind"] == "standalone":
        return rewrite == question
    if row["kind"] == "glue":
        return rewrite == f"{history[-1]} {question}"
    return str(row["antecedent"]).lower() in rewrite.lower() and rewrite != question


def evaluate(path: Path = DATASET) -> dict[str, object]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    results = []
    for row in rows:
        rewrite = standalone_query(row["question"], row["history"], row.get("answer", ""))
        results.append({**row, "rewrite": rewrite, "ok": judge(row, rewrite)})
    standalone = [r for r in results if r["kind"] == "standalone"]
    return {
        "turns": len(results),
        "accuracy": sum(r["ok"] for r in results) / len(results),
        "standalone": len(standalone),
        "standalone_changed": sum(r["rewrite"] != r["question"] for r in standalone),
        "wrong": [(r["id"], r["question"], r["rewrite"]) for r in results if not r["ok"]],
    }


def main() -> None:
    run(__doc__, evaluate, DATASET)


if __name__ == "__main__":
    main()
