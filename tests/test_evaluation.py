"""The evaluation suite: the seed dataset is correct, the metrics are right, and quality holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEFAULT_CORPUS, SEED_QA

from rag.errors import InputError
from rag.evaluation.dataset import load_dataset
from rag.evaluation.metrics import (
    ModeTotals,
    Outcome,
    Span,
    auroc,
    contains_answer,
    exact_match,
    expected_calibration_error,
    first_hit_rank,
    normalize_answer,
    risk_coverage,
    token_f1,
)

# Measured on eval/datasets/seed_qa.jsonl with `make eval` (see eval/RESULTS.md); the gate sits a
# little under each measured value so that a real regression fails CI.
GATE = {
    "hybrid": {
        ("retrieval", "hit@5"): 0.90,
        ("retrieval", "mrr@10"): 0.82,
        # the reader (measured 0.689; the sentence scorer fitted on SQuAD dev had 0.754, on train 0.705)
        ("answer", "containment"): 0.66,
        ("citations", "recall"): 0.53,  # measured 0.558: one quote, the sentence holding the span
        ("citations", "precision"): 0.65,  # measured 0.696 (the sentence scorer: 0.538)
        # 16 of 31: the reader's margin under the bar fitted on SQuAD train catches near misses
        ("abstention", "recall"): 0.45,
        ("abstention", "auroc"): 0.68,  # measured 0.733 (the sentence scorer: 0.655)
        # the reader's span: 0.541 over the answerable questions, 0.667 on the factoid ones
        ("answer", "short_em"): 0.50,
        ("answer", "short_em[factoid]"): 0.62,
    },
    "bm25": {("retrieval", "hit@5"): 0.85, ("answer", "containment"): 0.55},
    "dense": {("retrieval", "hit@5"): 0.90, ("answer", "containment"): 0.60},
}
# The refusal bar is fitted for 5 % on SQuAD train with hybrid evidence; on the seed set's news
# paraphrases it refuses more (eval/RESULTS.md), and more again in the modes it was not fitted on.
MAX_FALSE_REFUSAL = {"hybrid": 0.21, "dense": 0.23, "bm25": 0.23}  # measured 0.197, 0.213, 0.197


@pytest.fixture(scope="module")
def seed_rows() -> list[dict]:
    return [json.loads(line) for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.unit
def test_seed_dataset_is_checked_against_the_text(seed_rows: list[dict]) -> None:
    texts = {p.name: p.read_text(encoding="utf-8") for p in DEFAULT_CORPUS.glob("*.txt")}
    rows = load_dataset(SEED_QA)
    assert len(rows) >= 50 and len({r.id for r in rows}) == len(rows)
    for row in rows:
        for ev in row.evidence:
            assert ev.source in texts, row.id
            assert ev.quote is None or ev.quote in texts[ev.source], row.id
        if row.answerable:
            assert row.evidence, row.id
            for answer in row.answers:
                assert any(answer in (ev.quote or texts[ev.source]) for ev in row.evidence), (row.id, answer)
    kinds = [r.get("kind") for r in seed_rows]
    assert sum(1 for r in rows if not r.answerable) >= 10
    assert kinds.count("paraphrase") >= 8
    assert kinds.count("followup") >= 3 and all(r.history for r in rows if r.kind == "followup")
    cross = [r for r in rows if len({ev.source for ev in r.evidence}) == 2]
    assert len(cross) >= 5


@pytest.mark.unit
def test_paraphrase_questions_avoid_the_passage_key_words(seed_rows: list[dict]) -> None:
    """At least 8 paraphrase questions share no content term with their evidence quotes' key words."""
    from rag.language.text import terms

    def key_terms(quote: str) -> set[str]:
        return {t for t in terms(quote) if len(t) > 3}

    clean = 0
    for row in seed_rows:
        if row.get("kind") != "paraphrase":
            continue
        answer_terms = {t for a in row["answers"] for t in terms(a)}
        quote_terms = set().union(*(key_terms(ev["quote"]) for ev in row["evidence"])) - answer_terms
        overlap = set(terms(row["question"])) & quote_terms
        clean += len(overlap) <= 1
    assert clean >= 8


@pytest.mark.unit
def test_dataset_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q?"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:2: invalid dataset row"):
        load_dataset(bad)
    with pytest.raises(InputError, match="dataset not found"):
        load_dataset(tmp_path / "missing.jsonl")
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "question": "q?"}\n{"id": "a", "question": "r?"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="duplicate id"):
        load_dataset(dup)


@pytest.mark.unit
def test_answer_metrics() -> None:
    assert normalize_answer("The  “Liu Pengyu,” said [1]") == "liu pengyu said"
    assert contains_answer("Chinese Embassy spokesman Liu Pengyu said [1]", ["liu pengyu"])
    assert not contains_answer("Mr. Liuzhou said", ["Liu"])  # word boundaries
    assert token_f1("Liu Pengyu", ["Liu Pengyu"]) == 1.0
    assert token_f1("the spokesman Liu", ["Liu Pengyu"]) == pytest.approx(0.5)
    assert token_f1("nothing here", ["Liu Pengyu"]) == 0.0


@pytest.mark.unit
def test_span_overlap_and_ranks() -> None:
    ev = [[Span("a.txt", 100, 150)], [Span("b.txt")]]
    assert first_hit_rank([("a.txt", 0, 99), ("a.txt", 140, 300)], ev) == 2
    assert first_hit_rank([("c.txt", 0, 10), ("b.txt", 5, 6)], ev) == 2
    assert first_hit_rank([("a.txt", 150, 200)], ev) is None  # touching is not overlapping
    assert first_hit_rank([("c.txt", 0, 1)] * 10 + [("b.txt", 0, 1)], ev, k=10) is None


@pytest.mark.unit
def test_exact_match_is_squads() -> None:
    assert exact_match("The Denver Broncos.", ["Denver Broncos"])
    assert exact_match("$360 million", ["an estimated $360 million", "$360 million"])
    assert not exact_match("an estimated $360 million", ["$360 million"])
    assert not exact_match("", [""]) and not exact_match("the", ["a"])


@pytest.mark.unit
def test_mode_totals_summary() -> None:
    t = ModeTotals(
        n=4, n_retrieval=2, ranks=[1, None], answerable=2, unanswerable=2, contained=1, f1_sum=0.5,
        citations=4, citations_on_evidence=3, evidence_items=2, evidence_cited=1, faithful_quotes=4,
        abstained_right=1, abstained_wrong=1, latencies_ms=[10.0, 20.0, 30.0, 40.0],
        short_given=1, short_em=1, short_f1_sum=1.0, short_by_kind={"factoid": [True, False]},
    )  # fmt: skip
    s = t.summary()
    assert s["retrieval"] == {"hit@1": 0.5, "hit@5": 0.5, "hit@10": 0.5, "mrr@10": 0.5}
    assert s["answer"] == {
        "containment": 0.5, "token_f1": 0.25,
        "short_share": 0.5, "short_em": 0.5, "short_f1": 0.5, "short_em[factoid]": 0.5,
    }  # fmt: skip
    assert s["citations"] == {"precision": 0.75, "recall": 0.5, "quote_fidelity": 1.0}
    assert s["abstention"] == {"precision": 0.5, "recall": 0.5, "false_refusal": 0.5, "auroc": None}
    assert s["latency_ms"]["p50"] == 25.0


@pytest.mark.unit
def test_auroc_calibration_and_risk_coverage() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0 and auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5 and auroc([0.4], []) is None
    right = [Outcome(0.9, True, True, True, 1, 1) for _ in range(9)] + [Outcome(0.9, True, False, False, 1, 0)]
    assert expected_calibration_error(right) == pytest.approx(0.0)  # 90 % confident, 90 % right
    overconfident = [Outcome(0.95, True, False, False, 1, 0)] * 4
    assert expected_calibration_error(overconfident) == pytest.approx(0.95)
    mixed = [
        Outcome(0.2, False, False, False, 1, 0),
        Outcome(0.9, True, True, True, 1, 1),
        Outcome(0.6, True, False, True, 2, 1),
    ]
    curve = risk_coverage(mixed)
    assert curve["coverage"] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert curve["containment"] == pytest.approx([1.0, 1.0, 2 / 3])  # the unanswerable one, answered last, is wrong
    assert curve["precision"] == pytest.approx([1.0, 2 / 3, 2 / 4])
    totals = ModeTotals(n=3, outcomes=mixed)
    assert totals.aurc() == pytest.approx((0 + 0 + 1 / 3) / 3)


@pytest.mark.integration
def test_quality_gate_on_seed_dataset(indexed, tmp_path: Path) -> None:
    """The whole eval through the same `ask` users call; writes the report files; holds the gate."""
    from rag.evaluation.runner import run_eval

    corpus, settings = indexed
    out = tmp_path / "report"
    report = run_eval(corpus, SEED_QA, out=out, settings=settings, progress=False)
    assert {p.name for p in out.iterdir()} >= {
        "report.json",
        "report.md",
        "details.jsonl",
        "metrics.png",
        "latency.png",
        "risk_coverage.png",
    }
    saved = json.loads((out / "report.json").read_text())
    assert set(saved) >= {"dataset", "corpus", "n_questions", "modes"}
    assert saved["n_questions"] == len(load_dataset(SEED_QA))
    for mode, gate in GATE.items():
        metrics = saved["modes"][mode]
        assert set(metrics) == {
            "retrieval",
            "answer",
            "citations",
            "abstention",
            "calibration",
            "risk_coverage",
            "latency_ms",
        }
        assert metrics["citations"]["quote_fidelity"] == 1.0
        assert metrics["abstention"]["false_refusal"] <= MAX_FALSE_REFUSAL[mode], mode
        for (group, name), floor in gate.items():
            assert metrics[group][name] >= floor, (mode, group, name, metrics[group][name])
    assert report["modes"]["hybrid"]["retrieval"]["mrr@10"] >= report["modes"]["bm25"]["retrieval"]["mrr@10"]
    details = [json.loads(line) for line in (out / "details.jsonl").read_text().splitlines()]
    answered = [d for d in details if not d["abstained"]]
    # every record carries its confidence and the evidence's best sentence
    assert all(0 <= d["confidence"] <= 1 for d in details) and all(d["best_sentence"] for d in answered)
    right = [d["confidence"] for d in details if d["answerable"] and d["contained"]]
    wrong = [d["confidence"] for d in details if not d["answerable"] or not d["contained"]]
    assert sum(right) / len(right) > sum(wrong) / len(wrong)  # the model ranks right answers higher on average


@pytest.mark.integration
def test_eval_cli_and_python_m_eval(indexed, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    import subprocess
    import sys

    corpus, settings = indexed
    subprocess_env["RAG_INDEX_DIR"] = str(settings.index_dir)
    out = tmp_path / "cli-report"
    cmd = [sys.executable, "-m", "eval", "--corpus", str(corpus), "--dataset", str(SEED_QA)]
    cmd += ["--modes", "bm25", "--limit", "10", "--seed", "3", "--out", str(out)]
    proc = subprocess.run(
        cmd, env=subprocess_env, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent.parent
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["n_questions"] == 10 and list(report["modes"]) == ["bm25"]
    bad = subprocess.run(
        [*cmd[:-2], "--out", str(out), "--modes", "magic"], env=subprocess_env, capture_output=True, text=True, timeout=300,
        cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.strip().startswith("error: unknown mode(s) magic")


@pytest.mark.parametrize(
    ("phrases", "em", "f1"),
    [(("Wang Yi", "CCTV"), True, 1.0), (("Wang Yi", "Xi Jinping"), False, 0.5), (("Wang Yi", None), False, 0.5)],
)
def test_a_question_of_several_parts_scores_each_part_s_phrase(phrases: tuple, em: bool, f1: float) -> None:
    from rag.evaluation.dataset import EvalRow
    from rag.evaluation.metrics import ModeTotals
    from rag.evaluation.runner import score_answer
    from rag.types import Answer, Citation, Evidence, ShortAnswer

    row = EvalRow(id="m", question="Who? And which?", answers=["Wang Yi", "CCTV"], parts=[["Wang Yi"], ["CCTV"]])
    cited = Citation("doc.txt", 0, 20, "Wang Yi spoke to CCTV", 0.9)
    shorts = tuple(ShortAnswer(t, "doc.txt", 0, len(t), 0.5, 0) if t else None for t in phrases)
    answer = Answer("Wang Yi spoke to CCTV [1]", False, (cited,), Evidence("q", "q", "hybrid", 3), part_shorts=shorts)
    totals = ModeTotals()
    record = score_answer(totals, row, answer, [], lambda source: None, 10)
    assert record["short_em"] is em and record["part_shorts"] == list(phrases)
    assert (totals.short_given, totals.short_em, totals.short_f1_sum) == (1, int(em), f1)
