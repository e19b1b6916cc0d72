"""``rag serve``: a real uvicorn server on a loopback port, driven by plain HTTP and by the
official ``openai`` client (streamed and not), with bad bodies, tokens and 20 clients at once."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from conftest import DEFAULT_CORPUS, run_rag, serving

from rag import ask, build_index
from rag.core import document_text
from rag.settings import get_settings

pytestmark = pytest.mark.integration
Q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"


@pytest.fixture(scope="module")
def api(indexed) -> Iterator[tuple[str, Path, Any]]:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    with serving(corpus, settings) as url:
        yield url, corpus, settings


def test_ask_returns_verified_citations_with_titles(api) -> None:  # type: ignore[no-untyped-def]
    url, corpus, settings = api
    r = httpx.post(f"{url}/v1/ask", json={"question": Q, "mode": "hybrid", "top_k": 3}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "Liu Pengyu" in body["text"] and not body["abstained"] and body["short"]["text"] == "Liu Pengyu"
    c = body["citations"][0]
    assert c["title"] and document_text(c["source"], corpus, settings=settings)[c["start"] : c["end"]] == c["quote"]
    assert body["text"] == ask(Q, corpus=corpus, settings=settings, mode="hybrid", top_k=3).text  # one core
    assert httpx.get(f"{url}/v1/health").json()["documents"] == 2
    assert httpx.get(f"{url}/openapi.json").json()["paths"].keys() >= {"/v1/ask", "/v1/chat/completions"}


def test_the_openai_client_gets_answers_streamed_and_not(api) -> None:  # type: ignore[no-untyped-def]
    url = api[0]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    model = client.models.list().data[0].id
    done = client.chat.completions.create(model=model, messages=[{"role": "user", "content": Q}])
    text = done.choices[0].message.content or ""
    assert "Liu Pengyu" in text and "[1]" in text
    citations = (done.model_extra or {})["citations"]
    assert citations[0]["quote"] in text and citations[0]["title"]

    pieces, last = [], None
    for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": Q}], stream=True):
        pieces.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert "".join(pieces) == text  # the same answer, in pieces
    assert last is not None and last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"] == citations

    follow = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "user", "content": "Who is the Chinese ambassador to the United States?"},
            {"role": "assistant", "content": "Qin Gang"},
            {"role": "user", "content": "How long was the White House meeting with him?"},
        ],
    )
    assert follow.choices[0].message.content  # the history reached the answerer (a rewrite, not an error)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": Q}])


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "invalid request"),
        (b'{"question": 42}', 400, "question"),
        (json.dumps({"question": "x" * 3000}).encode(), 400, "question"),
        (json.dumps({"question": Q, "top_k": 0}).encode(), 400, "top_k"),
        (json.dumps({"question": "y" * 1_100_000}).encode(), 413, "limit"),
    ],
)
def test_bad_requests_get_a_status_and_one_line(api, body: bytes, status: int, words: str) -> None:  # type: ignore[no-untyped-def]
    url, *_ = api
    r = httpx.post(f"{url}/v1/ask", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == status, r.text
    message = r.json()["error"]["message"]
    assert words in message and "\n" not in message


def test_twenty_clients_at_once_get_the_answers_one_gets(api) -> None:  # type: ignore[no-untyped-def]
    url, corpus, settings = api
    questions = [Q, "When did Biden and Xi meet?", "Who is Qin Gang?", "What did Sushant Sareen say?"] * 5
    expected = {q: ask(q, corpus=corpus, settings=settings).text for q in set(questions)}
    with httpx.Client(timeout=120) as http, ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda q: http.post(f"{url}/v1/ask", json={"question": q}), questions))
    assert all(r.status_code == 200 for r in replies)
    assert [r.json()["text"] for r in replies] == [expected[q] for q in questions]


def test_a_token_is_required_when_set(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    with serving(corpus, settings, api_key="s3cret") as url:
        assert httpx.post(f"{url}/v1/ask", json={"question": Q}).status_code == 401
        wrong = httpx.post(f"{url}/v1/ask", json={"question": Q}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "API key" in wrong.json()["error"]["message"]
        right = httpx.post(
            f"{url}/v1/ask", json={"question": Q}, headers={"Authorization": "Bearer s3cret"}, timeout=60
        )
        assert right.status_code == 200
        assert httpx.get(f"{url}/v1/health").status_code == 200  # health stays open for probes
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.models.list()


def test_documents_are_listed_uploaded_and_removed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    settings = get_settings(index_dir=tmp_path / "index")
    build_index(corpus, settings=settings)
    note = "The orchard behind the mill grows forty-two quince trees, planted by Ilse Varga in 1987.\n"
    with serving(corpus, settings, allow_writes=True) as url:
        listed = httpx.get(f"{url}/v1/documents").json()["documents"]
        assert {d["source"] for d in listed} == {p.name for p in DEFAULT_CORPUS.iterdir()}
        files = [
            ("files", ("../../orchard notes.txt", note.encode(), "text/plain")),
            ("files", ("tool.exe", b"MZ\x00\x00", "application/octet-stream")),
        ]
        r = httpx.post(f"{url}/v1/documents", files=files, timeout=120)
        assert r.status_code == 200, r.text
        results = {x["name"]: x for x in r.json()["results"]}
        assert results["orchard notes.txt"]["status"] == "added"
        assert results["tool.exe"]["status"] == "refused" and "unsupported type" in results["tool.exe"]["message"]
        assert (corpus / "uploads" / "orchard notes.txt").read_text() == note  # the name made safe, no traversal
        answer = httpx.post(f"{url}/v1/ask", json={"question": "Who planted the quince trees?"}, timeout=60).json()
        assert answer["short"]["text"] == "Ilse Varga"
        again = httpx.post(f"{url}/v1/documents", files=files[:1], timeout=60)
        assert again.status_code == 422 and "already exists" in again.json()["results"][0]["message"]
        gone = httpx.delete(f"{url}/v1/documents/uploads/orchard notes.txt", timeout=60)
        assert gone.status_code == 200 and not (corpus / "uploads" / "orchard notes.txt").exists()
        assert httpx.delete(f"{url}/v1/documents/../secret.txt").status_code == 404
        after = httpx.post(f"{url}/v1/ask", json={"question": "Who planted the quince trees?"}, timeout=60).json()
        assert "Ilse Varga" not in after["text"]


def test_the_document_list_follows_an_index_another_process_made(
    cli_corpus: tuple[Path, Any], subprocess_env: dict[str, str]
) -> None:
    """Listing is served from memory, yet what `rag index` in another process added shows at once."""
    corpus, settings = cli_corpus
    with serving(corpus, settings) as url:
        assert httpx.get(f"{url}/v1/health").json()["documents"] == 2
        (corpus / "harbour.txt").write_text("The ferry to Oslo leaves at 7 pm from the new terminal.\n")
        done = run_rag(subprocess_env, "index", str(corpus), "--quiet", timeout=170)
        assert done.returncode == 0, done.stderr
        listed = {d["source"] for d in httpx.get(f"{url}/v1/documents").json()["documents"]}
        assert "harbour.txt" in listed and len(listed) == 3
        assert httpx.get(f"{url}/v1/health").json()["documents"] == 3


def test_the_chat_can_share_the_api_server(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    with serving(corpus, settings, chat=True) as url:
        page = httpx.get(f"{url}/", timeout=60, follow_redirects=True)
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert "default-src 'self'" in page.headers["content-security-policy"]  # as rag chat serves it
        assert httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=60).json()["short"]["text"] == "Liu Pengyu"


def test_ordinary_openai_conversations_are_answered(api) -> None:  # type: ignore[no-untyped-def]
    """Two user messages in a row, an empty assistant message, a system message: all ordinary."""
    url = api[0]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    model = client.models.list().data[0].id
    conversations: list[list[Any]] = [
        [{"role": "user", "content": "Hello."}, {"role": "user", "content": Q}],
        [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Who is Qin Gang?"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": Q},
        ],
        [{"role": "assistant", "content": "How can I help?"}, {"role": "user", "content": Q}],
    ]
    for messages in conversations:
        done = client.chat.completions.create(model=model, messages=messages)
        assert "Liu Pengyu" in (done.choices[0].message.content or ""), messages


def test_a_huge_history_item_is_refused_like_a_huge_question(api) -> None:  # type: ignore[no-untyped-def]
    url = api[0]
    body = {"question": "What did he say?", "history": ["w " * 495_000]}
    started = time.monotonic()
    r = httpx.post(f"{url}/v1/ask", json=body, timeout=60)
    assert r.status_code == 400 and "history item 1 is too long" in r.json()["error"]["message"]
    assert time.monotonic() - started < 30  # not parsed: before, 43 s and +400 MB per request
    messages = [{"role": "user", "content": "z " * 400_000}, {"role": "user", "content": Q}]
    chat = httpx.post(f"{url}/v1/chat/completions", json={"model": "rag", "messages": messages}, timeout=60)
    assert chat.status_code == 400 and "history item 1 is too long" in chat.json()["error"]["message"]


def test_a_running_server_checks_quotes_against_the_file_as_it_is_now(
    cli_corpus: tuple[Path, Any], subprocess_env: dict[str, str]
) -> None:
    """An edit that keeps size and mtime (`touch -r`) is seen at once; another process's re-index
    is followed without a restart."""
    corpus, settings = cli_corpus
    article = corpus / "001_a1832f6365ab849e.txt"
    with serving(corpus, settings) as url:
        first = httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=60).json()
        assert first["short"]["text"] == "Liu Pengyu"
        st = article.stat()
        article.write_text(article.read_text(encoding="utf-8").replace("Liu Pengyu", "Donald Duk"), encoding="utf-8")
        os.utime(article, ns=(st.st_atime_ns, st.st_mtime_ns))
        stale = httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=60).json()
        assert all("Liu Pengyu" not in c["quote"] for c in stale["citations"] if c["source"] == article.name)
        done = run_rag(subprocess_env, "index", str(corpus), "--quiet", timeout=170)
        assert done.returncode == 0, done.stderr
        time.sleep(1.1)  # the server looks for another process's index at most once a second
        after = httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=60).json()
        assert not after["abstained"] and "Donald Duk" in after["text"], after["text"]
        c = after["citations"][0]
        assert article.read_text(encoding="utf-8")[c["start"] : c["end"]] == c["quote"]


def test_a_document_text_is_served_for_indexed_sources_only(api) -> None:  # type: ignore[no-untyped-def]
    url, corpus, settings = api
    source = "001_a1832f6365ab849e.txt"
    got = httpx.get(f"{url}/v1/documents/{source}", timeout=60)
    assert got.status_code == 200
    body = got.json()
    assert body["text"] == document_text(source, corpus, settings=settings) and body["title"] and body["chunks"] > 0
    answer = httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=60).json()
    c = answer["citations"][0]
    shown = httpx.get(f"{url}/v1/documents/{c['source']}", timeout=60).json()["text"]
    assert shown[c["start"] : c["end"]] == c["quote"]  # the offsets index this text
    for other in ("nothing.txt", "../secret.txt", ".git/config"):
        missing = httpx.get(f"{url}/v1/documents/{other}", timeout=60)
        assert missing.status_code == 404 and missing.json()["error"]["code"] in ("document_not_found", "not_found")


def test_a_taken_name_is_answered_in_the_api_s_own_words(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    settings = get_settings(index_dir=tmp_path / "index")
    build_index(corpus, settings=settings)
    files = {"files": ("memo.txt", b"The memo names Ilse Varga.\n", "text/plain")}
    with serving(corpus, settings, allow_writes=True) as url:
        assert httpx.post(f"{url}/v1/documents", files=files, timeout=120).status_code == 200
        again = httpx.post(f"{url}/v1/documents", files=files, timeout=120)
    message = again.json()["results"][0]["message"]
    assert message == "Not added: memo.txt: a document with this name already exists; send replace=true to replace it"


def test_max_tokens_is_honoured_and_usage_counts_tokens(api) -> None:  # type: ignore[no-untyped-def]
    url = api[0]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": Q}]
    whole = client.chat.completions.create(model="rag", messages=messages)
    assert whole.choices[0].finish_reason == "stop" and whole.usage is not None
    assert whole.usage.prompt_tokens > 5 and whole.usage.completion_tokens > 20
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    short = client.chat.completions.create(model="rag", messages=messages, max_tokens=6)
    text = short.choices[0].message.content or ""
    assert short.choices[0].finish_reason == "length" and short.usage is not None
    assert short.usage.completion_tokens <= 6 and text and (whole.choices[0].message.content or "").startswith(text)
    pieces, last = [], None
    for chunk in client.chat.completions.create(model="rag", messages=messages, max_tokens=6, stream=True):
        pieces.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert "".join(pieces) == text and last is not None and last.choices[0].finish_reason == "length"
    assert (last.model_extra or {})["citations"]  # the citations still travel beside the cut text
