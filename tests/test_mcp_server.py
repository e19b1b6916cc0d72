"""``rag mcp``: the real command over stdio, driven by the ``mcp`` SDK's own client."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from rag.core import document_text

pytestmark = pytest.mark.integration


async def _session(corpus: Path, env: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> Any:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "rag.faces.cli", "mcp", "--corpus", str(corpus)], env=env
    )
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        results = [await client.call_tool(name, args) for name, args in calls]
    return tools, results


def test_an_assistant_can_ask_search_and_read(indexed, subprocess_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    env = {**subprocess_env, "RAG_INDEX_DIR": str(settings.index_dir)}
    calls = [
        ("ask", {"question": "Who is the Chinese Embassy spokesman quoted about Ukraine?"}),
        ("search", {"query": "wheat imports from Russia", "top_k": 3}),
        ("ask", {"question": "What is the capital of Peru?"}),
    ]
    tools, (answer, found, unknown) = asyncio.run(_session(corpus, env, calls))
    assert tools == {"ask", "search", "read"}
    a = answer.structured_content
    assert not answer.is_error and "Liu Pengyu" in a["text"] and a["short"]["text"] == "Liu Pengyu"
    c = a["citations"][0]
    assert document_text(c["source"], corpus, settings=settings)[c["start"] : c["end"]] == c["quote"] and c["title"]
    passages = found.structured_content["passages"]
    assert len(passages) == 3 and any("wheat" in p["text"].lower() for p in passages)
    assert unknown.structured_content["abstained"] is True

    span = [("read", {"source": c["source"], "start": c["start"], "end": c["end"], "context": 50})]
    span.append(("read", {"source": c["source"], "start": 10, "end": 10**9}))
    span.append(("read", {"source": "../../etc/passwd"}))
    _, (read, outside, escape) = asyncio.run(_session(corpus, env, span))
    r = read.structured_content
    assert r["text"] == c["quote"] and len(r["before"]) == 50 and len(r["after"]) == 50
    assert outside.is_error and "outside" in outside.content[0].text
    assert escape.is_error and "no readable document" in escape.content[0].text


@pytest.mark.timeout(240)
def test_read_serves_indexed_documents_only_and_within_its_limit(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    import shutil

    from conftest import DEFAULT_CORPUS

    from rag.faces.mcp_server import MAX_READ_CHARS

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    (corpus / ".env").write_text("OPENAI_API_KEY=sk-secret\n", encoding="utf-8")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "config").write_text("[remote]\nurl = secret\n", encoding="utf-8")
    (corpus / "notes.log").write_text("a log that is no document\n", encoding="utf-8")
    big = "The harbour log lists every ship. " * 3000  # about 100,000 characters
    (corpus / "log.txt").write_text(big, encoding="utf-8")
    calls = [("read", {"source": s}) for s in (".env", ".git/config", "notes.log")]
    calls.append(("read", {"source": "log.txt", "start": 50_000, "end": 50_100, "context": 10**9}))
    calls.append(("read", {"source": "log.txt"}))
    _, results = asyncio.run(_session(corpus, subprocess_env, calls))
    *refused, wide, whole = results
    for r in refused:
        assert r.is_error and "no readable document" in r.content[0].text and "secret" not in r.content[0].text
    w = wide.structured_content
    assert len(w["before"]) + len(w["text"]) + len(w["after"]) <= MAX_READ_CHARS and w["text"] == big[50_000:50_100]
    assert len(w["before"]) == len(w["after"]) > 9_000  # the context is cut to fit, evenly
    assert not whole.is_error and len(whole.structured_content["text"]) == MAX_READ_CHARS


def test_the_ask_tool_takes_the_conversation_so_far(indexed, subprocess_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    env = {**subprocess_env, "RAG_INDEX_DIR": str(settings.index_dir)}
    q = "What did he say about the conflict?"
    calls = [("ask", {"question": q}),
             ("ask", {"question": q, "history": ["Who is the Chinese Embassy spokesman quoted about Ukraine?"]})]  # fmt: skip
    _, (alone, followed) = asyncio.run(_session(corpus, env, calls))
    assert alone.structured_content["abstained"]  # "he" is nobody yet
    assert not followed.is_error and "Liu Pengyu said" in followed.structured_content["text"]
