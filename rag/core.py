"""One core behind the API, the CLI and the chat: ``build_index``, ``ask``, ``document_text``.

A question goes one way: ``Request.build`` checks the call's options once; the ``Engine`` (one
per corpus and settings) picks the answerer, which makes the question standalone; the evidence
is gathered once; the answerer turns it into an ``Answer``, verifying every quote against the
``DocumentSource``.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from typing_extensions import Unpack

from rag.answer.answering import Answerer, ExtractiveAnswerer, stream_pieces
from rag.answer.parts import combine, split_parts
from rag.errors import CorpusError, IndexBusyError, InputError, ReadOnlyError, StoreError
from rag.index.chroma import collection_name, forget_client
from rag.index.indexing import index_corpus
from rag.index.manifest import Manifest
from rag.index.store import IndexStore, damaged_store, folder_lock, looks_damaged, move_aside
from rag.ingest.documents import DocumentSource
from rag.ingest.loaders import check_corpus_path
from rag.language.embedding import Encoder, get_encoder
from rag.request import AskOptions, Request
from rag.retrieve.evidence import gather_evidence
from rag.retrieve.retrieval import Retriever
from rag.retrieve.scoring import SentenceScorer
from rag.settings import Settings, get_settings
from rag.types import Answer, Evidence, IndexReport

ASK_WAIT_SECONDS = 900.0  # how long a user's `rag index` waits for an ask that is indexing


class Engine:
    """Everything needed to answer over one corpus, built once per process and reused."""

    def __init__(self, corpus: Path, settings: Settings) -> None:
        self.corpus = corpus
        self.settings = settings
        self.encoder: Encoder = get_encoder(
            settings.embed_model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir
        )
        self.store = IndexStore(corpus, settings, self.encoder.model_id)
        self.documents = DocumentSource(corpus, settings)
        self.synced = False
        self._lock = threading.RLock()
        self._next_check = 0.0
        self.refresh(save=False)  # only a writer, holding the lock, saves a rebuilt BM25

    def refresh(self, save: bool = True) -> None:
        """Reload the manifest and BM25 after the index changed (``save`` only under the write lock)."""
        with self._lock:
            self._state = self.store.state()
            self.manifest = self.store.load_manifest()
            bm25 = self.store.bm25(self.manifest, save=save)
            self.retriever = Retriever(self.store, self.encoder, bm25, self.settings)

    def follow(self) -> None:
        """Pick up what another process (or another machine on a Chroma server) indexed.

        Polled before each answer; a reload that had to rebuild BM25 waits ten times its own
        duration before the next check, so a long foreign indexing run costs readers little.
        """
        now = time.monotonic()
        if now < self._next_check:
            return
        with self._lock:
            self._sync()
            self._next_check = time.monotonic() + max(1.0, 10 * (time.monotonic() - now))

    def _sync(self) -> None:
        if self.store.state() != self._state:
            self.store.reconnect()
            self.refresh(save=False)
            self.documents.forget()  # another process indexed: quotes are checked against the files now

    def current_manifest(self) -> Manifest:
        """The manifest as saved now, kept in memory and reloaded only when it changed.

        Reading the file for every request cost 1.2 s a call at 80,000 documents.
        """
        with self._lock:
            self._sync()
            return self.manifest

    def index(self, progress: bool = False, rehash: bool = False, kind: str = "index") -> IndexReport:
        """Bring the index up to date. A user's run (``kind="index"``) waits for an ``ask`` that is
        already doing so, rather than failing as busy."""
        wait = ASK_WAIT_SECONDS if kind == "index" else 0.0
        with damaged_store(self.settings.index_dir), self._lock, self.store.write_lock(kind, wait):
            if self.store.state() != self._state:
                # Another process wrote since we opened the database: write on a fresh view of
                # it, or this process's stale vector segment would hide that process's chunks.
                self.store.reconnect()
            report = index_corpus(self.store, self.encoder, progress=progress, rehash=rehash)
            self.refresh()
            self.synced = True
            return report

    def title(self, source: str) -> str:
        """The title of an indexed document ("" when the index does not hold it)."""
        entry = self.manifest.documents.get(source)
        return entry.title if entry is not None else ""

    def ensure_indexed(self) -> None:
        """Index the corpus on first use in this process (incremental, so cheap when current)."""
        if self.synced:
            return
        try:
            report = self.index(kind="ask")
            if report.units_made or report.upgraded_from:  # once per index: say what changed
                print(f"rag: {report.upgrade_notice()}", file=sys.stderr)
        except (IndexBusyError, ReadOnlyError):
            if not self.manifest.documents:
                raise
            self.synced = True  # another process is updating it, or nobody may: answer from what is there
        except StoreError as err:
            if not self.manifest.documents or not str(err).startswith("no space left"):
                raise
            self.synced = True  # the disk is full: the last complete index still answers

    def answer(self, request: Request) -> Iterator[str | Answer]:
        """Yield pieces of text as the answer is written, then the finished, verified Answer.

        A question with several asks is answered part by part (``rag.answer.parts``); a later part may
        refer to an earlier one ("Who is the spokesman and what did he say?").
        """
        self._check_sources(request)
        parts = split_parts(request.question)
        if len(parts) == 1:
            yield from self._answer_one(request)
            return
        answers: list[Answer] = []
        for i, part in enumerate(parts):
            last = answers[-1].text if answers else request.last_answer
            turn = replace(request, question=part, history=(*request.history, *parts[:i]), last_answer=last)
            answers.append(final_answer(self._answer_one(turn)))
        answer = combine(request.question, parts, answers)
        yield from stream_pieces(answer.text)
        yield answer

    def _check_sources(self, request: Request) -> None:
        """An ``InputError`` for a document the request names that the index does not hold."""
        unknown = [s for s in request.sources if s not in self.manifest.documents]
        if unknown and not self.synced:
            with damaged_store(self.settings.index_dir):
                self.ensure_indexed()  # a document added since the last run is asked for by name
            unknown = [s for s in request.sources if s not in self.manifest.documents]
        if unknown:
            raise InputError(f"no document {unknown[0]!r} in the index of {self.corpus}")

    def _ready(self) -> Retriever:
        """The retriever of an index brought up to date, having seen what other processes wrote."""
        self.ensure_indexed()
        self.follow()
        with self._lock:
            return self.retriever

    def evidence(self, request: Request) -> Evidence:
        """What retrieval finds for the request's question: passages and scored sentences, no answer."""
        self._check_sources(request)
        with damaged_store(self.settings.index_dir):
            return gather_evidence(self._ready(), request, request.question)

    def _answer_one(self, request: Request) -> Iterator[str | Answer]:
        with damaged_store(self.settings.index_dir):
            retriever = self._ready()
            answerer = make_answerer(request, self.settings, retriever.scorer)
            query = answerer.standalone_query(request.question, request.history, request.last_answer)
            evidence = gather_evidence(retriever, request, query)
        for item in answerer.answer(evidence, self.documents):
            yield with_short(item) if isinstance(item, Answer) else item


def with_short(answer: Answer) -> Answer:
    """``answer`` with the phrase of its quotes that answers the question (``rag.answer.short_answer``)."""
    if answer.abstained or not answer.citations or answer.short is not None:
        return answer  # the reader's answer comes with its span
    from rag.answer.short_answer import short_answer

    return replace(answer, short=short_answer(answer.query, answer.citations))


def make_answerer(request: Request, settings: Settings, scorer: SentenceScorer) -> Answerer:
    """The strategy that writes the answer: extractive, or an LLM checked against the evidence."""
    if request.answerer == "extractive":
        if settings.reader:
            from rag.answer.reading import ReadingAnswerer

            return ReadingAnswerer(bar=settings.min_confidence)
        return ExtractiveAnswerer.for_request(request, settings)
    from rag.answer.generation import LLMAnswerer  # LLM clients load only when an LLM is asked for

    return LLMAnswerer(request, settings, scorer)


_engines: dict[tuple[str, Settings], Engine] = {}
_engines_lock = threading.Lock()


def get_engine(corpus: str | Path | None = None, settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    path = check_corpus_path(Path(corpus) if corpus is not None else settings.corpus)
    key = (str(path), settings)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            with damaged_store(settings.index_dir):
                engine = _engines[key] = Engine(path, settings)
        return engine


def rebuild_index(
    corpus: str | Path | None = None, *, settings: Settings | None = None, progress: bool = False
) -> tuple[Path | None, IndexReport]:
    """Build a new embedded index of ``corpus`` beside the old one, then swap them.

    The way out of a damaged index. The old folder's writer lock is held throughout, so another
    ``rag index`` is told the index is busy; readers (a running server) keep answering from the
    old index until the new one is complete, then follow the swap. The old folder is moved to
    ``<index_dir>.damaged-<time>`` when its database fails SQLite's check, else to
    ``<index_dir>.previous-<time>`` (kept, never deleted); returns where it went, and the report.
    """
    settings = settings or get_settings()
    if settings.chroma_url:
        raise StoreError("--rebuild works on the embedded index; on a Chroma server, delete the collection there")
    path = check_corpus_path(Path(corpus) if corpus is not None else settings.corpus)
    index_dir = settings.index_dir
    staging = index_dir.with_name(f"{index_dir.name}.rebuilding")
    with folder_lock(index_dir / collection_name(path, settings), str(path)):
        shutil.rmtree(staging, ignore_errors=True)  # what an interrupted rebuild left: never the index
        fresh = settings.model_copy(update={"index_dir": staging})
        try:
            report = Engine(path, fresh).index(progress=progress)
        finally:
            forget_client(staging / "chroma")
        moved = move_aside(index_dir, "damaged" if looks_damaged(index_dir) else "previous")
        os.replace(staging, index_dir)
    with _engines_lock:
        _engines.clear()  # every engine of this process held the old folder open
    forget_client(index_dir / "chroma")
    return moved, report


def build_index(
    corpus: str | Path | None = None, *, settings: Settings | None = None, progress: bool = False, rehash: bool = False
) -> IndexReport:
    """Index ``corpus`` incrementally and report what changed.

    A file is re-read when its size, modification or change time differ from the last run;
    ``rehash`` re-reads and hashes every file (re-embedding only those whose text changed).

    >>> build_index("corpus/")  # doctest: +SKIP
    IndexReport(added=('000_3090de67739d6d38.txt', ...), ...)
    """
    return get_engine(corpus, settings).index(progress=progress, rehash=rehash)


def index_before_serving(corpus: str | Path | None = None, settings: Settings | None = None) -> str:
    """Bring the index up to date before a face serves it; one line saying what was done.

    A face never fails to start because another process holds the writer lock (another face
    starting on the same corpus, a ``rag index``): it answers from the index as it is, and
    follows that process's work as it lands. Only an empty index it cannot build is an error.
    """
    engine = get_engine(corpus, settings)
    try:
        return engine.index().summary()
    except (IndexBusyError, ReadOnlyError) as err:
        if not engine.manifest.documents:
            raise
        engine.synced = True
        why = "the index is read-only" if isinstance(err, ReadOnlyError) else "another process is indexing"
        return f"{why}: answering from the index as it is ({len(engine.manifest.documents)} documents)"


def ready_to_serve(corpus: str | Path | None = None, settings: Settings | None = None) -> str:
    """What every face does before it serves: index if needed, then load the models, so the first
    question answers as fast as the next. One line saying how the indexing went."""
    line = index_before_serving(corpus, settings)
    warm_up(corpus, settings)
    return line


def ask_stream(
    question: str,
    corpus: str | Path | None = None,
    *,
    history: Sequence[str | Sequence[str]] = (),
    settings: Settings | None = None,
    **options: Unpack[AskOptions],
) -> Iterator[str | Answer]:
    """Answer ``question`` from ``corpus``, yielding text as it is written, then the finished Answer.

    ``history`` holds the earlier turns of a conversation, as questions or ``[question, answer]``
    pairs: a follow-up such as "What did he say about it?" is rewritten to name who and what
    (``rag.answer.conversation``), and a person only the last answer named can be who. ``options`` are ``mode``
    (dense, bm25, hybrid), ``top_k``, ``max_sentences``, ``answerer`` (extractive, openai,
    llamacpp) and ``strict``; each defaults to the setting of the same name. Bad options raise
    ``InputError`` here, before any work.
    """
    settings = settings or get_settings()
    request = Request.build(question, settings, history, options)
    return get_engine(corpus, settings).answer(request)


def search(
    query: str, corpus: str | Path | None = None, *, settings: Settings | None = None, **options: Unpack[AskOptions]
) -> Evidence:
    """The passages retrieval finds for ``query``, best first, without writing an answer.

    What a search tool returns: the same retrieval as ``ask`` (same ``options``), without the
    answer's verification, confidence and short answer. ``Evidence.passages`` holds them.
    """
    settings = settings or get_settings()
    return get_engine(corpus, settings).evidence(Request.build(query, settings, (), options))


def warm_up(corpus: str | Path | None = None, settings: Settings | None = None) -> None:
    """Pay every first-use cost (model session, BM25, spaCy pipeline, lease) before a user asks.

    A server calls it after indexing, so its first answer starts as fast as its hundredth.
    """
    from rag.language.nlp import parse

    settings = settings or get_settings()
    final_answer(get_engine(corpus, settings).answer(Request.build("Who is named in these documents?", settings)))
    parse("What did he say about it?")  # the parser runs once, even if the warm-up question is refused


def final_answer(stream: Iterator[str | Answer]) -> Answer:
    """The Answer at the end of an answer stream (the text pieces before it are for chat UIs)."""
    answer = None
    for item in stream:
        if isinstance(item, Answer):
            answer = item
    if answer is None:
        raise RuntimeError("answer stream ended without an answer")
    return answer


def ask(
    question: str,
    corpus: str | Path | None = None,
    *,
    history: Sequence[str | Sequence[str]] = (),
    settings: Settings | None = None,
    **options: Unpack[AskOptions],
) -> Answer:
    """Answer ``question`` from ``corpus`` with verbatim, span-exact citations.

    Takes what ``ask_stream`` takes and returns its final ``Answer``.

    >>> a = ask("Who is the Chinese Embassy spokesman?", corpus="corpus/")  # doctest: +SKIP
    >>> a.citations[0].source, a.citations[0].quote  # doctest: +SKIP
    ('001_a1832f6365ab849e.txt', 'Chinese Embassy spokesman Liu Pengyu said ...')
    >>> ask("When did Biden and Xi meet?", mode="bm25", top_k=3).abstained  # doctest: +SKIP
    False
    """
    return final_answer(ask_stream(question, corpus, history=history, settings=settings, **options))


def document_text(source: str, corpus: str | Path | None = None, *, settings: Settings | None = None) -> str:
    """The extracted text of one document, the text citation offsets index."""
    text = get_engine(corpus, settings).documents.text(source)
    if text is None:
        raise CorpusError(f"no readable document {source!r} in corpus {corpus}")
    return text
