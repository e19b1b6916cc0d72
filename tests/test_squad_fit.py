"""eval/squad_fit.py: the fitting set is whole articles of SQuAD train, in the dev benchmark's layout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "eval"))
import squad_fit

pytestmark = pytest.mark.unit


def _train(path: Path) -> Path:
    def article(title: str, n: int) -> dict[str, object]:
        paragraphs = [
            {
                "context": f"{title} paragraph {p} says the answer is {p * 7}.",
                "qas": [
                    {
                        "id": f"{title}_{p}_0",
                        "question": f"What does {title} paragraph {p} say?",
                        "answers": [{"text": str(p * 7), "answer_start": 0}, {"text": str(p * 7), "answer_start": 0}],
                    }
                ],
            }
            for p in range(n)
        ]
        return {"title": title, "paragraphs": paragraphs}

    data = {"data": [article(t, 2) for t in ("Alpha", "Beta", "Gamma", "Delta")]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_whole_articles_are_chosen_by_hash_and_laid_out_like_dev(tmp_path: Path) -> None:
    out = squad_fit.build(_train(tmp_path / "train.json"), tmp_path / "fit", n=2)
    corpus = [json.loads(line) for line in (out / "corpus.jsonl").open(encoding="utf-8")]
    questions = [json.loads(line) for line in (out / "questions.jsonl").open(encoding="utf-8")]
    chosen = squad_fit.chosen(["Alpha", "Beta", "Gamma", "Delta"], 2)
    assert {c["title"] for c in corpus} == set(chosen) and len(chosen) == 2
    assert chosen == squad_fit.chosen(["Delta", "Gamma", "Beta", "Alpha"], 2)  # the order of the file does not matter
    texts = {c["id"]: c["text"] for c in corpus}
    assert len(corpus) == 4 and len(questions) == 4
    for q in questions:
        source = q["evidence"][0]["source"]
        assert q["answers"] == [q["answers"][0]]  # repeated answers once
        assert q["answers"][0] in texts[source]  # every question's paragraph is in the corpus


def test_a_missing_training_set_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"SQuAD v1\.1 train is missing"):
        squad_fit.build(tmp_path / "nowhere.json", tmp_path / "fit")
