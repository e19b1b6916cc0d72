"""Follow-ups rewritten to stand alone, measured on the turns of ``eval/datasets/followup_rewrites*.jsonl``."""

from __future__ import annotations

import pytest
from conftest import ROOT

from eval.rewrites import DATASET, evaluate
from rag.answer.conversation import is_followup, standalone_query

HELDOUT = ROOT / "eval" / "datasets" / "followup_rewrites_heldout.jsonl"


@pytest.mark.parametrize("path", [DATASET, HELDOUT])
def test_rewrite_accuracy_and_no_standalone_question_changed(path) -> None:  # type: ignore[no-untyped-def]
    report = evaluate(path)
    assert report["standalone_changed"] == 0, report["wrong"]
    assert float(report["accuracy"]) >= 0.9, report["wrong"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("history", "question", "rewrite"),
    [
        (
            ["Who is the Chinese Embassy spokesman quoted about Ukraine?"],
            "What did he say about it?",
            "What did the Chinese Embassy spokesman say about Ukraine?",
        ),
        (["Who is Qin Gang?"], "What did his embassy say?", "What did Qin Gang's embassy say?"),
        (["When did Biden and Xi meet?"], "When did that happen?", "When did Biden and Xi meet? When did that happen?"),
        ([], "What did he say about it?", "What did he say about it?"),  # nothing to resolve it with
        (["Who is Qin Gang?"], "How long did it take Beijing to answer?", "How long did it take Beijing to answer?"),
    ],
)
def test_rewrites(history: list[str], question: str, rewrite: str) -> None:
    assert standalone_query(question, history) == rewrite


def test_is_followup() -> None:
    assert is_followup("And Russia?") and is_followup("What did she announce?")
    assert not is_followup("When did Washington first start passing its intel to Beijing?")
