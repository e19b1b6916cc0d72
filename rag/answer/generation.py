"""The generative answerer: an LLM writes, then every sentence is checked against its citation.

Whatever goes wrong with the LLM (down, timeout, empty reply, nothing supported in strict mode)
the user gets the extractive answer on the same evidence, with a one-line notice saying why,
never a crash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from rag.answer.answering import ABSTAIN_TEXT, ExtractiveAnswerer, stream_pieces
from rag.answer.conversation import is_followup, standalone_query
from rag.answer.grounding import Bar, Grounded, ground, is_refusal
from rag.answer.llm import ChatBackend, LLMError, get_backend
from rag.answer.reading import ReadingAnswerer
from rag.answer.templates import Prompts, load_prompts
from rag.ingest.documents import DocumentSource
from rag.request import Request
from rag.retrieve.scoring import SentenceScorer
from rag.settings import Settings
from rag.types import Answer, Evidence

FALLBACK = "showing the extractive answer"


class LLMAnswerer:
    """Answers with an LLM (``request.answerer``: openai or llamacpp), grounded sentence by sentence."""

    def __init__(self, request: Request, settings: Settings, scorer: SentenceScorer) -> None:
        self.prompts: Prompts = load_prompts(settings.prompts_dir)  # a broken template is the user's to fix
        self.name: str = request.answerer
        self.strict = request.strict
        self.threshold = settings.support_threshold
        self.scorer = scorer
        # The LLM refuses by the same verdict as the extractive answer (the reader's, with RAG_READER).
        self.extractive: ExtractiveAnswerer | ReadingAnswerer = (
            ReadingAnswerer(bar=settings.min_confidence)
            if settings.reader
            else ExtractiveAnswerer.for_request(request, settings)
        )
        self.backend: ChatBackend | None = None
        self.error: LLMError | None = None
        try:
            self.backend = get_backend(request.answerer, settings)
        except LLMError as err:
            self.error = err

    def standalone_query(self, question: str, history: Sequence[str], last_answer: str = "") -> str:
        """A follow-up made standalone by the LLM; the deterministic rewrite if the LLM fails."""
        if self.backend is None or not history or not is_followup(question):
            return standalone_query(question, history, last_answer)
        try:
            text = "".join(self.backend.stream([("user", self.prompts.rewrite_message(question, list(history)))]))
        except LLMError:
            text = ""
        line = text.strip().splitlines()[0].strip() if text.strip() else ""
        return line if 3 < len(line) <= 500 else standalone_query(question, history, last_answer)

    def answer(self, evidence: Evidence, documents: DocumentSource) -> Iterator[str | Answer]:
        """Stream the LLM's words, then yield the grounded Answer (or the extractive fallback)."""
        # The extractive answer on the same evidence: the fallback, and the confidence (with its
        # threshold) that the LLM answer shares, so evidence that cannot carry an answer costs no call.
        base = self.extractive.compose(evidence, documents)
        if self.backend is None:
            yield from self._fallback(base, f"{self.error}; {FALLBACK}")
            return
        confidence = base.confidence
        if base.abstained:  # the same refusal as the extractive answer: no evidence, no call
            yield Answer(ABSTAIN_TEXT, True, (), evidence, answerer=self.name, confidence=confidence)
            return
        messages = [
            ("system", self.prompts.system),
            ("user", self.prompts.answer_message(evidence.query, [p.chunk.text for p in evidence.shown])),
        ]
        text = ""
        try:
            for delta in self.backend.stream(messages):
                text += delta
                yield delta
        except LLMError as err:
            yield "\n\n"
            yield from self._fallback(base, f"{err}; {FALLBACK}")
            return
        if not text.strip():
            yield from self._fallback(base, f"the LLM returned an empty reply; {FALLBACK}")
            return
        if is_refusal(text):
            yield Answer(ABSTAIN_TEXT, True, (), evidence, answerer=self.name, confidence=confidence)
            return
        bar = Bar(self.threshold, self.strict, f"{evidence.question} {evidence.query}")
        g = ground(text, evidence.shown, self.scorer, documents, bar)
        if not g.citations:
            yield "\n\n"
            why = "no sentence of the LLM answer is supported by the passage it cites"
            yield from self._fallback(base, f"{why}; {FALLBACK}", g)
            return
        yield Answer(g.text, False, g.citations, evidence, self.name, "", g.unsupported, g.generated, confidence)

    def _fallback(self, base: Answer, notice: str, grounded: Grounded | None = None) -> Iterator[str | Answer]:
        """The extractive answer on the same evidence, saying why the LLM's was not used."""
        answer = dataclasses.replace(
            base,
            answerer=f"extractive (fallback from {self.name})",
            notice=notice,
            unsupported_sentences=grounded.unsupported if grounded else (),
            generated_sentences=grounded.generated if grounded else 0,
        )
        yield from stream_pieces(answer.text)
        yield answer
