"""The generative answerer: an LLM writes, then every sentence is checked against its citation.

Whatever goes wrong with the LLM (down, timeout, empty reply, nothing supported in strict mode)
the user gets the extractive answer with a one-line notice saying why, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rag.answering import ABSTAIN_TEXT, extractive_answer, stream_pieces
from rag.conversation import is_followup, standalone_query
from rag.grounding import ground, is_refusal
from rag.llm import LLMError, get_backend
from rag.prompts import load_prompts
from rag.retrieval import Retriever
from rag.settings import AnswererName, Mode, Settings
from rag.types import Answer, Passage

if TYPE_CHECKING:
    from rag.core import Engine


def _rewrite(backend, prompts, question: str, history: Sequence[str]) -> str:  # type: ignore[no-untyped-def]
    """A follow-up made standalone by the LLM; the deterministic rewrite if the LLM fails."""
    if not history or not is_followup(question):
        return question
    try:
        text = "".join(backend.stream([("user", prompts.rewrite_message(question, list(history)))])).strip()
    except LLMError:
        text = ""
    line = text.splitlines()[0].strip() if text else ""
    return line if 3 < len(line) <= 500 else standalone_query(question, history)


def _fallback(
    engine: Engine,
    retriever: Retriever,
    settings: Settings,
    question: str,
    query: str,
    mode: Mode,
    top_k: int,
    answerer: str,
    notice: str,
    unsupported: tuple[str, ...] = (),
    generated: int = 0,
) -> Iterator[str | Answer]:
    q = retriever.query(query)
    passages = retriever.retrieve(q, mode, max(top_k, settings.candidates))
    base = extractive_answer(
        question, q, passages[:top_k], retriever, settings, engine.document_text, mode, related=tuple(passages)
    )
    answer = Answer(
        base.question,
        base.text,
        base.abstained,
        base.citations,
        base.passages,
        mode,
        base.query,
        unsupported,
        f"extractive (fallback from {answerer})",
        notice,
        generated,
    )
    yield from stream_pieces(answer.text)
    yield answer


def generate_answer(
    engine: Engine,
    retriever: Retriever,
    settings: Settings,
    question: str,
    mode: Mode,
    top_k: int,
    history: Sequence[str],
    answerer: AnswererName,
) -> Iterator[str | Answer]:
    """Stream the LLM's words, then yield the grounded Answer (or the extractive fallback)."""
    prompts = load_prompts(settings.prompts_dir)  # a broken template is the user's to fix: raise
    try:
        backend = get_backend(answerer, settings)
    except LLMError as err:
        yield from _fallback(engine, retriever, settings, question, standalone_query(question, history), mode,
                             top_k, answerer, f"{err}; showing the extractive answer")  # fmt: skip
        return
    query = _rewrite(backend, prompts, question, history)
    q = retriever.query(query)
    passages: list[Passage] = retriever.retrieve(q, mode, max(top_k, settings.candidates))
    shown = passages[:top_k]
    messages = [
        ("system", prompts.system),
        ("user", prompts.answer_message(query, [p.chunk.text for p in shown])),
    ]
    text = ""
    try:
        for delta in backend.stream(messages):
            text += delta
            yield delta
    except LLMError as err:
        yield "\n\n"
        yield from _fallback(engine, retriever, settings, question, query, mode, top_k, answerer,
                             f"{err}; showing the extractive answer")  # fmt: skip
        return
    if not text.strip():
        yield from _fallback(engine, retriever, settings, question, query, mode, top_k, answerer,
                             "the LLM returned an empty reply; showing the extractive answer")  # fmt: skip
        return
    if is_refusal(text):
        yield Answer(question, ABSTAIN_TEXT, True, (), tuple(passages), mode, query, (), answerer, "", 0)
        return
    g = ground(text, shown, retriever, engine.document_text, settings.support_threshold, settings.strict)
    if not g.citations:
        why = "no sentence of the LLM answer is supported by the passage it cites"
        yield "\n\n"
        yield from _fallback(engine, retriever, settings, question, query, mode, top_k, answerer,
                             f"{why}; showing the extractive answer", g.unsupported, g.generated)  # fmt: skip
        return
    yield Answer(question, g.text, False, g.citations, tuple(passages), mode, query, g.unsupported, answerer, "",
                 g.generated)  # fmt: skip
