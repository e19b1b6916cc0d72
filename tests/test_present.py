"""One answer, one JSON: the CLI, the HTTP API, MCP and the chat's saved record carry the same fields."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import run_rag, serving

pytestmark = pytest.mark.integration

Q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"
REFUSED = "What is the boiling point of mercury?"


async def _mcp_ask(corpus: Path, env: dict[str, str], question: str) -> dict[str, Any]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "rag.faces.cli", "mcp", "--corpus", str(corpus)], env=env
    )
    async with Client(params) as client:
        result = await client.call_tool("ask", {"question": question})
    assert not result.is_error
    return dict(result.structured_content or {})


def _chat_record(corpus: Path, settings: Any, question: str) -> dict[str, Any]:
    """The record the chat saves for one turn (what its browser storage and its download hold)."""
    from rag.faces.chat import ChatHandlers

    h = ChatHandlers(corpus, settings)
    *_, last = h.respond(question, [], [], settings.mode, settings.top_k, settings.max_sentences,
                         settings.answerer, None, {}, [])  # fmt: skip
    turns = last[-1]
    assert len(turns) == 1 and turns[0]["question"] == question
    assert turns[0]["query"] == question  # not a follow-up: searched as asked
    return {k: v for k, v in turns[0].items() if k not in ("question", "query")}


@pytest.mark.parametrize("question", [Q, REFUSED])
def test_every_face_returns_the_same_fields_for_the_same_question(indexed, subprocess_env, question: str) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    env = {**subprocess_env, "RAG_INDEX_DIR": str(settings.index_dir)}
    cli = run_rag(env, "ask", question, "--corpus", str(corpus), "--json")
    assert cli.returncode == 0, cli.stderr
    by_cli = json.loads(cli.stdout)
    with serving(corpus, settings) as url:
        by_http = httpx.post(f"{url}/v1/ask", json={"question": question}, timeout=120).json()
    by_mcp = asyncio.run(_mcp_ask(corpus, env, question))
    by_chat = _chat_record(corpus, settings, question)

    faces = {"cli": by_cli, "http": by_http, "mcp": by_mcp, "chat": by_chat}
    assert {name: sorted(d) for name, d in faces.items()} == {name: sorted(by_cli) for name in faces}
    for field in ("text", "abstained", "confidence", "short", "citations"):
        assert len({json.dumps(d[field], sort_keys=True) for d in faces.values()}) == 1, field
    if question == Q:
        assert by_cli["citations"] and all(c["title"] for c in by_cli["citations"])
        assert by_cli["short"]["text"] == "Liu Pengyu"
    else:
        assert by_cli["abstained"] and by_cli["related"]  # a refusal shows what came closest, everywhere


def test_the_cli_text_view_names_the_short_answer_first_and_each_citation(indexed) -> None:  # type: ignore[no-untyped-def]
    from rag import ask
    from rag.faces.present import answer_text

    corpus, settings = indexed
    answer = ask(Q, corpus=corpus, settings=settings)
    lines = answer_text(answer).splitlines()
    assert lines[0] == "Liu Pengyu"
    c = answer.citations[0]
    assert f"[1] {c.source} [{c.start}:{c.end}] score {c.score:.2f}" in lines
    refused = answer_text(ask(REFUSED, corpus=corpus, settings=settings))
    assert "Related, but not an answer:" in refused and "confidence" not in refused.splitlines()[1:3]


def test_a_conversation_saved_before_the_shared_record_still_downloads() -> None:
    from rag.faces.present import conversation_markdown

    old = {"question": "Who?", "query": "Who?", "answer": "Liu Pengyu said so. [1]", "short": None,
           "part_shorts": [], "abstained": False, "confidence": 0.9, "citations": []}  # fmt: skip
    new = {**{k: v for k, v in old.items() if k != "answer"}, "text": "Liu Pengyu said so. [1]"}
    assert conversation_markdown([old]) == conversation_markdown([new])
    assert "Liu Pengyu said so. [1]" in conversation_markdown([new])
