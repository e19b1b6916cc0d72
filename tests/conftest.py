"""Shared fixtures: a network guard for the whole run, temp index dirs, the default corpus."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.offline import OFFLINE_ENV  # importing rag applied it to this process already

# Derived model files (ONNX exports) go to a temp dir, never to the user's ~/.cache.
os.environ["RAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="rag-test-cache-")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / "corpus"
SEED_QA = ROOT / "eval" / "datasets" / "seed_qa.jsonl"

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots and timings of the browser tests
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

BLOCKED: list[str] = []
NETGUARD_DIR = Path(__file__).resolve().parent / "netguard"
NETGUARD_LOG = Path(
    os.environ.setdefault("RAG_NETGUARD_LOG", str(Path(tempfile.gettempdir()) / f"rag-netguard-{os.getpid()}.log"))
)


WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # set in the processes `pytest -n 2` runs tests in


def pytest_configure(config: pytest.Config) -> None:
    """Install the guard before any test module imports a networking library."""
    if WORKER is None:  # the run's first process starts the log its workers and subprocesses append to
        NETGUARD_LOG.unlink(missing_ok=True)
    sys.path.insert(0, str(NETGUARD_DIR))
    import guard

    guard.install(_blocked)


def _blocked(address: object) -> None:
    BLOCKED.append(repr(address))
    if WORKER is not None:  # only the first process prints the summary: a worker's attempts go to the log
        with NETGUARD_LOG.open("a", encoding="utf-8") as fh:
            fh.write(f"{address!r}\n")


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    from_children = NETGUARD_LOG.read_text().splitlines() if NETGUARD_LOG.exists() else []
    attempts = BLOCKED + from_children
    terminalreporter.write_line(
        f"network guard: {len(attempts)} outbound connection attempts blocked "
        f"({len(BLOCKED)} in this process, {len(from_children)} in test workers and subprocesses)"
    )
    for attempt in attempts[:20]:
        terminalreporter.write_line(f"  blocked: {attempt}")


@pytest.fixture(scope="session")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only-by-convention copy of the default corpus."""
    dest = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(DEFAULT_CORPUS, dest)
    return dest


@pytest.fixture(scope="session")
def shared_settings(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Settings with a session-wide temp index dir (indexing the default corpus once)."""
    from rag.settings import get_settings

    return get_settings(index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def indexed(corpus_copy: Path, shared_settings):  # type: ignore[no-untyped-def]
    """(corpus, settings) with the default corpus already indexed."""
    from rag import build_index

    build_index(corpus_copy, settings=shared_settings)
    return corpus_copy, shared_settings


@pytest.fixture
def private_corpus(tmp_path: Path) -> tuple[Path, Any]:
    """(corpus, settings): a copy of the default corpus, indexed into an index dir of this test's own."""
    from rag import build_index
    from rag.settings import get_settings

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    settings = get_settings(index_dir=tmp_path / "index")
    build_index(corpus, settings=settings)
    return corpus, settings


@pytest.fixture
def cli_corpus(tmp_path: Path, subprocess_env: dict[str, str]) -> tuple[Path, Any]:
    """Like ``private_corpus``, indexed into the index dir the ``rag`` subprocesses of this test use."""
    from rag import build_index
    from rag.settings import get_settings

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    settings = get_settings(index_dir=Path(subprocess_env["RAG_INDEX_DIR"]))
    build_index(corpus, settings=settings)
    return corpus, settings


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings with an index dir private to one test."""
    from rag.settings import get_settings

    return get_settings(index_dir=tmp_path / "index")


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: offline, index in a temp dir."""
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    env["RAG_INDEX_DIR"] = str(tmp_path / "cli-index")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(NETGUARD_DIR), env.get("PYTHONPATH", "")) if p)
    env.pop("RAG_DEBUG", None)
    return env


def run_rag(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``rag <args>`` in a new process (``python -m rag.faces.cli``), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "rag.faces.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_app(root: Path, corpus: Path, extra_env: dict[str, str]) -> Iterator[int]:
    """`python app.py` over ``corpus`` on a free loopback port, offline and network-guarded.

    Yields the port once the server accepts connections; the log is ``root/server.log``.
    """
    port = free_port()
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    env["RAG_INDEX_DIR"] = str(root / "index")
    env["PYTHONPATH"] = str(NETGUARD_DIR)
    env.update(extra_env)
    log_path = root / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--corpus", str(corpus), "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("chat server did not start")
        time.sleep(1.0)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def serving(corpus: Path, settings: Any, api_key: str | None = None, chat: bool = False, **kw: Any) -> Iterator[str]:
    """``rag serve``'s app under a real uvicorn server in this process; yields its base URL."""
    import threading

    import uvicorn

    from rag.faces.server import create_app

    port = free_port()
    app = create_app(corpus, settings, api_key=api_key, chat=chat, **kw)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` as a read-only bind mount of itself (root ignores file modes); skips where not allowed."""
    if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts are not allowed here")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("read-only remounts are not allowed here")
        yield
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


@contextlib.contextmanager
def browser_page(url: str) -> Iterator[Any]:
    """A page of Debian's headless Chromium (never a browser a tool downloads), opened on ``url``."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed; run `make browser`")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            yield page
        finally:
            browser.close()


def assert_index_consistent(corpus: Path, settings: Any) -> None:
    """Chroma, the manifest and BM25 describe exactly the same chunks, with no duplicates."""
    from rag.core import get_engine

    engine = get_engine(corpus, settings)
    manifest = engine.store.load_manifest()
    stored = engine.store.stored_chunks()
    expected = manifest.expected_ids()
    assert set(stored) == set(expected)
    assert engine.store.count() == len(stored)  # no duplicates
    for cid, (source, digest) in expected.items():
        assert stored[cid]["source"] == source and stored[cid]["doc_hash"] == digest
    assert sorted(engine.store.bm25(manifest).ids) == sorted(stored)
    hashes = sorted({str(m["text_hash"]) for m in stored.values()})
    assert engine.store.has_sentence_vectors(hashes) == set(hashes)  # every chunk's unit vectors
