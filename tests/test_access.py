"""``rag.faces.access``: one login for every route, no cross-site writes, known Host names, byte limits
counted as bodies arrive, and a read timeout, each against a real uvicorn server (in this
process, or ``rag serve`` as a subprocess), ``gradio_client`` and headless Chromium."""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DEFAULT_CORPUS, browser_page, free_port, run_rag, serving

from rag.errors import InputError
from rag.faces.access import allowed_hosts, exposure_error, host_name, is_loopback

pytestmark = pytest.mark.integration
Q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"
NOTE = b"The lighthouse keeper of Skerry Point is Donald Duck.\n"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# ---------------------------------------------------------------------------------------------
# the rules on their own


def test_a_server_one_login_would_leave_half_open_is_refused() -> None:
    half = exposure_error("127.0.0.1", api=True, chat=True, api_key="k", login=None, unprotected=False)
    assert "RAG_AUTH" in half and "chat" in half
    assert exposure_error("127.0.0.1", api=True, chat=True, api_key="k", login=("a", "b"), unprotected=False) == ""
    assert exposure_error("127.0.0.1", api=True, chat=False, api_key="k", login=None, unprotected=False) == ""
    assert "rag chat has no API key" in exposure_error(
        "127.0.0.1", api=False, chat=True, api_key="k", login=None, unprotected=False
    )


@pytest.mark.parametrize(
    ("host", "chat", "key", "login", "refused"),
    [
        ("0.0.0.0", False, None, None, True),
        ("0.0.0.0", False, "k", None, False),
        ("0.0.0.0", False, None, ("a", "b"), False),
        ("192.168.1.5", True, None, None, True),
        ("0.0.0.0", True, None, ("a", "b"), False),
        ("127.0.0.2", True, None, None, False),
        ("::1", False, None, None, False),
    ],
)
def test_beyond_loopback_needs_a_login_or_an_explicit_opt_in(
    host: str, chat: bool, key: str | None, login: Any, refused: bool
) -> None:
    why = exposure_error(host, api=not chat, chat=chat, api_key=key, login=login, unprotected=False)
    assert bool(why) is refused, why
    assert exposure_error(host, api=not chat, chat=chat, api_key=key, login=login, unprotected=True) == "" or chat


def test_host_names() -> None:
    assert host_name("[::1]:8000") == "::1" and host_name("LocalHost:7860") == "localhost"
    assert host_name("example.org") == "example.org"
    assert is_loopback("127.0.0.9") and is_loopback("localhost") and not is_loopback("10.0.0.1")
    assert allowed_hosts("0.0.0.0") is None
    assert allowed_hosts("127.0.0.1", ["rag.internal"]) == {"localhost", "127.0.0.1", "::1", "rag.internal"}


# ---------------------------------------------------------------------------------------------
# one login for every route


def test_rag_serve_chat_with_only_a_key_does_not_start(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "RAG_API_KEY": "k"}
    done = run_rag(env, "serve", "--chat", "--corpus", str(DEFAULT_CORPUS), "--port", str(free_port()), timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: RAG_API_KEY would protect /v1 but leave the chat at / open")
    assert len(done.stderr.strip().splitlines()) == 1
    done = run_rag(env | {"RAG_API_KEY": ""}, "serve", "--host", "0.0.0.0", "--port", "1", timeout=120)
    assert done.returncode == 1 and "refusing to serve on 0.0.0.0 without a login" in done.stderr


def test_a_key_and_a_login_guard_every_route_of_serve_chat(private_corpus: tuple[Path, Any]) -> None:
    from gradio_client import Client

    corpus, settings = private_corpus
    settings = settings.model_copy(update={"auth": "alice:s3cret"})
    with serving(corpus, settings, api_key="k", chat=True) as url, httpx.Client(base_url=url, timeout=60) as h:
        for path in ("/docs", "/openapi.json", "/v1/documents", "/v1/models"):
            assert h.get(path).status_code == 401, path
        assert h.post("/v1/documents", files={"files": ("planted.txt", NOTE, "text/plain")}).status_code == 401
        assert h.get("/config").status_code == 401  # Gradio's routes: its login
        assert h.post("/gradio_api/upload", files={"files": ("x.txt", b"x", "text/plain")}).status_code == 401
        assert h.post("/gradio_api/call/remove", json={"data": ["001_a1832f6365ab849e.txt"]}).status_code == 401
        with pytest.raises(Exception, match="credentials were not provided"):
            Client(f"{url}/", verbose=False)
        assert h.get("/v1/health").status_code == 200
        assert h.get("/openapi.json", headers={"Authorization": "Bearer k"}).status_code == 200
        assert h.get("/v1/documents", headers=_basic("alice", "s3cret")).status_code == 200  # the same login
        assert h.get("/v1/documents", headers=_basic("alice", "wrong")).status_code == 401
        client = Client(f"{url}/", auth=("alice", "s3cret"), verbose=False)
        assert "Liu Pengyu" in client.predict(Q, "hybrid", 5, api_name="/ask")["text"]
    assert not (corpus / "uploads").exists()
    assert (corpus / "001_a1832f6365ab849e.txt").is_file()


def test_with_only_the_chat_login_the_api_wants_it_too(private_corpus: tuple[Path, Any]) -> None:
    corpus, settings = private_corpus
    settings = settings.model_copy(update={"auth": "alice:s3cret"})
    with serving(corpus, settings, chat=True) as url, httpx.Client(base_url=url, timeout=120) as h:
        planted = h.post("/v1/documents", files={"files": ("planted.txt", NOTE, "text/plain")})
        assert planted.status_code == 401 and "RAG_AUTH" in planted.json()["error"]["message"]
        assert h.delete("/v1/documents/001_a1832f6365ab849e.txt").status_code == 401
        assert h.post("/v1/ask", json={"question": Q}).status_code == 401
        ok = h.post("/v1/ask", json={"question": Q}, headers=_basic("alice", "s3cret"))
        assert ok.status_code == 200 and ok.json()["short"]["text"] == "Liu Pengyu"
    assert not (corpus / "uploads").exists() and (corpus / "001_a1832f6365ab849e.txt").is_file()


# ---------------------------------------------------------------------------------------------
# cross-site writes and DNS rebinding


class _AttackPage:
    """A web page on another loopback port whose script posts a document to the rag server."""

    def __init__(self, target: str) -> None:
        page = f"""<!doctype html><html><body><script>
          const form = new FormData();
          form.append("files", new Blob([{NOTE.decode()!r}], {{type: "text/plain"}}), "planted.txt");
          fetch("{target}/v1/documents", {{method: "POST", mode: "no-cors", body: form}})
            .then(() => {{ document.title = "sent"; }}, () => {{ document.title = "failed"; }});
          fetch("{target}/v1/documents/001_a1832f6365ab849e.txt", {{method: "DELETE", mode: "no-cors"}});
        </script></body></html>""".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://localhost:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def open_api(private_corpus: tuple[Path, Any]) -> Iterator[tuple[str, Path, Any]]:
    corpus, settings = private_corpus
    with serving(corpus, settings, allow_writes=True) as url:  # what the guard stops, not the opt-in
        yield url, corpus, settings


@pytest.mark.timeout(180)
def test_a_web_page_cannot_plant_or_delete_documents(open_api: tuple[str, Path, Any]) -> None:
    url, corpus, _ = open_api
    attacker = _AttackPage(url)
    try:
        with browser_page(attacker.url) as page:
            page.wait_for_function("document.title === 'sent' || document.title === 'failed'", timeout=60_000)
            time.sleep(1.0)  # the DELETE was sent too
    finally:
        attacker.close()
    assert not (corpus / "uploads").exists()
    assert (corpus / "001_a1832f6365ab849e.txt").is_file()
    answer = httpx.post(f"{url}/v1/ask", json={"question": "Who is the lighthouse keeper of Skerry Point?"}, timeout=60)
    assert "Donald Duck" not in answer.json()["text"]
    # The same requests as a browser sends them, refused by name; the server's own pages and
    # clients that send no Origin (curl, the SDKs) still write.
    cross = httpx.post(
        f"{url}/v1/documents",
        files={"files": ("planted.txt", NOTE, "text/plain")},
        headers={"Origin": attacker.url.rstrip("/"), "Sec-Fetch-Site": "same-site"},
    )
    assert cross.status_code == 403 and "cross-site" in cross.json()["error"]["message"]
    same = httpx.post(
        f"{url}/v1/ask", json={"question": Q}, headers={"Origin": url, "Sec-Fetch-Site": "same-origin"}, timeout=60
    )
    assert same.status_code == 200


def test_an_unknown_host_name_is_refused(open_api: tuple[str, Path, Any]) -> None:
    url, *_ = open_api
    rebound = httpx.get(f"{url}/v1/documents", headers={"Host": "attacker.example:8000"})
    assert rebound.status_code == 421 and "unknown Host 'attacker.example'" in rebound.json()["error"]["message"]
    assert httpx.get(f"{url}/v1/health", headers={"Host": "localhost"}).status_code == 200


@pytest.mark.timeout(240)
def test_the_chat_refuses_cross_site_calls(tmp_path: Path) -> None:
    from conftest import running_app

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    with running_app(tmp_path, corpus, {}) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as h:
        evil = {"Origin": "http://localhost:1", "Sec-Fetch-Site": "same-site"}
        joined = h.post(
            "/gradio_api/queue/join", json={"data": ["001_a1832f6365ab849e.txt"], "fn_index": 0}, headers=evil
        )
        assert joined.status_code == 403
        assert (
            h.post("/gradio_api/upload", files={"files": ("x.txt", b"x", "text/plain")}, headers=evil).status_code
            == 403
        )
        assert h.get("/config", headers={"Host": "attacker.example"}).status_code == 421
        assert h.get("/config").status_code == 200
    assert (corpus / "001_a1832f6365ab849e.txt").is_file()


# ---------------------------------------------------------------------------------------------
# limits that count bytes, and a read timeout


def _raw(port: int, head: bytes, chunks: Iterator[bytes], timeout: float = 60) -> tuple[bytes, int]:
    """Send ``head`` then ``chunks`` on a raw socket until the server answers; (reply, bytes sent)."""
    sent = [0]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)

        def send() -> None:
            try:
                for chunk in chunks:
                    sock.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:
                pass  # the server answered and closed the connection

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        reply = b""
        try:
            while b"\r\n\r\n" not in reply:
                more = sock.recv(65536)
                if not more:
                    break
                reply += more
        except OSError:
            pass
        at_reply = sent[0]
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sender.join(timeout=30)
    return reply, at_reply


def _chunked(total: int, size: int = 1 << 16) -> Iterator[bytes]:
    """A chunked multipart upload of one ``total``-byte file (never closed: it is over the limit)."""
    part = (
        b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n'
    )
    yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    block = b"a" * size
    for _ in range(total // size):
        yield f"{size:x}\r\n".encode() + block + b"\r\n"
    yield b"0\r\n\r\n"


@pytest.mark.timeout(180)
def test_chunked_bodies_are_counted_as_they_arrive(open_api: tuple[str, Path, Any]) -> None:
    url, corpus, _ = open_api
    port = int(url.rsplit(":", 1)[1])

    def gen() -> Iterator[bytes]:
        yield b'{"question": "' + b"y" * 2_000_000 + b'"}'

    ask = httpx.post(f"{url}/v1/ask", content=gen(), headers={"content-type": "application/json"}, timeout=60)
    assert ask.status_code == 413 and "1000000 byte limit" in ask.json()["error"]["message"]

    head = (
        b"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\n\r\n"
    )
    reply, sent = _raw(port, head, _chunked(100_000_000))
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < 90_000_000  # refused once past the 80 MB limit, not after all 100 MB
    assert not (corpus / "uploads").exists()
    assert httpx.get(f"{url}/v1/health").status_code == 200


def test_a_body_that_stops_arriving_is_answered_408(private_corpus: tuple[Path, Any]) -> None:
    corpus, settings = private_corpus
    with serving(corpus, settings.model_copy(update={"request_timeout_s": 1.0})) as url:
        port = int(url.rsplit(":", 1)[1])
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"question": '
            )
            reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert time.monotonic() - started < 25
        assert httpx.post(f"{url}/v1/ask", json={"question": Q}, timeout=60).status_code == 200


def test_errors_name_the_corpus_not_its_path_on_the_server(open_api: tuple[str, Path, Any]) -> None:
    url, corpus, _ = open_api
    r = httpx.post(f"{url}/v1/ask", json={"question": Q, "sources": ["nope.txt"]}, timeout=60)
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "nope.txt" in message and str(corpus.parent) not in message
    missing = httpx.get(f"{url}/v1/nowhere")
    assert missing.status_code == 404 and "error" in missing.json()


def test_create_app_refuses_half_protection_before_any_work(private_corpus: tuple[Path, Any]) -> None:
    from rag.faces.server import create_app

    corpus, settings = private_corpus
    with pytest.raises(InputError, match="RAG_AUTH"):
        create_app(corpus, settings, api_key="k", chat=True)
    with pytest.raises(InputError, match="--unprotected"):
        create_app(corpus, settings, host="0.0.0.0")
    assert create_app(corpus, settings, host="0.0.0.0", unprotected=True) is not None
