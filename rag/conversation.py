"""Follow-up questions: rewrite "And when did that happen?" into a query that stands alone."""

from __future__ import annotations

import re
from collections.abc import Sequence

_REFERRING = re.compile(
    r"\b(he|she|it|its|they|them|their|theirs|him|his|her|hers|that|this|those|these|there|then|"
    r"the same|such|former|latter|one)\b",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(r"^\s*(and|also|but|so|what about|how about)\b", re.IGNORECASE)
_WORD = re.compile(r"\w+")


def is_followup(question: str) -> bool:
    """Heuristic: refers back (pronouns, 'that'), continues ('And ...'), or is too short to stand alone."""
    words = _WORD.findall(question)
    if len(words) <= 3:
        return True
    return bool(_REFERRING.search(question) or _CONTINUATION.match(question))


def standalone_query(question: str, history: Sequence[str] = ()) -> str:
    """The query to retrieve with: the question, preceded by the last question when it is a follow-up.

    Deterministic and model-free, so the rewritten query can be shown to the user as is.
    """
    earlier = [h.strip() for h in history if h and h.strip()]
    if not earlier or not is_followup(question):
        return question
    return f"{earlier[-1]} {question}"
