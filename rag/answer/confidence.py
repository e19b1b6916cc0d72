"""How likely an answer is right: a small logistic model over features of the evidence.

``features`` describes the sentences an answer would quote (one, or two adjacent ones) against
the question: how well they support it, whether every name, number and quoted phrase of the
question appears in them or their passage (an entity swap or a changed number fails this),
whether they offer an entity of the type the question asks for, negation and antonym
mismatches, and how much the two retrievers agree on their passage. ``ConfidenceModel`` turns
those into the probability that the answer contains an acceptable answer and cites it; its
weights are in ``rag/weights.json`` (fitted by ``bench/fit_confidence.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.language.answer_types import answer_labels
from rag.language.nlp import analyse
from rag.language.text import term_set, terms
from rag.types import CandidateSentence, Evidence

FEATURES = (
    "support",
    "dense",
    "lexical",
    "margin",
    "passage_lexical",
    "anchors_in_sentence",
    "anchors_in_passage",
    "number_missing",
    "no_anchors",
    "type_offered",
    "type_missing",
    "negation_mismatch",
    "antonym_mismatch",
    "dense_rank",
    "bm25_rank",
    "passage_rank",
    "two_sentences",
    "passage_missing",
    "focus_missing",
    "focus_missing_passage",
    "count_unattached",
)

_NEGATION = re.compile(r"\b(not|never|no|none|neither|nor|without|cannot)\b|n't\b", re.I)
_QUOTED = re.compile(r"[\"“”']([^\"“”']{3,80})[\"“”']")
_WORD = re.compile(r"[a-z]+")
_ANTONYM_PAIRS = (
    ("first", "last"), ("largest", "smallest"), ("biggest", "smallest"), ("highest", "lowest"),
    ("most", "least"), ("before", "after"), ("increase", "decrease"), ("increased", "decreased"),
    ("win", "lose"), ("won", "lost"), ("early", "late"), ("earliest", "latest"), ("older", "younger"),
    ("oldest", "youngest"), ("maximum", "minimum"), ("major", "minor"), ("north", "south"),
    ("east", "west"), ("northern", "southern"), ("eastern", "western"), ("longest", "shortest"),
    ("rise", "fall"), ("rose", "fell"), ("above", "below"), ("more", "less"), ("inside", "outside"),
    ("upper", "lower"), ("start", "end"), ("began", "ended"), ("accepted", "rejected"),
    ("allowed", "banned"), ("public", "private"), ("legal", "illegal"), ("success", "failure"),
)  # fmt: skip
ANTONYMS = {a: b for a, b in _ANTONYM_PAIRS} | {b: a for a, b in _ANTONYM_PAIRS}
_FOCUS = re.compile(
    r"\b(what|which|how many|how much)\s+(?:(?:kind|type|sort|form|group|name|names|part)s?\s+of\s+)?"
    r"(?:the\s+|a\s+|an\s+)?([a-z][a-z-]+)"
)
_NOT_FOCUS = frozenset(
    [
        "is",
        "was",
        "are",
        "were",
        "did",
        "does",
        "do",
        "has",
        "have",
        "had",
        "can",
        "could",
        "would",
        "will",
        "should",
        "might",
        "may",
        "must",
        "in",
        "on",
        "at",
        "of",
        "to",
        "for",
        "by",
        "from",
        "with",
        "about",
        "as",
        "it",
        "its",
        "their",
        "his",
        "her",
        "they",
        "he",
        "she",
        "this",
        "that",
        "these",
        "those",
    ]
)
_TOKEN = re.compile(r"[\w$€£][\w,.$%-]*")
_COUNT_WORDS = frozenset(
    [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "dozen",
        "dozens",
        "hundred",
        "hundreds",
        "thousand",
        "thousands",
        "million",
        "millions",
        "billion",
        "billions",
        "several",
        "few",
        "many",
        "some",
    ]
)


def _anchors(question: str) -> list[str]:
    """Names, numbers and quoted phrases of the question, lower-cased, each once."""
    a = analyse(question)
    found = [e.text for e in a.entities] + list(a.proper_nouns) + list(a.numbers) + _QUOTED.findall(question)
    out = []
    for text in found:
        text = re.sub(r"^(the|a|an)\s+", "", text.strip().lower())
        if len(text) > 1 and text not in out:
            out.append(text)
    return out


def _share(anchors: list[str], text: str) -> float:
    if not anchors:
        return 1.0
    low = text.lower()
    return sum(a in low for a in anchors) / len(anchors)


def _type_offered(question: str, sentences: Sequence[str]) -> tuple[float, float]:
    """(offered, missing): do the ``sentences`` hold an entity of the asked-for type the question lacks?

    Each sentence is analysed alone (an answer's sentences recur in its other compositions, and
    the short answer reads the same parse).
    """
    expected = answer_labels(question)
    if expected is None:
        return 0.0, 0.0
    q = question.lower()
    found = (e for s in sentences for e in analyse(s).entities)
    offered = any(e.label in expected[1] and e.text.lower() not in q for e in found)
    return float(offered), float(not offered)


def _antonym_mismatch(question: str, text: str) -> float:
    q_words = set(_WORD.findall(question.lower()))
    s_words = set(_WORD.findall(text.lower()))
    return float(any(w in ANTONYMS and ANTONYMS[w] in s_words and w not in s_words for w in q_words))


def focus(question: str) -> tuple[str, str] | None:
    """(wh-word, stemmed head word) of "what/which/how many/how much X" questions, else None.

    "How many troops…?" asks about troops: a sentence that never mentions them (or mentions
    them with no number) is on topic but not an answer.
    """
    m = _FOCUS.search(question.lower())
    if m is None or m.group(2) in _NOT_FOCUS:
        return None
    stems = terms(m.group(2))
    return (m.group(1), stems[0]) if stems else None


def _count_unattached(question: str, text: str) -> float:
    """1.0 for a "how many X" question whose text has no number just before an X (see ``focus``)."""
    f = focus(question)
    if f is None or f[0] != "how many":
        return 0.0
    tokens = _TOKEN.findall(text.lower())
    for i, token in enumerate(tokens):
        if terms(token)[:1] == [f[1]]:
            before = tokens[max(0, i - 4) : i]
            if any(any(ch.isdigit() for ch in t) or t in _COUNT_WORDS for t in before):
                return 0.0
    return 1.0


def _ranks(evidence: Evidence, chunk_id: str) -> tuple[float, float]:
    """1/(1+rank) of the passage among the evidence by dense and by BM25 score (0 if unscored)."""
    out = []
    for key in ("dense", "bm25"):
        scored = [p for p in evidence.passages if getattr(p, key) is not None]
        order = sorted(scored, key=lambda p: -getattr(p, key))
        rank = next((i for i, p in enumerate(order) if p.chunk.id == chunk_id), None)
        out.append(0.0 if rank is None else 1.0 / (1 + rank))
    return out[0], out[1]


def features(evidence: Evidence, picked: Sequence[CandidateSentence]) -> dict[str, float]:
    """The model's features for an answer quoting ``picked`` (first the best of them)."""
    first = picked[0]
    s = first.sentence
    text = " ".join(c.sentence.text for c in picked)
    question = evidence.question
    passage = evidence.passages[first.passage_rank].chunk.text
    others = [c.selection for c in evidence.candidates if c is not first and c not in picked]
    anchors = _anchors(question)
    offered, missing = _type_offered(question, [c.sentence.text for c in picked])
    dense_rank, bm25_rank = _ranks(evidence, s.chunk_id)
    coverage = evidence.passage_coverage
    missing_terms = evidence.passage_missing
    head = focus(question)
    return {
        "support": max(c.sentence.score for c in picked),
        "dense": max(c.sentence.dense for c in picked),
        "lexical": max(c.sentence.lexical for c in picked),
        "margin": first.selection - max(others, default=first.selection - 1.0),
        "passage_lexical": coverage[first.passage_rank] if first.passage_rank < len(coverage) else 0.0,
        "anchors_in_sentence": _share(anchors, text),
        "anchors_in_passage": _share(anchors, passage),
        "number_missing": float(any(n not in passage for n in analyse(question).numbers)),
        "no_anchors": float(not anchors),
        "type_offered": offered,
        "type_missing": missing,
        "negation_mismatch": float(bool(_NEGATION.search(question)) != bool(_NEGATION.search(text))),
        "antonym_mismatch": _antonym_mismatch(question, text),
        "dense_rank": dense_rank,
        "bm25_rank": bm25_rank,
        "passage_rank": 1.0 / (1 + first.passage_rank),
        "two_sentences": float(len(picked) > 1),
        "passage_missing": missing_terms[first.passage_rank] if first.passage_rank < len(missing_terms) else 1.0,
        "focus_missing": float(head is not None and head[1] not in term_set(text)),
        "focus_missing_passage": float(head is not None and head[1] not in term_set(passage)),
        "count_unattached": _count_unattached(question, text),
    }
