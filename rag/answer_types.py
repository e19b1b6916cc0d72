"""Expected answer type of a question, and whether a sentence offers an answer of that type.

A sentence that restates the question but holds no date for a "when" question, no number for a
"how many" question or no new name for a "who" question is unlikely to answer it. This cheap
signal complements the dense and lexical scores in sentence selection.
"""

from __future__ import annotations

import re
from functools import lru_cache

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(
    rf"\b(1\d{{3}}|20\d{{2}}|\d{{1,2}}(st|nd|rd|th)? century|{_MONTHS}|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|\d{1,2}s|\d{4}s)\b"
    r"|\b(jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    "hundred|thousand|million|billion|trillion|dozen|half|percent"
)
_NUMBER = re.compile(rf"\b\d[\d,.]*\b|\b({_NUMBER_WORDS})\b", re.IGNORECASE)
_CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]+")
_WORD = re.compile(r"\w+")

_TYPES = (
    ("date", re.compile(r"^\s*(when\b|what (year|years|date|day|month|century|decade|time|era|period)\b|in (what|which) (year|century|decade|month))", re.I)),
    ("number", re.compile(r"\b(how (many|much|long|far|old|large|big|tall|high|often|fast|wide|deep|heavy)|what (percentage|percent|number|amount|proportion|fraction|size|population|cost|price))\b", re.I)),
    ("name", re.compile(r"^\s*(who|whom|whose)\b|\b(who|whom|whose) (is|was|were|are|did|does)\b", re.I)),
    ("place", re.compile(r"^\s*where\b|\b(what|which) (country|city|state|place|region|continent|town|nation|location)\b", re.I)),
)  # fmt: skip


@lru_cache(maxsize=50_000)
def question_type(question: str) -> str | None:
    """One of date, number, name, place, or None when the question does not say."""
    for name, pattern in _TYPES:
        if pattern.search(question):
            return name
    return None


def offers_type(sentence: str, qtype: str | None, question: str) -> bool:
    """True when ``sentence`` holds a candidate of ``qtype`` that the question itself lacks."""
    if qtype is None:
        return False
    q_words = {w.lower() for w in _WORD.findall(question)}
    if qtype == "date":
        return any(m.group(0).lower() not in q_words for m in _DATE.finditer(sentence))
    if qtype == "number":
        return any(m.group(0).lower() not in q_words for m in _NUMBER.finditer(sentence))
    # name / place: a capitalised word (not sentence-initial) the question does not contain
    return any(m.group(0).lower() not in q_words for m in _CAPITALIZED.finditer(sentence))
