"""The short answer: the exact phrase inside a cited quote that answers the question.

Candidates come from spaCy's parse of the quoted sentence (entities, noun chunks, the subtrees
of nouns in argument roles, numbers with what they count); small gradient-boosted ranking trees,
fitted on one half of SQuAD v1.1 dev's articles (``bench/fit_short.py``, weights in
``rag/short_weights.json``), score each one against the others of the same answer. The best
candidate's share of the answer (softmax of the scores), calibrated to P(exactly right), is its
confidence; it is the short answer when that clears the fitted threshold. Its offsets are
inside the citation, so the quote's verification covers it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.language.answer_types import answer_labels
from rag.language.text import term_set, terms
from rag.types import Citation, ShortAnswer
from rag.weights import ConfidenceModel

WEIGHTS = Path(__file__).resolve().parents[1] / "short_weights.json"
MAX_TOKENS = 12  # longer phrases are sentences, not short answers
LABELS = ("PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE",
          "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL")  # fmt: skip
ROLES = ("nsubj", "nsubjpass", "dobj", "pobj", "attr", "appos", "conj", "compound", "npadvmod", "ROOT", "dative")
POS = ("PROPN", "NOUN", "NUM", "PRON", "ADJ")
WH = ("who", "when", "where", "which", "what", "how many", "how much", "how", "why")
_EDGE = re.compile(r"^[\s,;:.!?\"'“”‘’()\[\]-]+|[\s,;:.!?\"'“”‘’()\[\]-]+$")
_QUOTED = re.compile(r"“([^“”]+)”|\"([^\"]+)\"")
_PAIRS = (("“", "”"), ("(", ")"), ("[", "]"))
APPROXIMATE = frozenset(
    ["about", "almost", "approximately", "around", "estimated", "nearly", "over", "roughly", "some", "under"]
)


@dataclass(frozen=True)
class Candidate:
    """A phrase of a sentence that may answer a question, with what the features need of it."""

    start: int  # character offsets in the sentence
    end: int
    text: str
    first: int  # token indices, inclusive
    last: int
    entity: bool  # exactly one named entity
    chunk: bool  # a noun chunk
    label: str  # the entity label of the phrase or of the first entity inside it
    dep: str
    pos: str
    head: str  # lower-cased word the phrase hangs from
    root: int  # token index of the phrase's syntactic head
    quoted: bool = False  # exactly the words between a pair of double quotation marks


@dataclass(frozen=True)
class Reading:
    """A parsed sentence: its words (lower-cased) and its candidate phrases."""

    words: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    heads: tuple[int, ...]  # each token's syntactic head (the root heads itself)
    pos: tuple[str, ...]  # each token's coarse part of speech


@lru_cache(maxsize=4_000)
def read(sentence: str) -> Reading:
    """The candidates of ``sentence``, cached (spaCy's documents are not kept).

    A reading holds ~30 candidates, about 10 KB: 4,000 of them stay under 50 MB. At 20,000 the
    cache grew RSS by 13 MiB per 1,000 new questions through a 10,000-question run.
    """
    from rag.language.nlp import parse_recent

    doc = parse_recent(sentence)
    spans: dict[tuple[int, int], dict[str, Any]] = {}

    def add(first: int, last: int, entity: bool = False, chunk: bool = False, quoted: bool = False) -> None:
        while last > first and doc[last].tag_ == "POS":  # "Wang Yi’s" -> "Wang Yi"
            last -= 1
        if last - first + 1 > MAX_TOKENS:
            return
        a, b = _trimmed(sentence, doc[first].idx, doc[last].idx + len(doc[last].text))
        if a >= b:
            return
        seen = spans.setdefault(
            (a, b), {"first": first, "last": last, "entity": False, "chunk": False, "quoted": False}
        )
        seen["entity"] |= entity
        seen["chunk"] |= chunk
        seen["quoted"] |= quoted

    for ent in doc.ents:
        add(ent.start, ent.end - 1, entity=True)
    for nc in doc.noun_chunks:
        add(nc.start, nc.end - 1, chunk=True)
        if nc.end - nc.start > 1 and doc[nc.start].pos_ == "DET":
            add(nc.start + 1, nc.end - 1, chunk=True)
    for tok in doc:
        if tok.pos_ in ("NOUN", "PROPN", "NUM") and tok.dep_ in ROLES:
            sub = list(tok.subtree)
            add(sub[0].i, sub[-1].i)
        if tok.like_num and tok.head.pos_ == "NOUN" and tok.head.i == tok.i + 1:
            add(tok.i, tok.head.i)  # "three days"
        if tok.like_num or (tok.shape_ == "dddd" and tok.is_digit):
            add(tok.i - 1 if tok.i and doc[tok.i - 1].tag_ == "$" else tok.i, tok.i)  # a year, "$40,000"
        if tok.dep_ in ("pcomp", "xcomp") and tok.pos_ == "VERB":
            sub = list(tok.subtree)
            if len(sub) <= 6:
                add(sub[0].i, sub[-1].i)  # "acquiring nutrients"
    for m in _QUOTED.finditer(sentence):  # what someone called it: “false alarm”
        a, b = m.span(1) if m.group(1) is not None else m.span(2)
        within = [t.i for t in doc if t.idx >= a and t.idx + len(t.text) <= b]
        if within:
            add(within[0], within[-1], quoted=True)
    for ent in doc.ents:  # "close to $40,000" -> "$40,000"
        lead = next((t.i for t in ent if t.pos_ in ("NUM", "PROPN", "NOUN", "SYM") or t.tag_ == "$"), ent.start)
        if lead > ent.start:
            add(lead, ent.end - 1, entity=True)
    ents = list(doc.ents)
    out = []
    for (a, b), s in sorted(spans.items()):
        root = doc[s["first"] : s["last"] + 1].root
        inside = (e.label_ for e in ents if e.start >= s["first"] and e.end - 1 <= s["last"])
        around = (e.label_ for e in ents if e.start <= s["first"] and e.end - 1 >= s["last"])  # "1943" of a date
        label = next(inside, "") or next(around, "")
        head = root.head.text.lower()
        out.append(Candidate(a, b, sentence[a:b], s["first"], s["last"], s["entity"], s["chunk"], label,
                             root.dep_, root.pos_, head, root.i, s["quoted"]))  # fmt: skip
    words = tuple(t.text.lower() for t in doc)
    return Reading(words, tuple(out), tuple(t.head.i for t in doc), tuple(t.pos_ for t in doc))


def _trimmed(sentence: str, a: int, b: int) -> tuple[int, int]:
    """``sentence[a:b]`` without punctuation at either end, keeping a quotation mark or bracket whose pair is inside.

    "a deliberate “false alarm”" keeps its closing mark; "Russia’s “legitimate" would show an
    opening mark with nothing to close it, so the closing mark that follows is taken in; so is
    the bracket of "Thursday (February 24".
    """
    m = _EDGE.search(sentence[a:b])
    while m is not None and a < b:  # punctuation at either end is not part of an answer
        a, b = (a + m.end(), b) if m.start() == 0 else (a, a + m.start())
        m = _EDGE.search(sentence[a:b])
    text = sentence[a:b]
    for opening, closing in _PAIRS:  # "Thursday (February 24" -> "Thursday (February 24)"
        if text.count(opening) > text.count(closing) and sentence[b : b + 1] == closing:
            b += 1
        elif text.count(closing) > text.count(opening) and a > 0 and sentence[a - 1] == opening:
            a -= 1
    return a, b


def _ancestors(heads: tuple[int, ...], i: int) -> list[int]:
    """``i`` and the tokens above it, up to the sentence's root."""
    out = [i]
    while 0 <= i < len(heads) and heads[i] != i and len(out) < 40:
        i = heads[i]
        out.append(i)
    return out


def _tree_distance(heads: tuple[int, ...], i: int, j: int) -> int:
    """Edges between tokens ``i`` and ``j`` in the parse (through their lowest common ancestor)."""
    up_i, up_j = _ancestors(heads, i), _ancestors(heads, j)
    depth_j = {t: d for d, t in enumerate(up_j)}
    return next((d + depth_j[t] for d, t in enumerate(up_i) if t in depth_j), 20)


@dataclass(frozen=True)
class Question:
    """What the features need of a question."""

    text: str
    words: frozenset[str]  # stemmed content words
    wh: str
    labels: frozenset[str]
    typed: bool
    focus: str  # the noun after "what"/"which" ("what team" -> team), stemmed
    slot_dep: str = ""  # the wh-phrase's role in the question ("What did Bach base …" -> dobj)
    governor: str = ""  # the word the wh-phrase hangs from (base), lower-cased


_WH = re.compile(r"\b(how many|how much|who|whom|whose|when|where|which|what|how|why)\b", re.I)
_FOCUS = re.compile(r"\b(?:what|which)\s+(?:kind|type|sort|form|name)?(?:\s+of\s+)?(\w+)", re.I)


@lru_cache(maxsize=2_000)
def question_of(text: str) -> Question:
    m = _WH.search(text)
    wh = m.group(1).lower() if m else ""
    wh = "who" if wh in ("whom", "whose") else wh
    typed = answer_labels(text)
    f = _FOCUS.search(text)
    focus = next(iter(terms(f.group(1))), "") if f else ""
    labels = typed[1] if typed else frozenset()
    return Question(text, term_set(text), wh, labels, typed is not None, focus, *_slot(text))


def _slot(text: str) -> tuple[str, str]:
    """The role of the phrase the question asks for, and the word it hangs from.

    The answer usually fills the same slot in the sentence: "What did Bach base entirely on
    chorales?" asks for the object of "base"; "How many troops did Russia mass?" for the
    object of "mass" (the wh-word climbs through "many" and "troops").
    """
    from rag.language.nlp import parse

    doc = parse(text)
    wh = next((t for t in doc if t.tag_ in ("WDT", "WP", "WP$", "WRB")), None)
    if wh is None:
        return "", ""
    slot = wh
    while slot.dep_ in ("advmod", "amod", "det", "nummod", "poss", "npadvmod") and slot.head.i != slot.i:
        if slot.dep_ == "advmod" and slot.head.pos_ in ("VERB", "AUX"):
            break  # "when/where/why": the slot is the verb's modifier itself
        slot = slot.head
    governor = slot.head.text.lower() if slot.head.i != slot.i else ""
    return slot.dep_, governor


def _same(a: str, b: str) -> bool:
    """The same word: equal, or sharing a stem (prepositions have no stem, so equality it is)."""
    return bool(a) and (a == b or bool(term_set(a) & term_set(b)))


@dataclass(frozen=True)
class Alignment:
    """Where a question's words fall in one sentence: found once, read by every candidate's features."""

    matched: tuple[int, ...]  # tokens sharing a stem with the question's words
    anchors: tuple[int, ...]  # tokens that are the word the question's wh-phrase hangs from
    coverage: float  # share of the question's words the sentence holds


def align(q: Question, reading: Reading) -> Alignment:
    words = reading.words
    matched = tuple(i for i, w in enumerate(words) if term_set(w) & q.words)
    anchors = tuple(i for i, w in enumerate(words) if _same(w, q.governor)) if q.governor else ()
    stems = {s for w in words for s in term_set(w)}
    return Alignment(matched, anchors, len(q.words & stems) / max(len(q.words), 1))


def features(q: Question, reading: Reading, c: Candidate, citation: int, aligned: Alignment) -> dict[str, float]:
    """What the model rates a candidate by (names are the columns of the fitted trees).

    ``aligned`` is ``align(q, reading)``, shared by the sentence's candidates.
    """
    cand_words = [w for w in reading.words[c.first : c.last + 1]]
    cand_stems = [s for w in cand_words for s in term_set(w)]
    overlap = sum(1 for s in cand_stems if s in q.words) / len(cand_stems) if cand_stems else 0.0
    matches = [i for i in aligned.matched if not c.first <= i <= c.last]
    dist = min((min(abs(i - c.first), abs(i - c.last)) for i in matches), default=40)
    near = len({reading.words[i] for i in matches if min(abs(i - c.first), abs(i - c.last)) <= 4})
    heads = reading.heads
    tree = min((_tree_distance(heads, c.root, i) for i in matches), default=20)
    verb = next((i for i in _ancestors(heads, c.root)[1:] if reading.pos[i] in ("VERB", "AUX")), -1)
    left = len({reading.words[i] for i in matches if 0 < c.first - i <= 4})
    right = len({reading.words[i] for i in matches if 0 < i - c.last <= 4})
    before = c.first > 0 and bool(term_set(reading.words[c.first - 1]) & q.words)
    after = c.last + 1 < len(reading.words) and bool(term_set(reading.words[c.last + 1]) & q.words)
    parent = heads[c.root]
    grand = heads[parent]
    anchor = min(aligned.anchors, key=lambda i: abs(i - c.root), default=-1)
    side = 0.0 if anchor < 0 else (1.0 if c.first > anchor else -1.0 if c.last < anchor else 0.5)
    words = reading.words[c.first : c.last + 1]
    attached = _attached(reading, c)
    out = {
        "slot_dep": float(bool(q.slot_dep) and c.dep == q.slot_dep),
        "slot_governor": float(_same(c.head, q.governor)),
        "slot_grand": float(grand != parent and _same(reading.words[grand], q.governor)),
        "governor_in_sentence": float(bool(aligned.anchors)),
        "subject_slot": float(q.slot_dep.startswith("nsubj") and c.dep.startswith("nsubj")),
        "governor_distance": float(_tree_distance(heads, c.root, anchor)) if anchor >= 0 else 20.0,
        "governor_side": side,
        "quoted": float(c.quoted),
        "approximate": float(bool(APPROXIMATE.intersection(words[:2]))),
        "attached_match": float(sum(1 for i in attached if i in aligned.matched)),
        "attached_other": float(
            sum(1 for i in attached if i not in aligned.matched and reading.pos[i] in ("PROPN", "NOUN", "ADJ"))
        ),
        "starts_with_det": float(words[0] in ("the", "a", "an", "this", "that", "these", "those", "its", "their")),
        "has_comma": float("," in words),
        "has_and": float("and" in words or "or" in words),
        "label_match": float(bool(c.label) and c.label in q.labels),
        "typed": float(q.typed),
        "entity": float(c.entity),
        "has_entity": float(bool(c.label)),
        "chunk": float(c.chunk),
        "number": float(any(ch.isdigit() for ch in c.text) or c.pos == "NUM"),
        "date": float(c.label in ("DATE", "TIME")),
        "overlap": overlap,
        "all_in_question": float(overlap == 1.0),
        "distance": float(min(dist, 40)),
        "near": float(near),
        "near_left": float(left),
        "near_right": float(right),
        "tree_distance": float(tree),
        "verb_in_question": float(verb >= 0 and bool(term_set(reading.words[verb]) & q.words)),
        "sentence_match": aligned.coverage,
        "question_words": float(len(q.words)),
        "before_match": float(before),
        "after_match": float(after),
        "head_in_question": float(bool(term_set(c.head) & q.words)),
        "focus_in": float(bool(q.focus) and q.focus in cand_stems),
        "tokens": float(c.last - c.first + 1),
        "position": c.first / max(len(reading.words), 1),
        "citation": float(citation),
        "candidates": float(len(reading.candidates)),
    }
    for label in LABELS:
        out[f"label_{label}"] = float(c.label == label)
    for r in ROLES:
        out[f"dep_{r}"] = float(c.dep == r)
    for p in POS:
        out[f"pos_{p}"] = float(c.pos == p)
    for w in WH:
        out[f"wh_{w.replace(' ', '_')}"] = float(q.wh == w)
    return out


def _attached(reading: Reading, c: Candidate) -> list[int]:
    """Words just outside the phrase that describe it: "Chinese Foreign Minister" of "Wang Yi".

    Tokens within four of the phrase whose head, or head's head, is the phrase's head.
    """
    heads = reading.heads
    near = [*range(max(c.first - 4, 0), c.first), *range(c.last + 1, min(c.last + 5, len(heads)))]
    return [i for i in near if c.root in (heads[i], heads[heads[i]])]


def relative(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """The rows of one answer's candidates, each with where it stands among the others.

    Trees rate one candidate at a time; "the closest to the question's words" or "the only
    phrase of the asked type" is a fact about the whole set, so it is added as features.
    """
    if not rows:
        return rows

    def rank(name: str, within: list[dict[str, float]]) -> dict[float, int]:
        return {v: i for i, v in enumerate(sorted({r[name] for r in within}))}

    typed = [r for r in rows if r["label_match"]]
    ranks = {n: rank(n, rows) for n in ("distance", "tree_distance", "governor_distance")}
    typed_rank = rank("distance", typed)
    most_near = max(r["near"] for r in rows)
    least_overlap = min(r["overlap"] for r in rows)
    for r in rows:
        r["distance_rank"] = float(ranks["distance"][r["distance"]])
        r["tree_rank"] = float(ranks["tree_distance"][r["tree_distance"]])
        r["governor_rank"] = float(ranks["governor_distance"][r["governor_distance"]])
        r["slot_candidates"] = float(sum(1 for o in rows if o["slot_dep"] and o["slot_governor"]))
        r["near_gap"] = most_near - r["near"]
        r["overlap_gap"] = r["overlap"] - least_overlap
        r["typed_candidates"] = float(len(typed))
        r["typed_rank"] = float(typed_rank[r["distance"]]) if r["label_match"] else 9.0
    return rows


@dataclass(frozen=True)
class ShortModel:
    """Ranking trees, the calibration of the top candidate's share, and the confidence threshold."""

    trees: ConfidenceModel
    threshold: float
    a: float  # P(exact) = sigmoid(a * logit(share) + b)
    b: float

    def confidences(self, rows: list[dict[str, float]]) -> list[float]:
        """Each candidate's calibrated confidence: its softmax share among ``rows`` (one answer's candidates)."""
        margins = self.trees.margins(rows)
        return [float(v) for v in calibrated(shares(margins), self.a, self.b)] if margins else []


def shares(margins: Sequence[float]) -> Any:
    """Softmax of one answer's candidate scores: each candidate's share of the answer."""
    import numpy as np

    z = np.asarray(margins, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def share_logit(share: Any) -> Any:
    """log(share / (1 - share)), kept finite: what the calibration is linear in."""
    import numpy as np

    s = np.clip(np.asarray(share, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(s / (1 - s))


def calibrated(share: Any, a: float, b: float) -> Any:
    """P(exactly right) of a top share: Platt scaling, ``sigmoid(a * logit(share) + b)``, fitted out of fold."""
    import numpy as np

    return 1.0 / (1.0 + np.exp(-(a * share_logit(share) + b)))


@lru_cache(maxsize=1)
def model() -> ShortModel | None:
    """The fitted trees and threshold, or None before ``bench/fit_short.py --write`` has run."""
    if not WEIGHTS.exists():
        return None
    raw = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    calibration = raw["calibration"]
    return ShortModel(
        ConfidenceModel.from_json(raw["model"]),
        float(raw["threshold"]),
        float(calibration["a"]),
        float(calibration["b"]),
    )


def rated(question: str, citations: tuple[Citation, ...], fitted: ShortModel) -> list[tuple[float, int, Candidate]]:
    """Every candidate of the cited quotes with its rating, best first."""
    q = question_of(question)
    found = []
    for i, citation in enumerate(citations[:2]):
        reading = read(citation.quote)
        aligned = align(q, reading)
        found += [(i, c, features(q, reading, c, i, aligned)) for c in reading.candidates]
    ratings = fitted.confidences(relative([f for *_, f in found]))
    out = [(p, i, c) for p, (i, c, _) in zip(ratings, found, strict=True)]
    out.sort(key=lambda t: (-t[0], t[2].last - t[2].first))
    return out


def short_answer(question: str, citations: tuple[Citation, ...]) -> ShortAnswer | None:
    """The phrase of the cited quotes that answers ``question``, or None when none is rated high enough."""
    fitted = model()
    if fitted is None or not citations:
        return None
    best = rated(question, citations, fitted)
    if not best or best[0][0] < fitted.threshold:
        return None
    score, i, c = best[0]
    cited = citations[i]
    return ShortAnswer(c.text, cited.source, cited.start + c.start, cited.start + c.end, score, i)
