"""Questions with several asks, answered part by part.

"What did Sushant Sareen say, and how much in arms has the US supplied?" asks two things that
live in two documents; retrieving for the whole question found one at best. A question is cut
where a new question starts: after a "?" followed by more text, or at ", and" / "and" followed
by a question word or an auxiliary, maybe after a preposition ("and how much", "and did",
"and in what year"). Each part is answered on its own
(its own evidence, its own cited sentence, or its own "the corpus does not say"), and the
answers are joined with their citations renumbered.
"""

from __future__ import annotations

import re
from dataclasses import replace

from rag.answer.answering import ABSTAIN_TEXT
from rag.types import Answer, Citation, ShortAnswer

_WH = r"who|whom|whose|what|when|where|which|why|how|did|does|do|is|are|was|were|has|have|had|can|could|will|would"
_PREP = r"(?:(?:in|on|at|for|from|to|by|with|since|until|during)\s+)?"  # "and in what year"
_JOINT = re.compile(rf"(?:,\s*|\s+)(?:and|but|also)\s+(?={_PREP}(?:{_WH})\b)|(?<=\?)\s+(?=\S)", re.IGNORECASE)
_MARKER = re.compile(r"\[(\d+)\]")
MIN_WORDS = 3


def split_parts(question: str) -> list[str]:
    """The asks of ``question``, each a question of at least three words; one part when it is one."""
    pieces = [p.strip(" ,;") for p in _JOINT.split(question)]
    parts = [p for p in pieces if p]
    if len(parts) < 2 or any(len(re.findall(r"\w+", p)) < MIN_WORDS for p in parts):
        return [question]
    return [(p[:1].upper() + p[1:]) + ("" if p.endswith("?") else "?") for p in parts]


def combine(question: str, parts: list[str], answers: list[Answer]) -> Answer:
    """One answer from the answers to each of ``question``'s ``parts`` (``split_parts``'s):
    texts in order, citations renumbered.

    An unanswered part says so in its place. The confidence is the product of the answered
    parts' (the chance that every quoted part is right, taken as independent); an answer with
    no part answered is an abstention.
    """
    texts: list[str] = []
    citations: list[Citation] = []
    shorts: list[ShortAnswer | None] = []
    for part, answer in zip(parts, answers, strict=True):
        if answer.abstained:
            texts.append(f"“{part}” {ABSTAIN_TEXT.split('.')[0]}.")
            shorts.append(None)
            continue
        offset = len(citations)
        texts.append(_MARKER.sub(lambda m, o=offset: f"[{int(m.group(1)) + o}]", answer.text))  # type: ignore[misc]
        citations.extend(answer.citations)
        short = answer.short
        shorts.append(replace(short, citation=short.citation + offset) if short is not None else None)
    answered = [a for a in answers if not a.abstained]
    confidence = 1.0
    for a in answered or answers:
        confidence *= a.confidence
    passages = tuple(dict.fromkeys(p for a in answers for p in a.passages))
    evidence = replace(
        answers[0].evidence, question=question, query=" | ".join(a.query for a in answers), passages=passages
    )
    if not answered:
        return Answer(ABSTAIN_TEXT, True, (), evidence, answers[0].answerer, confidence=confidence)
    notices = "; ".join(dict.fromkeys(a.notice for a in answers if a.notice))
    return Answer(
        "\n\n".join(texts),
        False,
        tuple(citations),
        evidence,
        answers[0].answerer,
        notice=notices,
        unsupported_sentences=tuple(s for a in answers for s in a.unsupported_sentences),
        generated_sentences=sum(a.generated_sentences for a in answers),
        confidence=confidence,
        part_shorts=tuple(shorts) if any(shorts) else (),
    )
