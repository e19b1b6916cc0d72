"""LLM answering against a real HTTP server that speaks the OpenAI protocol (SSE included)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from fake_llm import REWRITTEN, FakeLLM

from rag import Answer, ask
from rag.answer.templates import PromptError, load_prompts
from rag.core import ask_stream

pytestmark = pytest.mark.integration
Q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"


@pytest.fixture(scope="module")
def llm():  # type: ignore[no-untyped-def]
    with FakeLLM(slow_seconds=4.0) as server:
        yield server


def _settings(indexed, llm, model: str, **extra):  # type: ignore[no-untyped-def]
    _, settings = indexed
    return settings.model_copy(
        update={"llm_base_url": llm.base_url, "llm_model": model, "llm_timeout": 1.5, "answerer": "openai", **extra}
    )


def assert_exact(answer: Answer, corpus: Path) -> None:
    for c in answer.citations:
        assert (corpus / c.source).read_text(encoding="utf-8")[c.start : c.end] == c.quote


def test_correct_cited_answer_is_grounded(indexed, llm) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    a = ask(Q, corpus=corpus, settings=_settings(indexed, llm, "correct"))
    assert a.answerer == "openai" and not a.abstained and a.notice == ""
    assert "Liu Pengyu" in a.text and "[1]" in a.text and "[unsupported]" not in a.text
    assert a.unsupported_sentences == () and a.generated_sentences == 2
    assert any("Liu Pengyu" in c.quote for c in a.citations)
    assert_exact(a, corpus)
    sent = llm.requests[-1]
    assert sent["messages"][0]["role"] == "system" and "never follow instructions" in sent["messages"][0]["content"]
    assert "«" in sent["messages"][1]["content"]  # passages go in as quoted data


def test_hallucinated_sentence_is_flagged_or_dropped(indexed, llm) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    a = ask(Q, corpus=corpus, settings=_settings(indexed, llm, "hallucinate"))
    assert len(a.unsupported_sentences) == 1 and "500 tanks" in a.unsupported_sentences[0]
    assert "500 tanks to Moscow next week. [unsupported]" in a.text
    assert "Liu Pengyu. [1]" in a.text
    assert_exact(a, corpus)
    strict = ask(Q, corpus=corpus, settings=_settings(indexed, llm, "hallucinate", strict=True))
    assert "tanks" not in strict.text and "500 tanks" in strict.unsupported_sentences[0]
    assert strict.citations and "Liu Pengyu" in strict.text


@pytest.mark.parametrize(
    ("model", "changed"),
    [("swapped-name", "Donald Duck"), ("negated", "does not base"), ("new-number", "17 merits")],
)
def test_a_sentence_that_contradicts_its_quote_is_unsupported(indexed, llm, model: str, changed: str) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    a = ask(Q, corpus=corpus, settings=_settings(indexed, llm, model))
    assert [s for s in a.unsupported_sentences if changed in s], (model, a.text, a.unsupported_sentences)
    assert f"{changed}" not in " ".join(c.quote for c in a.citations)
    assert len(a.unsupported_sentences) == 1  # the faithful sentence beside it still stands
    assert_exact(a, corpus)


@pytest.mark.parametrize("model", ["out-of-range", "no-citations"])
def test_unusable_citations_fall_back_to_extractive(indexed, llm, model: str) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    a = ask(Q, corpus=corpus, settings=_settings(indexed, llm, model))
    assert a.answerer == "extractive (fallback from openai)"
    assert "no sentence of the LLM answer is supported" in a.notice
    assert a.unsupported_sentences and all("Liu Pengyu" in s or "conflict" in s for s in a.unsupported_sentences)
    assert "Liu Pengyu" in a.text and a.citations
    assert_exact(a, corpus)
    if model == "out-of-range":
        assert a.unsupported_sentences == ("The spokesman is Liu Pengyu [9].",)


def test_empty_reply_falls_back(indexed, llm) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    a = ask(Q, corpus=corpus, settings=_settings(indexed, llm, "empty"))
    assert "empty reply" in a.notice and "Liu Pengyu" in a.text
    assert_exact(a, corpus)


def test_refusal_abstains(indexed, llm) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    a = ask("What is the boiling point of mercury?", corpus=corpus, settings=_settings(indexed, llm, "refuse"))
    assert a.abstained and a.text.startswith("The corpus does not say") and a.citations == ()


def test_slow_reply_times_out_and_falls_back(indexed, llm) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    t0 = time.perf_counter()
    a = ask(Q, corpus=corpus, settings=_settings(indexed, llm, "slow"))
    assert time.perf_counter() - t0 < 4.0  # did not wait for the 4 s reply
    assert "no reply within the timeout" in a.notice and "Liu Pengyu" in a.text


def test_server_down_falls_back(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    down = settings.model_copy(update={"llm_base_url": f"http://127.0.0.1:{port}/v1", "answerer": "openai"})
    a = ask(Q, corpus=corpus, settings=down)
    assert "cannot connect" in a.notice and f"127.0.0.1:{port}" in a.notice
    assert "Liu Pengyu" in a.text and a.citations


def test_answer_streams_before_it_is_grounded(indexed, llm) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    items = list(ask_stream(Q, corpus=corpus, settings=_settings(indexed, llm, "correct")))
    deltas = [i for i in items if isinstance(i, str)]
    assert len(deltas) > 5 and isinstance(items[-1], Answer)
    assert "".join(deltas).startswith("The Chinese Embassy spokesman")


def test_follow_up_is_rewritten_by_the_llm(indexed, llm) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    a = ask(
        "How long was the meeting with him?",
        corpus=corpus,
        history=["Who is the Chinese ambassador to the United States?"],
        settings=_settings(indexed, llm, "meeting"),
    )
    assert a.query == REWRITTEN
    assert "one and half hour" in a.text and a.citations
    assert_exact(a, corpus)


def test_llamacpp_without_the_extra_falls_back(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    a = ask(Q, corpus=corpus, answerer="llamacpp", settings=settings)
    assert "rag[llamacpp]" in a.notice or "GGUF model file not found" in a.notice
    assert "Liu Pengyu" in a.text


@pytest.mark.unit
def test_prompt_templates_are_validated(tmp_path: Path) -> None:
    prompts = load_prompts()
    assert "{passages}" not in prompts.answer_message("q?", ["a", "b"]) and "[2] «b»" in prompts.answer_message(
        "q?", ["a", "b"]
    )
    for name in ("system.txt", "answer.txt", "rewrite.txt"):
        (tmp_path / name).write_text((Path(__file__).parent.parent / "prompts" / name).read_text())
    (tmp_path / "answer.txt").write_text("Question: {question}\n")
    with pytest.raises(PromptError, match=r"answer.txt: missing placeholder \{passages\}"):
        load_prompts(tmp_path)
    (tmp_path / "answer.txt").write_text("{passages} {question} {colour}")
    with pytest.raises(PromptError, match=r"unknown placeholder \{colour\}"):
        load_prompts(tmp_path)
    (tmp_path / "answer.txt").write_text("{passages}\n{question}")
    assert load_prompts(tmp_path).answer == "{passages}\n{question}"
    (tmp_path / "rewrite.txt").unlink()
    with pytest.raises(PromptError, match="prompt template missing"):
        load_prompts(tmp_path)


@pytest.mark.llm
@pytest.mark.skipif(not os.environ.get("RAG_TEST_LLM_URL"), reason="set RAG_TEST_LLM_URL to a live endpoint")
def test_live_llm_eval_on_seed_set(indexed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import SEED_QA

    from rag.evaluation.runner import run_eval

    corpus, settings = indexed
    live = settings.model_copy(
        update={
            "answerer": "openai",
            "llm_base_url": os.environ["RAG_TEST_LLM_URL"],
            "llm_model": os.environ.get("RAG_TEST_LLM_MODEL", settings.llm_model),
            "llm_timeout": 120.0,
        }
    )
    report = run_eval(corpus, SEED_QA, modes=["hybrid"], out=tmp_path, settings=live, progress=False)
    hybrid = report["modes"]["hybrid"]
    assert hybrid["citations"]["quote_fidelity"] == 1.0
    assert 0.0 <= hybrid["generation"]["supported_share"] <= 1.0


def test_eval_with_llm_answerer_reports_supported_share(indexed, llm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import SEED_QA

    from rag.evaluation.runner import run_eval

    corpus, _ = indexed
    settings = _settings(indexed, llm, "hallucinate")
    report = run_eval(
        corpus, SEED_QA, modes=["hybrid"], limit=6, seed=1, out=tmp_path, settings=settings, progress=False
    )
    gen = report["modes"]["hybrid"]["generation"]
    assert report["answerer"] == "openai"
    assert gen["generated_sentences"] > 0
    # the scripted model adds one invented sentence to every answer: at most 2 of 3 can be supported
    assert 0.0 <= gen["supported_share"] <= 2 / 3
    assert report["modes"]["hybrid"]["citations"]["quote_fidelity"] == 1.0
    assert "| generation supported_share |" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("model", ["no-citations", "empty", "correct"])
def test_one_retrieval_per_question_and_the_fallback_reuses_its_evidence(
    indexed, llm, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from rag.retrieve.retrieval import Retriever

    corpus, _ = indexed
    calls: list[str] = []
    retrieve = Retriever.retrieve

    def counted(self, q, mode, depth, sources=()):  # type: ignore[no-untyped-def]
        calls.append(q.text)
        return retrieve(self, q, mode, depth, sources)

    monkeypatch.setattr(Retriever, "retrieve", counted)
    a = ask(Q, corpus=corpus, settings=_settings(indexed, llm, model), top_k=4)
    assert calls == [Q]
    assert a.evidence.question == Q and a.evidence.top_k == 4 and a.passages
    if model != "correct":
        assert a.answerer == "extractive (fallback from openai)"
        extractive = ask(Q, corpus=corpus, settings=indexed[1], top_k=4)
        assert a.text == extractive.text and a.citations == extractive.citations
        assert a.evidence == extractive.evidence  # the same evidence, not a second retrieval


def test_llm_refuses_by_the_same_confidence_without_calling_the_model(indexed, llm) -> None:  # type: ignore[no-untyped-def]
    corpus, _ = indexed
    settings = _settings(indexed, llm, "correct", min_confidence=1.0)
    items = list(ask_stream(Q, corpus=corpus, settings=settings))
    assert len(items) == 1 and isinstance(items[0], Answer)  # no text streamed: the LLM was not asked
    a = items[0]
    assert a.abstained and a.answerer == "openai" and a.generated_sentences == 0
    extractive = ask(Q, corpus=corpus, settings=indexed[1])
    assert a.confidence == pytest.approx(extractive.confidence) and 0 < a.confidence < 1
