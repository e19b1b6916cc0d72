"""Questions with several asks, answered part by part against the whole question at once.

    python -m eval.multipart [--dataset eval/datasets/multipart_qa.jsonl] [--corpus corpus]

Each row lists its parts' acceptable answers (an empty list: the corpus does not say). A part
with answers counts as answered when one of them is inside a quote the answer cites; a part
without counts as right when the answer says the corpus does not say it. "whole" asks the
question as one query (the answerer before part splitting), "by part" is what ``ask`` does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag import ask
from rag.answer.parts import split_parts
from rag.core import final_answer, get_engine
from rag.request import Request
from rag.settings import get_settings
from rag.types import Answer

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "eval" / "datasets" / "multipart_qa.jsonl"


def _found(answer: Answer, answers: list[str]) -> bool:
    quotes = " ".join(c.quote for c in answer.citations).lower()
    return any(a.lower() in quotes for a in answers)


def _score(answer: Answer, question: str, parts: list[dict], by_part: bool) -> list[bool]:
    asks = split_parts(question)
    right = []
    for i, part in enumerate(parts):
        if part["answers"]:
            right.append(_found(answer, part["answers"]))
        elif by_part and len(asks) == len(parts):  # its own "does not say" in its place
            right.append(f"“{asks[i]}” " in answer.text)
        else:
            right.append(answer.abstained)
    return right


def evaluate(path: Path = DATASET, corpus: Path = ROOT / "corpus") -> dict[str, object]:
    settings = get_settings()
    engine = get_engine(corpus, settings)
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    report: dict[str, object] = {"questions": len(rows), "parts": sum(len(r["parts"]) for r in rows)}
    for name in ("whole", "by part"):
        parts_right = all_right = 0
        wrong = []
        for row in rows:
            if name == "whole":
                answer = final_answer(engine._answer_one(Request.build(row["question"], settings)))
            else:
                answer = ask(row["question"], corpus, settings=settings)
            right = _score(answer, row["question"], row["parts"], name == "by part")
            parts_right += sum(right)
            all_right += all(right)
            if not all(right):
                wrong.append((row["id"], right, answer.text[:160]))
        report[name] = {
            "parts_right": round(parts_right / report["parts"], 3),  # type: ignore[operator]
            "questions_all_parts_right": round(all_right / len(rows), 3),
            "wrong": wrong,
        }
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = ap.parse_args()
    print(json.dumps(evaluate(args.dataset, args.corpus), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
