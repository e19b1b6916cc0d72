"""Run a dataset through ``ask`` (the same call users make) and write report.json, report.md, plots."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.core import ask, get_engine
from rag.evaluation.dataset import EvalRow, load_dataset
from rag.evaluation.metrics import (
    ModeTotals,
    Outcome,
    Span,
    contains_answer,
    exact_match,
    first_hit_rank,
    risk_coverage,
    token_f1,
)
from rag.settings import MODES, Mode, Settings, get_settings
from rag.types import Answer, ScoredSentence

PRIME_MIN_QUESTIONS = 1000


def resolve_evidence(rows: Sequence[EvalRow], text_of: Any) -> tuple[dict[str, list[list[Span]]], list[str]]:
    """Evidence of each row as document spans (every occurrence of a quote), plus warnings."""
    out: dict[str, list[list[Span]]] = {}
    warnings: list[str] = []
    for row in rows:
        items: list[list[Span]] = []
        for ev in row.evidence:
            text = text_of(ev.source)
            if text is None:
                warnings.append(f"{row.id}: evidence source {ev.source!r} is not in the corpus")
                continue
            if not ev.quote:
                items.append([Span(ev.source)])
                continue
            spans = []
            pos = text.find(ev.quote)
            while pos >= 0:
                spans.append(Span(ev.source, pos, pos + len(ev.quote)))
                pos = text.find(ev.quote, pos + 1)
            if not spans:
                warnings.append(f"{row.id}: quote not found in {ev.source}; using the whole document")
                spans = [Span(ev.source)]
            items.append(spans)
        out[row.id] = items
    return out, warnings


def score_answer(
    totals: ModeTotals, row: EvalRow, answer: Answer, evidence: list[list[Span]], text_of: Any, depth: int
) -> dict[str, Any]:
    """Add one answer to the totals; return its per-question record."""
    totals.n += 1
    totals.generated_sentences += answer.generated_sentences
    totals.unsupported_sentences += len(answer.unsupported_sentences)
    totals.fallbacks += answer.answerer.startswith("extractive (fallback")
    rank = None
    if row.answerable and evidence:
        retrieved = [(p.chunk.source, p.chunk.start, p.chunk.end) for p in answer.passages[:depth]]
        rank = first_hit_rank(retrieved, evidence, k=10)
        totals.n_retrieval += 1
        totals.ranks.append(rank)
    contained = False
    if row.answerable:
        totals.answerable += 1
        if answer.abstained:
            totals.abstained_wrong += 1
        else:
            wanted = [p for p in row.parts if p] or [row.answers]
            contained = all(contains_answer(answer.text, answers) for answers in wanted)
            totals.contained += contained
            totals.f1_sum += token_f1(answer.text, row.answers)
    else:
        totals.unanswerable += 1
        totals.abstained_right += answer.abstained
    short_em = _score_short(totals, row, answer)
    on_evidence = _score_citations(totals, row, answer, evidence, text_of)
    totals.outcomes.append(outcome(row, answer, evidence, contained, on_evidence))
    if row.kind and row.answerable:
        totals.by_kind.setdefault(row.kind, []).append(contained)
        totals.short_by_kind.setdefault(row.kind, []).append(short_em)
    if row.answerable and evidence:
        totals.evidence_items += len(evidence)
        totals.evidence_cited += sum(
            any(span.overlaps(c.source, c.start, c.end) for span in item for c in answer.citations) for item in evidence
        )
    best = answer.evidence.candidates[0].sentence if answer.evidence.candidates else None
    return {
        "id": row.id,
        "abstained": answer.abstained,
        "confidence": round(answer.confidence, 4),
        "answerable": row.answerable,
        "contained": contained,
        "short": answer.short.text if answer.short else None,
        "part_shorts": [s.text if s else None for s in answer.part_shorts] or None,
        "short_em": short_em,
        "short_confidence": round(answer.short.confidence, 4) if answer.short else None,
        "rank": rank,
        "citations": len(answer.citations),
        "citations_on_evidence": on_evidence,
        "score": answer.citations[0].score if answer.citations else None,
        "best_sentence": _features(best),  # what the evidence offered, for fitting what reads it next
        "query": answer.query,
        "answerer": answer.answerer,
        "unsupported": list(answer.unsupported_sentences),
        "text": answer.text[:300],
    }


def _score_short(totals: ModeTotals, row: EvalRow, answer: Answer) -> bool:
    """Add the answer's short phrase (or one per part) to the totals; whether it is an exact match."""
    short_em = False
    if row.answerable and answer.short is not None and not answer.abstained and not row.parts:
        totals.short_given += 1
        short_em = exact_match(answer.short.text, row.answers)
        totals.short_em += short_em
        totals.short_f1_sum += token_f1(answer.short.text, row.answers)
    elif row.answerable and row.parts and len(answer.part_shorts) == len(row.parts) and not answer.abstained:
        # several parts: exact when every part's phrase is; F1 the mean over parts (a missing one 0)
        given = [(s.text, gold) for s, gold in zip(answer.part_shorts, row.parts, strict=True) if s is not None]
        totals.short_given += 1
        short_em = len(given) == len(row.parts) and all(exact_match(text, gold) for text, gold in given)
        totals.short_em += short_em
        totals.short_f1_sum += sum(token_f1(text, gold) for text, gold in given) / len(row.parts)
    return short_em


def _score_citations(totals: ModeTotals, row: EvalRow, answer: Answer, evidence: list[list[Span]], text_of: Any) -> int:
    """Add the answer's citations to the totals (verbatim, on the evidence); how many are on it."""
    on_evidence = 0
    for c in answer.citations:
        text = text_of(c.source)
        totals.faithful_quotes += text is not None and text[c.start : c.end] == c.quote
        if row.answerable and evidence:
            totals.citations += 1
            hit = on_evidence_span(evidence, c.source, c.start, c.end)
            on_evidence += hit
            totals.citations_on_evidence += hit
        elif not row.answerable:
            totals.citations += 1  # any citation on an unanswerable question is off evidence
    return on_evidence


def on_evidence_span(evidence: list[list[Span]], source: str, start: int, end: int) -> bool:
    """Whether the span overlaps any evidence item of the question."""
    return any(span.overlaps(source, start, end) for item in evidence for span in item)


def outcome(row: EvalRow, answer: Answer, evidence: list[list[Span]], contained: bool, on_evidence: int) -> Outcome:
    """The question as the risk-coverage curve and the calibration see it.

    An abstention is counted by the answer it held back (its best candidate sentence), so the
    curve shows what a lower confidence threshold would have answered.
    """
    cited, on = len(answer.citations), on_evidence
    if answer.abstained:
        best = answer.evidence.candidates[0].sentence if answer.evidence.candidates else None
        contained = best is not None and row.answerable and contains_answer(best.text, row.answers)
        cited = int(best is not None)
        on = int(best is not None and row.answerable and on_evidence_span(evidence, best.source, best.start, best.end))
    correct = row.answerable and contained and on > 0
    return Outcome(answer.confidence, row.answerable, correct, contained, cited, on)


def _features(s: ScoredSentence | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"score": round(s.score, 4), "dense": round(s.dense, 4), "lexical": round(s.lexical, 4), "typed": s.typed}


def run_eval(
    corpus: Path,
    dataset: Path,
    modes: Sequence[Mode] = MODES,
    limit: int | None = None,
    seed: int = 0,
    out: Path | None = None,
    settings: Settings | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate every mode on the dataset; write the report files when ``out`` is given."""
    settings = settings or get_settings()
    rows = load_dataset(dataset)
    if limit is not None and limit < len(rows):
        keep = set(random.Random(seed).sample(range(len(rows)), limit))
        rows = [r for i, r in enumerate(rows) if i in keep]
    started = time.perf_counter()
    engine = get_engine(corpus, settings)
    index_report = engine.index(progress=progress)
    evidence, warnings = resolve_evidence(rows, engine.documents.text)
    notes = [f"index: {index_report.summary()}"]
    if len(rows) >= PRIME_MIN_QUESTIONS:
        t0 = time.perf_counter()
        engine.encoder.encode_cached([r.question for r in rows])
        per_q = (time.perf_counter() - t0) * 1000 / len(rows)
        notes.append(
            f"question vectors were computed in one batch before timing ({per_q:.1f} ms per question); "
            "latency below excludes that step"
        )
    report: dict[str, Any] = {
        "dataset": str(dataset),
        "corpus": str(corpus),
        "n_questions": len(rows),
        "answerer": settings.answerer
        + (" (sentence scoring)" if settings.answerer == "extractive" and not settings.reader else ""),
        "modes": {},
    }
    details: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list[float]]] = {}
    for mode in modes:
        totals = ModeTotals()
        bar = _bar(len(rows), f"eval {mode}", progress, settings.progress_every_s)
        for row in rows:
            t0 = time.perf_counter()
            answer = ask(row.question, corpus, mode=mode, history=row.history, settings=settings)
            latency = (time.perf_counter() - t0) * 1000
            totals.latencies_ms.append(latency)
            record = score_answer(totals, row, answer, evidence[row.id], engine.documents.text, settings.candidates)
            record["mode"] = mode
            record["latency"] = round(latency, 2)
            details.append(record)
            if bar:
                bar.update(1)
        if bar:
            bar.close()
        report["modes"][mode] = totals.summary()
        curves[mode] = risk_coverage(totals.outcomes)
        if settings.answerer != "extractive":
            report["modes"][mode]["generation"] = totals.generation()
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    report["settings"] = json.loads(settings.model_dump_json(exclude={"corpus", "llm_api_key"}))
    report["notes"] = notes + warnings[:50]
    if out is not None:
        write_report(report, details, out, curves)
    return report


def _bar(total: int, desc: str, enabled: bool, every_s: float):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    from rag.progress import progress_bar

    return progress_bar(total, desc, "q", every_s)


def write_report(
    report: dict[str, Any], details: list[dict[str, Any]], out: Path, curves: dict[str, dict[str, list[float]]]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    with (out / "details.jsonl").open("w", encoding="utf-8") as fh:
        for d in details:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    plot_report(report, details, out)
    plot_risk_coverage(report, curves, out)


def render_markdown(report: dict[str, Any]) -> str:
    modes = list(report["modes"])
    lines = [
        f"# Evaluation: {Path(report['dataset']).name}",
        "",
        f"- corpus: `{report['corpus']}`",
        f"- questions: {report['n_questions']}",
        f"- answerer: {report.get('answerer', 'extractive')}",
        f"- elapsed: {report.get('elapsed_s', '?')} s",
        "",
        "| metric | " + " | ".join(modes) + " |",
        "|---|" + "---|" * len(modes),
    ]
    groups = report["modes"][modes[0]] if modes else {}  # every mode has the same groups
    for group, metrics in groups.items():
        for metric in metrics:
            values = []
            for m in modes:
                v = report["modes"][m][group][metric]
                values.append(_cell(v, group))
            lines.append(f"| {group} {metric} | " + " | ".join(values) + " |")
    if report.get("notes"):
        lines += ["", "Notes:", *[f"- {n}" for n in report["notes"]]]
    return "\n".join(lines) + "\n"


def _cell(value: float | int | None, group: str) -> str:
    if value is None:
        return "n/a"  # e.g. AUROC on a set without unanswerable questions
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}" if group == "latency_ms" else f"{value:.3f}"


METRIC_NAMES = {
    ("retrieval", "hit@1"): "retrieval hit@1\n(gold passage ranked first)",
    ("retrieval", "hit@5"): "retrieval hit@5\n(gold passage in top 5)",
    ("retrieval", "mrr@10"): "retrieval MRR@10",
    ("answer", "containment"): "answer containment\n(holds a gold answer)",
    ("citations", "precision"): "citation precision\n(cited spans are evidence)",
    ("abstention", "recall"): "abstention recall\n(unanswerable refused)",
}


def plot_report(report: dict[str, Any], details: list[dict[str, Any]], out: Path) -> None:
    """Two PNGs: main metrics per mode, and the latency distribution per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(report["modes"])
    metrics = [
        ("retrieval", "hit@1"),
        ("retrieval", "hit@5"),
        ("retrieval", "mrr@10"),
        ("answer", "containment"),
        ("citations", "precision"),
        ("abstention", "recall"),
    ]
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        values = [report["modes"][mode][g][m] for g, m in metrics]
        ax.bar([x + i * width for x in range(len(metrics))], values, width, label=mode)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(metrics))])
    ax.set_xticklabels([METRIC_NAMES[m] for m in metrics], fontsize=8)
    ax.set_xlabel("metric")
    ax.set_ylabel("share (0-1), higher is better")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{Path(report['dataset']).name}: {report['n_questions']} questions")
    ax.legend(title="retrieval mode", loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.boxplot([[0.0]] if not details else [[d["latency"] for d in details if d["mode"] == m] or [0.0] for m in modes])
    ax.set_xticks(range(1, len(modes) + 1))
    ax.set_xticklabels(modes)
    ax.set_xlabel("retrieval mode")
    ax.set_ylabel("ask latency (ms)")
    ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=100)
    plt.close(fig)


def plot_risk_coverage(report: dict[str, Any], curves: dict[str, dict[str, list[float]]], out: Path) -> None:
    """risk_coverage.png: answering the most confident questions first, how right the answers stay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (mode, curve) in enumerate(curves.items()):
        color = f"C{i}"
        ax.plot(
            curve["coverage"],
            curve["containment"],
            color=color,
            label=f"{mode}: answers containing an acceptable answer",
        )
        ax.plot(curve["coverage"], curve["precision"], color=color, linestyle="--", label=f"{mode}: citation precision")
        at = report["modes"][mode]["risk_coverage"]["coverage"]
        ax.axvline(at, color=color, linestyle=":", linewidth=1)
    ax.set_xlabel("coverage: share of questions answered (most confident first)")
    ax.set_ylabel("share of the answered questions")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, 1)
    ax.set_title(f"{Path(report['dataset']).name}: risk-coverage (dotted: the configured threshold)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "risk_coverage.png", dpi=100)
    plt.close(fig)
