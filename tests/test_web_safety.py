"""The chat as a web service: login (RAG_AUTH), upload names, HTML in documents, loopback binding."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DEFAULT_CORPUS, browser_page, running_app

from rag.errors import InputError
from rag.faces.chat import launch
from rag.faces.present import render_sources
from rag.library import safe_filename
from rag.settings import get_settings
from rag.types import Answer, Chunk, Citation, Evidence, Passage

USER, PASSWORD = "alice", "s3cret"
SPOKESMAN_Q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"
XSS_SENTENCE = (
    'The harbour master of Port Elin is <img src=x onerror="window.__xss=1"> Ada Brown '
    "<script>window.__xss=2</script> since 2019."
)
XSS_Q = "Who is the harbour master of Port Elin?"


# ---------------------------------------------------------------------------------------------
# settings and launch (no server)


class _FakeApp:
    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def launch(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@pytest.fixture
def fake_serving(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Make ``launch`` skip indexing, warming up and serving, and record what it would pass to Gradio."""
    import rag.core
    import rag.faces.chat

    calls: dict[str, Any] = {"indexed": 0, "app": _FakeApp()}

    def fake_index(*args: Any, **kwargs: Any) -> str:
        calls["indexed"] += 1
        return "nothing"

    monkeypatch.setattr(rag.core, "index_before_serving", fake_index)
    monkeypatch.setattr(rag.core, "warm_up", lambda corpus, settings: None)  # nothing indexed to warm
    monkeypatch.setattr(rag.faces.chat, "build_app", lambda corpus, settings: calls["app"])
    return calls


@pytest.mark.unit
def test_auth_setting_is_read_from_rag_auth_and_hidden_from_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_AUTH", f"{USER}:{PASSWORD}")
    settings = get_settings()
    assert settings.auth == f"{USER}:{PASSWORD}"
    assert PASSWORD not in repr(settings)
    monkeypatch.delenv("RAG_AUTH")
    assert get_settings().auth is None


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "expected"),
    [(f"{USER}:{PASSWORD}", (USER, PASSWORD)), ("bob:pa:ss:word", ("bob", "pa:ss:word")), ("", None), (None, None)],
)
def test_launch_passes_auth_to_gradio(tmp_path: Path, fake_serving, value: str | None, expected) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings(index_dir=tmp_path / "index").model_copy(update={"auth": value})
    launch(tmp_path / "corpus", settings)
    kwargs = fake_serving["app"].kwargs
    assert kwargs["auth"] == expected
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["share"] is False


@pytest.mark.unit
@pytest.mark.parametrize("value", ["alice", "alice:", ":s3cret", "  :s3cret"])
def test_malformed_auth_is_a_clear_error_before_indexing(tmp_path: Path, fake_serving, value: str) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings(index_dir=tmp_path / "index").model_copy(update={"auth": value})
    with pytest.raises(InputError, match=r"^RAG_AUTH must look like user:password") as err:
        launch(tmp_path / "corpus", settings)
    assert "s3cret" not in str(err.value)
    assert fake_serving["indexed"] == 0 and fake_serving["app"].kwargs == {}


@pytest.mark.unit
def test_rag_chat_and_app_py_report_malformed_auth_in_one_line(
    tmp_path: Path,
    fake_serving,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rag.faces.cli import cli

    monkeypatch.setenv("RAG_AUTH", "no-colon-here")
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    result = CliRunner().invoke(cli, ["chat", "--corpus", str(tmp_path / "corpus")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: RAG_AUTH must look like user:password, with a non-empty user and password"
    ]

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        import app
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(sys, "argv", ["app.py", "--corpus", str(tmp_path / "corpus")])
    with pytest.raises(SystemExit) as exit_info:
        app.main()
    assert str(exit_info.value.code).startswith("error: RAG_AUTH must look like user:password")
    assert fake_serving["indexed"] == 0


@pytest.mark.unit
def test_chat_binds_loopback_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.faces.chat
    from rag.faces.cli import cli

    params = inspect.signature(launch).parameters
    assert params["host"].default == "127.0.0.1" and params["share"].default is False

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(rag.faces.chat, "launch", lambda corpus, settings, **kw: seen.append(kw))
    monkeypatch.delenv("RAG_AUTH", raising=False)
    result = CliRunner().invoke(cli, ["chat", "--corpus", str(tmp_path)])
    assert result.exit_code == 0, result.output

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        import app
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(sys, "argv", ["app.py", "--corpus", str(tmp_path)])
    app.main()
    assert [(kw["host"], kw["share"]) for kw in seen] == [("127.0.0.1", False), ("127.0.0.1", False)]


# ---------------------------------------------------------------------------------------------
# names and HTML (no server)


@pytest.mark.unit
@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd.txt", "..\\..\\evil.txt", "/abs/path/x.md", "....//....//y.html", "a/../../b.pdf", "..",
     ".", "", ".hidden.md", "con\x00.txt", "nul\n.txt", "x" * 500 + ".txt", "ü/../ß.md", "C:\\Windows\\z.txt"],
)  # fmt: skip
def test_safe_filename_never_escapes_the_uploads_folder(name: str, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    clean = safe_filename(name)
    assert clean and "/" not in clean and "\\" not in clean and not clean.startswith(".")
    assert "\x00" not in clean and "\n" not in clean and len(clean) <= 111
    assert (uploads / clean).resolve().parent == uploads.resolve()


def _answer_with(text: str, quote: str, query: str = "q") -> Answer:
    start = text.index(quote)
    citation = Citation("d.txt", start, start + len(quote), quote, 0.9)
    return Answer(f"{quote} [1]", False, (citation,), Evidence("q", query, "hybrid", 5))


@pytest.mark.unit
def test_render_sources_escapes_every_piece_of_document_text() -> None:
    evil = '<img src=x onerror="alert(1)">'
    text = f"Before {evil}. The quote <script>alert(2)</script> here. After </details><b>bold</b>."
    quote = "The quote <script>alert(2)</script> here."
    out = render_sources(_answer_with(text, quote, query=f"q {evil}"), lambda s: text)
    for raw in ("<img", "<script", "</details><b>", "<b>bold"):
        assert raw not in out
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in out and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out

    chunk = Chunk("c1", f"evil{evil}.txt", 0, 0, len(text), text)
    abstained = Answer(
        "The corpus does not say.",
        True,
        (),
        Evidence("q", "q", "hybrid", 5, passages=(Passage(chunk, 0.1),)),
        notice=f"LLM said {evil}",
        unsupported_sentences=(f"Claim {evil}",),
    )
    out = render_sources(abstained, lambda s: text)
    # the source name three times (data attribute, hover title, card name), the text, notice, claim
    assert "<img" not in out and "<script" not in out and out.count("&lt;img") == 6


# ---------------------------------------------------------------------------------------------
# a real server with RAG_AUTH


def _listening_addresses(port: int) -> list[str]:
    """Local addresses (hex, as the kernel lists them) of sockets listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    found.append(address)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`python app.py` with RAG_AUTH set, on a free port, default host, over a private corpus copy."""
    root = tmp_path_factory.mktemp("web")
    corpus = root / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    for p in corpus.iterdir():
        p.chmod(0o644)
    (corpus / "harbour.txt").write_text(f"Harbour notes.\n\n{XSS_SENTENCE}\n", encoding="utf-8")
    with running_app(root, corpus, {"RAG_AUTH": f"{USER}:{PASSWORD}"}) as port:
        yield {"url": f"http://127.0.0.1:{port}/", "port": port, "corpus": corpus, "root": root}


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_server_listens_on_loopback_only(server) -> None:  # type: ignore[no-untyped-def]
    assert _listening_addresses(server["port"]) == ["0100007F"]  # 127.0.0.1, and nothing on 0.0.0.0 or IPv6


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_api_refuses_requests_without_the_login(server) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from gradio_client import Client

    base = server["url"].rstrip("/")
    with httpx.Client(base_url=base, timeout=30) as h:
        assert h.get("/config").status_code == 401
        assert h.post("/gradio_api/call/ask", json={"data": [SPOKESMAN_Q, "hybrid", 5]}).status_code == 401
        assert h.post("/gradio_api/upload", files={"files": ("x.txt", b"x", "text/plain")}).status_code == 401
        assert h.post("/login", data={"username": USER, "password": "wrong"}).status_code == 400
        for name in ("remove", "upload", "chat"):  # state-changing endpoints, named or private
            assert h.post(f"/gradio_api/call/{name}", json={"data": ["harbour.txt"]}).status_code == 401, name
        assert h.post("/gradio_api/queue/join", json={"data": ["harbour.txt"], "fn_index": 0}).status_code == 401
    assert (server["corpus"] / "harbour.txt").is_file()
    with pytest.raises(Exception, match="credentials were not provided"):
        Client(server["url"], verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(server["url"], auth=(USER, "wrong"), verbose=False)
    client = Client(server["url"], auth=(USER, PASSWORD), verbose=False)
    result = client.predict(SPOKESMAN_Q, "hybrid", 5, api_name="/ask")
    assert "Liu Pengyu" in result["text"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_uploads_cannot_traverse_or_overwrite(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from gradio_client import Client, handle_file

    corpus: Path = server["corpus"]
    before = {p: _sha(p) for p in corpus.rglob("*") if p.is_file()}
    outside_before = sorted(p.name for p in server["root"].iterdir())
    client = Client(server["url"], auth=(USER, PASSWORD), verbose=False)

    local = tmp_path / "..\\..\\orchard.txt"  # a legal Linux name full of Windows separators
    local.write_text("The orchard of Villa Rosa has 77 pear trees.\n", encoding="utf-8")
    hidden = tmp_path / ".hidden.md"
    hidden.write_text("# Hidden\n\nThe well of Villa Rosa is 30 metres deep.\n", encoding="utf-8")
    clash = tmp_path / "001_a1832f6365ab849e.txt"  # the name of an existing corpus document
    clash.write_text("Replacement text that must not replace the article.\n", encoding="utf-8")
    _, status, _ = client.predict(
        [handle_file(str(local)), handle_file(str(hidden)), handle_file(str(clash))], api_name="/upload"
    )
    assert "Added: orchard.txt" in status and "Added: hidden.md" in status, status
    uploads = corpus / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["001_a1832f6365ab849e.txt", "hidden.md", "orchard.txt"]

    # A raw multipart upload names the file itself: Gradio keeps only the last path component,
    # and adding that file under an existing name is refused.
    with httpx.Client(base_url=server["url"].rstrip("/"), timeout=60) as h:
        assert h.post("/login", data={"username": USER, "password": PASSWORD}).status_code == 200
        paths = h.post(
            "/gradio_api/upload",
            files={"files": ("../../../../orchard.txt", b"Evil: the orchard has 0 trees.\n", "text/plain")},
        ).json()
        assert Path(paths[0]).name == "orchard.txt"

        def call_upload(path: str) -> str:
            data = {"data": [[{"path": path, "meta": {"_type": "gradio.FileData"}}], False]}  # files, replace
            event = h.post("/gradio_api/call/upload", json=data).json()["event_id"]
            return h.get(f"/gradio_api/call/upload/{event}").text

        assert "Not added: orchard.txt: a document with this name already exists" in call_upload(paths[0])
        # A path on the server that was never uploaded is refused: no copying of server files.
        refused = call_upload(str(Path(__file__).resolve()))
        assert "event: error" in refused and "Added" not in refused

    assert (uploads / "orchard.txt").read_text(encoding="utf-8") == "The orchard of Villa Rosa has 77 pear trees.\n"
    assert all(_sha(p) == digest for p, digest in before.items())  # no existing document overwritten
    assert sorted(p.name for p in server["root"].iterdir()) == outside_before  # nothing written beside the corpus
    assert not [p for p in corpus.rglob("*") if p.is_file() and p.parent not in (corpus, uploads)]
    answer = client.predict("How many pear trees does the orchard of Villa Rosa have?", "hybrid", 5, api_name="/ask")
    assert "77 pear trees" in answer["text"]


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_html_in_a_document_is_escaped_in_the_sources_panel(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from rag import ask, build_index, document_text

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "harbour.txt").write_text(f"Harbour notes.\n\n{XSS_SENTENCE}\n", encoding="utf-8")
    build_index(corpus, settings=settings)
    a = ask(XSS_Q, corpus=corpus, settings=settings)
    assert a.citations and "<img" in a.citations[0].quote  # the quote really carries the markup
    out = render_sources(a, lambda s: document_text(s, corpus=corpus, settings=settings))
    assert "<img" not in out and "<script" not in out
    plain = re.sub(r'</?strong(?: class="src-short")?>', "", out)  # the short answer's own bold, if any
    assert "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;" in plain
    assert re.findall(r"<(\w+)", out.split("<mark", 1)[1].split("</mark>", 1)[0]) in ([], ["strong"])


# ---------------------------------------------------------------------------------------------
# the browser


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_browser_login_then_chat(server) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with browser_page(server["url"]) as page:
        user, password = page.get_by_label("username"), page.get_by_label("password")
        expect(password).to_be_visible(timeout=30_000)  # the page asks for a login first
        assert page.locator("#question").count() == 0
        assert page.get_by_role("button", name="Login").is_visible()

        user.fill(USER)
        password.fill("wrong-password")
        page.get_by_role("button", name="Login").click()
        expect(page.get_by_text("Incorrect Credentials")).to_be_visible(timeout=30_000)
        assert page.locator("#question").count() == 0 and page.context.cookies() == []

        user.fill(USER)
        password.fill(PASSWORD)
        page.get_by_role("button", name="Login").click()
        box = page.locator("#question textarea")
        expect(box).to_be_visible(timeout=30_000)

        box.fill(SPOKESMAN_Q)
        box.press("Enter")
        bots = page.locator("#chat [data-testid='bot']")
        expect(bots.nth(0)).to_contain_text("Liu Pengyu", timeout=60_000)
        expect(page.locator("#sources details").first).to_be_visible(timeout=60_000)
        assert page.locator("#logout").get_attribute("href") == "/logout"  # a way out of the login

        # A document carrying markup: quoted in the chat and the sources panel, never run.
        box.fill(XSS_Q)
        box.press("Enter")
        expect(bots.nth(1)).to_contain_text("Ada Brown", timeout=60_000)
        sources = page.locator("#sources")
        expect(sources).to_contain_text("Searched for: " + XSS_Q, timeout=60_000)
        sources.locator("details summary").first.click()
        expect(sources.locator("mark").first).to_contain_text('<img src=x onerror="window.__xss=1">')
        page.wait_for_timeout(500)  # let any injected handler fire, if one had been created
        assert page.evaluate("window.__xss") is None
        assert page.locator("#chat [onerror], #sources [onerror], #sources script, #chat script").count() == 0


# ---------------------------------------------------------------------------------------------
# a document that tries to make the browser fetch an address, and bad API calls


class _Listener:
    """A loopback HTTP server counting every request it gets (a beacon's target)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def beacon_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("beacon")
    corpus = root / "corpus"
    corpus.mkdir()
    listener = _Listener()
    url = f"http://127.0.0.1:{listener.port}"
    (corpus / "memo.md").write_text(
        "Staff memo\n\n"
        f"The night keeper of the Brask lighthouse is *Jon* **Gray** ~~Holt~~ ![x]({url}/md-image) "
        f'<img src="{url}/html-image"> <link rel="stylesheet" href="{url}/css"> since 2004.\n',
        encoding="utf-8",
    )
    cache = root / "gradio-cache"
    # The sentence-scoring answerer: it quotes the markup-laden sentence, whose rendering is what is
    # tested. The reader reads a chunk's raw text, markup and all, and may answer "Staff" from the
    # title line instead (a known reading error, eval/RESULTS.md "Span reader").
    env = {"GRADIO_TEMP_DIR": str(cache), "RAG_READER": "0"}
    with running_app(root, corpus, env) as port:
        yield {"url": f"http://127.0.0.1:{port}/", "listener": listener, "cache": cache}
    listener.close()


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_a_cited_document_cannot_make_the_browser_fetch_anything(beacon_server) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    listener = beacon_server["listener"]
    csp = httpx.get(beacon_server["url"], timeout=30).headers["content-security-policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data: blob:" in csp
    with browser_page(beacon_server["url"]) as page:
        box = page.locator("#question textarea")
        expect(box).to_be_visible(timeout=60_000)
        box.fill("Who is the night keeper of the Brask lighthouse?")
        box.press("Enter")
        bot = page.locator("#chat [data-testid='bot']").nth(0)
        expect(bot).to_contain_text("keeper of the Brask lighthouse is Jon Gray Holt x since 2004", timeout=60_000)
        page.locator("#sources details summary").first.click()
        sources = page.locator("#sources")
        expect(sources).to_contain_text("*Jon* **Gray** ~~Holt~~ ![x](")  # verbatim there, not formatted
        expect(sources).to_contain_text('<img src="')
        page.wait_for_timeout(1500)  # time for any fetch to happen, had one been allowed
        formatted = page.locator(
            "#chat img, #chat em, #chat strong :not(a), #chat del, #sources img"
        )  # a link is not fetched
        assert formatted.count() == 0, [formatted.nth(i).evaluate("e => e.outerHTML") for i in range(formatted.count())]
        assert page.locator("#chat strong").count() <= 1  # only the short answer's own bold, holding plain text
    assert listener.hits == []


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_api_errors_reach_the_client(beacon_server) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    client = Client(beacon_server["url"], verbose=False)
    for args, message in (
        (("", "hybrid", 5), "question is empty"),
        (("x" * 2001, "hybrid", 5), "question is too long"),
        (("Who?", "hybrid", 100), "top_k must be between"),
        (("Who?", "sideways", 5), "unknown mode 'sideways'"),
    ):
        with pytest.raises(Exception, match=message):
            client.predict(*args, api_name="/ask")
    ok = client.predict("Who is the night keeper of the Brask lighthouse?", "hybrid", 5, api_name="/ask")
    assert "Gray" in ok["text"]


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_oversized_uploads_are_refused_by_the_server_and_leave_nothing(beacon_server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from rag.library import MAX_UPLOAD_BYTES

    big = b"a" * (MAX_UPLOAD_BYTES + 1_000_000)
    res = httpx.post(
        beacon_server["url"] + "gradio_api/upload", files={"files": ("big.txt", big, "text/plain")}, timeout=60
    )
    assert res.status_code == 413, res.text
    cache = beacon_server["cache"]
    left = (
        [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size > MAX_UPLOAD_BYTES] if cache.exists() else []
    )
    assert left == []
