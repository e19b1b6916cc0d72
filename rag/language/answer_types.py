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
    r"|\b(jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\."
    r"|\b\d{1,2}(:\d{2})?\s?(am|pm|a\.m\.|p\.m\.)|\b\d{1,2}:\d{2}\b|\b(noon|midnight|o'clock)\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    "hundred|thousand|million|billion|trillion|dozen|half|percent"
)
_NUMBER = re.compile(rf"\b\d[\d,.]*\b|\b({_NUMBER_WORDS})\b", re.IGNORECASE)
_CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]+")
_WORD = re.compile(r"\w+")

# Measures a "what is the X of …" question asks for as a number; both tables below read them.
_MEASURES = "height|length|distance|weight|depth|width|speed"

_TYPES = (
    ("date", re.compile(r"^\s*(when\b|what (year|years|date|day|month|century|decade|time|era|period)\b|in (what|which) (year|century|decade|month))", re.I)),
    ("number", re.compile(rf"\b(how (many|much|long|far|old|large|big|tall|high|often|fast|wide|deep|heavy)|what ((is|was|are|were) the )?(percentage|percent|number|amount|proportion|fraction|size|population|cost|price)|what (is|was|are|were) the ({_MEASURES}|budget|revenue|value) of)\b", re.I)),
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


ROLES = (  # words for a person by their role (shared with rag.answer.conversation)
    "spokesman|spokeswoman|spokesperson|minister|president|secretary|ambassador|director|leader|official|"
    "chief|chairman|chair|head|king|queen|emperor|author|writer|founder|ceo|coach|player|actor|singer|"
    "scientist|engineer|architect|commander|general|governor|mayor|senator|judge|priest|bishop|pope|"
    "wife|husband|son|daughter|father|mother|brother|sister|man|woman|person|inventor|composer|painter"
)

# Finer answer types for the confidence model, by the entity labels (spaCy, OntoNotes) that can
# answer them. First match wins, so the specific patterns come before the general ones.
_LABELS = (
    ("time", re.compile(r"\b(what|which) time\b|\bat what (time|hour)\b", re.I), {"TIME"}),
    ("duration", re.compile(r"\bhow long\b|\bfor how many (years|months|weeks|days|hours|minutes)\b", re.I),
     {"DATE", "TIME", "QUANTITY", "CARDINAL"}),
    ("percent", re.compile(r"\bwhat ((is|was|are|were) the )?(percentage|percent|proportion|share|fraction)\b", re.I),
     {"PERCENT", "CARDINAL", "QUANTITY"}),
    ("money", re.compile(r"\bhow much\b|\bwhat (was|is|were|are) the (cost|price|budget|value|revenue)\b", re.I),
     {"MONEY", "QUANTITY", "CARDINAL", "PERCENT"}),
    ("date", re.compile(r"^\s*when\b|\bwhat (year|date|day|month|century|decade|era|period)\b|"
                        r"\bin (what|which) (year|century|decade|month)\b", re.I), {"DATE", "TIME"}),
    ("number", re.compile(r"\bhow (many|old|far|large|big|tall|high|often|fast|wide|deep|heavy)\b|"
                          r"\bwhat ((is|was|are|were) the )?(number|amount|size|population)\b|"
                          rf"\bwhat (is|was|are|were) the ({_MEASURES}) of\b", re.I),
     {"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "DATE", "ORDINAL"}),
    ("organisation", re.compile(r"\b(what|which) (company|organi[sz]ation|team|party|university|school|group|"
                                r"agency|band|club|newspaper|network|firm)\b", re.I), {"ORG"}),
    ("place", re.compile(r"^\s*where\b|\b(what|which) (country|city|state|place|region|continent|town|nation|"
                         r"location|river|island|county|province|area)\b", re.I), {"GPE", "LOC", "FAC"}),
    ("person", re.compile(r"^\s*(who|whom|whose)\b|\b(who|whom|whose) (is|was|were|are|did|does)\b|"
                          rf"\bwhat (is|was) the name of (the |a |an )?([\w-]+ ){{0,3}}({ROLES})\b", re.I),
     {"PERSON", "ORG", "NORP"}),
    ("name", re.compile(r"\bwhat (is|was|were|are) the names? of\b", re.I),
     {"PERSON", "ORG", "NORP", "GPE", "LOC", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}),
)  # fmt: skip


@lru_cache(maxsize=50_000)
def answer_labels(question: str) -> tuple[str, frozenset[str]] | None:
    """The question's answer type and the entity labels that can answer it, or None."""
    for name, pattern, labels in _LABELS:
        if pattern.search(question):
            return name, frozenset(labels)
    return None
