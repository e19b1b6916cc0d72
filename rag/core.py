"""One core behind the API, the CLI and the chat: ``build_index``, ``ask``, ``document_text``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.answering import extractive_answer, stream_pieces
from rag.conversation import standalone_query
from rag.embedding import Encoder, get_encoder
from rag.errors import CorpusError, IndexBusyError, InputError, LoadError
from rag.generation import generate_answer
from rag.indexing import index_corpus
from rag.loaders import check_corpus_path, is_jsonl_corpus, iter_jsonl, read_file
from rag.retrieval import Retriever
from rag.settings import ANSWERERS, MODES, AnswererName, Mode, Settings, get_settings
from rag.store import IndexStore
from rag.types import Answer, Document, IndexReport


class Engine:
    """Everything needed to answer over one corpus, built once per process and reused."""

    def __init__(self, corpus: Path, settings: Settings) -> None:
        self.corpus = corpus
        self.settings = settings
        self.encoder: Encoder = get_encoder(
            settings.embed_model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir
        )
        self.store = IndexStore(corpus, settings, self.encoder.model_id)
        self.synced = False
        self._lock = threading.RLock()
        self._texts: dict[str, tuple[tuple[int, int], str]] = {}
        self._jsonl: tuple[tuple[int, int], dict[str, Document]] | None = None
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
            if self.store.state() != self._state:
                self.store.reconnect()
                self.refresh(save=False)
            self._next_check = time.monotonic() + max(1.0, 10 * (time.monotonic() - now))

    def index(self, progress: bool = False) -> IndexReport:
        with self._lock, self.store.write_lock():
            if self.store.state() != self._state:
                # Another process wrote since we opened the database: write on a fresh view of
                # it, or this process's stale vector segment would hide that process's chunks.
                self.store.reconnect()
            report = index_corpus(self.store, self.encoder, progress=progress)
            self.refresh()
            self.synced = True
            return report

    def ensure_indexed(self) -> None:
        """Index the corpus on first use in this process (incremental, so cheap when current)."""
        if self.synced:
            return
        try:
            self.index()
        except IndexBusyError:
            if not self.manifest.documents:
                raise
            self.synced = True  # another process is updating it; answer from what is there

    def document_text(self, source: str) -> str | None:
        """The text that offsets of ``source`` index, as the loader extracts it now."""
        if is_jsonl_corpus(self.corpus):
            st = self.corpus.stat()
            stamp = (st.st_size, st.st_mtime_ns)
            if self._jsonl is None or self._jsonl[0] != stamp:
                docs = {d.source: d for d in iter_jsonl(self.corpus) if isinstance(d, Document)}
                self._jsonl = (stamp, docs)
            doc = self._jsonl[1].get(source)
            return doc.text if doc else None
        path = (self.corpus / source).resolve()
        if not path.is_relative_to(self.corpus):
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_size, st.st_mtime_ns)
        cached = self._texts.get(source)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            text = read_file(path, source, self.settings.max_file_bytes, self.settings.max_file_seconds).text
        except LoadError:
            return None
        self._texts[source] = (stamp, text)
        return text

    def ask(
        self,
        question: str,
        mode: Mode,
        top_k: int,
        history: Sequence[str] = (),
        max_sentences: int | None = None,
        answerer: AnswererName = "extractive",
    ) -> Answer:
        return final_answer(self.ask_stream(question, mode, top_k, history, max_sentences, answerer))

    def ask_stream(
        self,
        question: str,
        mode: Mode,
        top_k: int,
        history: Sequence[str] = (),
        max_sentences: int | None = None,
        answerer: AnswererName = "extractive",
    ) -> Iterator[str | Answer]:
        """Yield pieces of text as the answer is written, then the finished, verified Answer."""
        self.ensure_indexed()
        self.follow()
        with self._lock:
            retriever = self.retriever
        settings = self.settings
        if max_sentences is not None:
            settings = settings.model_copy(update={"max_sentences": max_sentences})
        if answerer == "extractive":
            q = retriever.query(standalone_query(question, history))
            passages = retriever.retrieve(q, mode, max(top_k, settings.candidates))
            answer = extractive_answer(
                question, q, passages[:top_k], retriever, settings, self.document_text, mode, related=tuple(passages)
            )
            yield from stream_pieces(answer.text)
            yield answer
            return
        yield from generate_answer(self, retriever, settings, question, mode, top_k, history, answerer)


def final_answer(stream: Iterator[str | Answer]) -> Answer:
    """The Answer at the end of an answer stream (the text pieces before it are for chat UIs)."""
    answer = None
    for item in stream:
        if isinstance(item, Answer):
            answer = item
    if answer is None:
        raise RuntimeError("answer stream ended without an answer")
    return answer


_engines: dict[tuple[str, Settings], Engine] = {}
_engines_lock = threading.Lock()


def get_engine(corpus: str | Path | None = None, settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    path = check_corpus_path(Path(corpus) if corpus is not None else settings.corpus)
    key = (str(path), settings)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = Engine(path, settings)
        return engine


def build_index(
    corpus: str | Path | None = None, *, settings: Settings | None = None, progress: bool = False
) -> IndexReport:
    """Index ``corpus`` incrementally and report what changed.

    >>> build_index("corpus/")  # doctest: +SKIP
    IndexReport(added=('000_3090de67739d6d38.txt', ...), ...)
    """
    return get_engine(corpus, settings).index(progress=progress)


def validate_question(question: object, settings: Settings) -> str:
    if not isinstance(question, str):
        raise InputError("question must be a string")
    text = question.strip()
    if not text:
        raise InputError("question is empty")
    if len(text) > settings.max_question_chars:
        raise InputError(f"question is too long ({len(text)} characters; the limit is {settings.max_question_chars})")
    return text


def _validated(
    question: str,
    mode: Mode | None,
    top_k: int | None,
    max_sentences: int | None,
    answerer: str | None,
    settings: Settings,
) -> tuple[str, Mode, int, AnswererName]:
    text = validate_question(question, settings)
    mode = mode or settings.mode
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    top_k = top_k or settings.top_k
    if not 1 <= top_k <= 50:
        raise InputError(f"top_k must be between 1 and 50, not {top_k}")
    if max_sentences is not None and not 1 <= max_sentences <= 10:
        raise InputError(f"max_sentences must be between 1 and 10, not {max_sentences}")
    answerer = answerer or settings.answerer
    if answerer not in ANSWERERS:
        raise InputError(f"unknown answerer {answerer!r}; choose one of {', '.join(ANSWERERS)}")
    return text, mode, top_k, answerer  # type: ignore[return-value]


def ask(
    question: str,
    corpus: str | Path | None = None,
    mode: Mode | None = None,
    top_k: int | None = None,
    *,
    history: Sequence[str] = (),
    max_sentences: int | None = None,
    answerer: AnswererName | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Answer ``question`` from ``corpus`` with verbatim, span-exact citations.

    ``history`` holds the earlier questions of a conversation: a follow-up such as
    "And when did that happen?" is retrieved together with the last of them.
    ``answerer`` picks who writes the answer (default ``settings.answerer``: extractive).

    >>> a = ask("Who is the Chinese Embassy spokesman?", corpus="corpus/")  # doctest: +SKIP
    >>> a.citations[0].source, a.citations[0].quote  # doctest: +SKIP
    ('001_a1832f6365ab849e.txt', 'Chinese Embassy spokesman Liu Pengyu said ...')
    """
    stream = ask_stream(
        question,
        corpus,
        mode,
        top_k,
        history=history,
        max_sentences=max_sentences,
        answerer=answerer,
        settings=settings,
    )
    return final_answer(stream)


def ask_stream(
    question: str,
    corpus: str | Path | None = None,
    mode: Mode | None = None,
    top_k: int | None = None,
    *,
    history: Sequence[str] = (),
    max_sentences: int | None = None,
    answerer: AnswererName | None = None,
    settings: Settings | None = None,
) -> Iterator[str | Answer]:
    """Like ``ask``, but yields text as it is written, then the finished Answer (for chat UIs)."""
    settings = settings or get_settings()
    text, mode, top_k, answerer = _validated(question, mode, top_k, max_sentences, answerer, settings)
    return get_engine(corpus, settings).ask_stream(text, mode, top_k, history, max_sentences, answerer)


def document_text(source: str, corpus: str | Path | None = None, *, settings: Settings | None = None) -> str:
    """The extracted text of one document, the text citation offsets index."""
    text = get_engine(corpus, settings).document_text(source)
    if text is None:
        raise CorpusError(f"no readable document {source!r} in corpus {corpus}")
    return text
