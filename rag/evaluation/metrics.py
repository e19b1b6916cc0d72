"""Metrics without an LLM judge: span overlap, answer containment and F1, abstention."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_MARKER = re.compile(r"\s*\[\d+\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("“”‘’–—…")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = _MARKER.sub(" ", text).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def contains_answer(prediction: str, answers: Sequence[str]) -> bool:
    """True when a normalised acceptable answer occurs in the normalised prediction, on word bounds."""
    pred = f" {normalize_answer(prediction)} "
    return any(norm and f" {norm} " in pred for norm in (normalize_answer(a) for a in answers))


def exact_match(prediction: str, answers: Sequence[str]) -> bool:
    """SQuAD's exact match: the normalised prediction equals a normalised acceptable answer."""
    pred = normalize_answer(prediction)
    return bool(pred) and any(pred == normalize_answer(a) for a in answers)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token-level F1 between the prediction and any acceptable answer."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = Counter(pred) & Counter(gold)
        same = sum(common.values())
        if not pred or not gold or same == 0:
            continue
        precision, recall = same / len(pred), same / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


@dataclass(frozen=True)
class Span:
    """A region of a document; ``start is None`` means the whole document."""

    source: str
    start: int | None = None
    end: int | None = None

    def overlaps(self, source: str, start: int, end: int) -> bool:
        if source != self.source:
            return False
        if self.start is None or self.end is None:
            return True
        return start < self.end and self.start < end


def first_hit_rank(
    retrieved: Sequence[tuple[str, int, int]], evidence: Sequence[Sequence[Span]], k: int = 10
) -> int | None:
    """1-based rank of the first retrieved span overlapping any evidence item, within ``k``."""
    for rank, (source, start, end) in enumerate(retrieved[:k], start=1):
        if any(span.overlaps(source, start, end) for item in evidence for span in item):
            return rank
    return None


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else 0.0


def ratio(num: float, den: float) -> float:
    return float(num) / den if den else 0.0


@dataclass(frozen=True)
class Outcome:
    """One question seen by its confidence: what the answer (or the one held back) would have been.

    ``correct``: answerable, the answer contains an acceptable answer and a citation is on
    the evidence. ``cited``/``cited_on_evidence`` count its citations.
    """

    confidence: float
    answerable: bool
    correct: bool
    contained: bool
    cited: int
    cited_on_evidence: int


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """P(a positive scores above a negative), ties counting half; None without both classes."""
    if not positive or not negative:
        return None
    scores = np.asarray([*positive, *negative], dtype=float)
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(outcomes: Sequence[Outcome], bins: int = 10) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by their size."""
    if not outcomes:
        return 0.0
    conf = np.asarray([o.confidence for o in outcomes])
    correct = np.asarray([o.correct for o in outcomes], dtype=float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return float(
        sum(
            abs(conf[which == b].mean() - correct[which == b].mean()) * (which == b).sum()
            for b in range(bins)
            if (which == b).any()
        )
        / len(outcomes)
    )


def risk_coverage(outcomes: Sequence[Outcome]) -> dict[str, list[float]]:
    """Answering the most confident questions first: at each coverage, the share of the answers
    that are right (contain an acceptable answer; for unanswerable questions, none is) and the
    precision of their citations."""
    ranked = sorted(outcomes, key=lambda o: -o.confidence)
    n = len(ranked)
    contained = np.cumsum([o.answerable and o.contained for o in ranked])
    cited = np.cumsum([o.cited for o in ranked])
    on_evidence = np.cumsum([o.cited_on_evidence for o in ranked])
    k = np.arange(1, n + 1)
    return {
        "coverage": (k / n).tolist() if n else [],
        "containment": (contained / k).tolist() if n else [],
        "precision": np.divide(on_evidence, cited, out=np.zeros(n), where=cited > 0).tolist() if n else [],
    }


@dataclass
class ModeTotals:
    """Running sums for one retrieval mode."""

    n: int = 0
    n_retrieval: int = 0
    ranks: list[int | None] = field(default_factory=list)
    answerable: int = 0
    unanswerable: int = 0
    contained: int = 0
    f1_sum: float = 0.0
    citations: int = 0
    citations_on_evidence: int = 0
    evidence_items: int = 0
    evidence_cited: int = 0
    faithful_quotes: int = 0
    abstained_right: int = 0
    abstained_wrong: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    generated_sentences: int = 0
    unsupported_sentences: int = 0
    fallbacks: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    by_kind: dict[str, list[bool]] = field(default_factory=dict)  # answerable questions' containment
    short_given: int = 0  # answerable questions given a short answer
    short_em: int = 0  # ... whose short answer matches exactly (a question without one counts 0)
    short_f1_sum: float = 0.0
    short_by_kind: dict[str, list[bool]] = field(default_factory=dict)  # exact matches, by kind

    def summary(self) -> dict[str, dict[str, float | None]]:
        def hit(k: int) -> float:
            return ratio(sum(1 for r in self.ranks if r is not None and r <= k), self.n_retrieval)

        abstained = self.abstained_right + self.abstained_wrong
        return {
            "retrieval": {
                "hit@1": hit(1),
                "hit@5": hit(5),
                "hit@10": hit(10),
                "mrr@10": ratio(sum(1.0 / r for r in self.ranks if r is not None), self.n_retrieval),
            },
            "answer": {
                "containment": ratio(self.contained, self.answerable),
                "token_f1": ratio(self.f1_sum, self.answerable),
                **{f"containment[{kind}]": ratio(sum(v), len(v)) for kind, v in sorted(self.by_kind.items())},
                "short_share": ratio(self.short_given, self.answerable),
                "short_em": ratio(self.short_em, self.answerable),
                "short_f1": ratio(self.short_f1_sum, self.answerable),
                **{f"short_em[{kind}]": ratio(sum(v), len(v)) for kind, v in sorted(self.short_by_kind.items())},
            },
            "citations": {
                "precision": ratio(self.citations_on_evidence, self.citations),
                "recall": ratio(self.evidence_cited, self.evidence_items),
                "quote_fidelity": ratio(self.faithful_quotes, self.citations) if self.citations else 1.0,
            },
            "abstention": {
                "precision": ratio(self.abstained_right, abstained) if abstained else 1.0,
                "recall": ratio(self.abstained_right, self.unanswerable) if self.unanswerable else 1.0,
                "false_refusal": ratio(self.abstained_wrong, self.answerable),
                "auroc": auroc(
                    [1 - o.confidence for o in self.outcomes if not o.answerable],
                    [1 - o.confidence for o in self.outcomes if o.answerable],
                ),
            },
            "calibration": {"ece": expected_calibration_error(self.outcomes)},
            "risk_coverage": {"aurc": self.aurc(), "coverage": ratio(self.n - abstained, self.n)},
            "latency_ms": {"p50": percentile(self.latencies_ms, 50), "p95": percentile(self.latencies_ms, 95)},
        }

    def aurc(self) -> float:
        """Area under the risk-coverage curve, risk being 1 - the share of right answers (lower is better)."""
        curve = risk_coverage(self.outcomes)
        return float(np.mean([1 - c for c in curve["containment"]])) if curve["containment"] else 0.0

    def generation(self) -> dict[str, float]:
        """Only for LLM answerers: how much of what the model wrote its citations support."""
        return {
            "generated_sentences": self.generated_sentences,
            "supported_share": ratio(self.generated_sentences - self.unsupported_sentences, self.generated_sentences),
            "fallback_share": ratio(self.fallbacks, self.n),
        }
