"""The index on a real Chroma server (`chroma run`): shared manifest, restarts, two machines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, SEED_QA, assert_index_consistent, free_port, run_rag

from rag import ask, build_index
from rag.core import get_engine
from rag.errors import StoreError
from rag.settings import get_settings

pytestmark = pytest.mark.integration

CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
SPOKESMAN_Q = "Who is the Chinese Embassy spokesman?"


class ChromaServer:
    """`chroma run --path DIR --host 127.0.0.1 --port N` as a child process that can be restarted."""

    def __init__(self, path: Path, log: Path) -> None:
        self.path = path
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def start(self) -> None:
        assert CHROMA, "the chroma command (installed with chromadb) is missing"
        env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [CHROMA, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not self.up():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma server did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def outbound(self) -> list[str]:
        """Remote addresses of the server's TCP sockets that are not loopback.

        The server is native code, out of reach of the Python network guard; this looks at its
        open sockets instead (a snapshot, taken before each stop).
        """
        assert self.proc is not None
        inodes = set()
        for fd in Path(f"/proc/{self.proc.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        remote = []
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/{self.proc.pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                if cols[9] in inodes and cols[3] == "01":  # established
                    addr = cols[2].split(":")[0]
                    if addr not in ("0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"):
                        remote.append(cols[2])
        return remote

    def stop(self) -> None:
        if self.proc is not None:
            assert self.outbound() == [], "the Chroma server connected outside this machine"
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-server-data", tmp_path / "chroma-server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _rag(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_rag(env, *args, timeout=600)


def _check_citations(answer, corpus: Path) -> None:  # type: ignore[no-untyped-def]
    assert not answer.abstained and answer.citations
    for c in answer.citations:
        text = (corpus / c.source).read_text(encoding="utf-8")
        assert text[c.start : c.end] == c.quote


def test_index_answer_restart_and_answer_again_without_reembedding(
    chroma_server: ChromaServer, corpus_copy: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    settings = get_settings(index_dir=tmp_path / "local", chroma_url=chroma_server.url)
    first = build_index(corpus_copy, settings=settings)
    assert len(first.added) == 2 and first.embedded == first.chunks > 0
    assert not (tmp_path / "local" / "chroma").exists()  # nothing embedded locally: the server holds it
    assert not list((tmp_path / "local").rglob("manifest.json"))  # the manifest lives on the server
    before = ask(SPOKESMAN_Q, corpus=corpus_copy, settings=settings)
    _check_citations(before, corpus_copy)
    assert "Liu Pengyu" in before.text
    assert_index_consistent(corpus_copy, settings)

    chroma_server.stop()
    engine = get_engine(corpus_copy, settings)
    engine._next_check = 0.0  # poll the server now rather than after the usual pause
    with pytest.raises(StoreError, match=r"cannot reach the Chroma server at http://127\.0\.0\.1"):
        ask(SPOKESMAN_Q, corpus=corpus_copy, settings=settings)

    chroma_server.start()  # same data folder, same port
    after = ask(SPOKESMAN_Q, corpus=corpus_copy, settings=settings)
    assert [(c.source, c.start, c.end) for c in after.citations] == [
        (c.source, c.start, c.end) for c in before.citations
    ]

    # A new process with an empty local folder (another machine): nothing is embedded again.
    subprocess_env["RAG_INDEX_DIR"] = str(tmp_path / "other-machine")
    out = _rag(subprocess_env, "index", str(corpus_copy), "--chroma-url", chroma_server.url)
    assert out.returncode == 0, out.stderr
    summary = out.stdout.strip().splitlines()[-1]
    assert summary.startswith("added 0, updated 0, removed 0, unchanged 2")
    assert "embedded" not in summary
    out = _rag(
        subprocess_env, "ask", SPOKESMAN_Q, "--corpus", str(corpus_copy), "--chroma-url", chroma_server.url, "--json"
    )
    assert out.returncode == 0, out.stderr
    cited = [(c["source"], c["start"], c["end"]) for c in json.loads(out.stdout)["citations"]]
    assert cited == [(c.source, c.start, c.end) for c in before.citations]


def test_two_documents_with_the_same_text_share_their_sentence_vectors(
    chroma_server: ChromaServer, corpus_copy: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "twins"
    shutil.copytree(corpus_copy, corpus)
    shutil.copy(corpus / "001_a1832f6365ab849e.txt", corpus / "copy_of_001.txt")
    settings = get_settings(index_dir=tmp_path / "local", chroma_url=chroma_server.url)
    build_index(corpus, settings=settings)
    a = ask(SPOKESMAN_Q, corpus=corpus, settings=settings)  # both copies are candidates
    assert "Liu Pengyu" in a.text
    assert {p.chunk.source for p in a.passages} >= {"001_a1832f6365ab849e.txt", "copy_of_001.txt"}
    assert_index_consistent(corpus, settings)


def test_two_machines_share_one_corpus_through_the_server(
    chroma_server: ChromaServer, corpus_copy: Path, tmp_path: Path
) -> None:
    """Two local folders and two copies of the corpus at different paths, one shared collection."""
    corpus_a = tmp_path / "a" / "docs"
    corpus_b = tmp_path / "b" / "shared-docs"
    shutil.copytree(corpus_copy, corpus_a)
    shutil.copytree(corpus_copy, corpus_b)
    common = {"chroma_url": chroma_server.url, "collection": "team-news"}
    machine_a = get_settings(index_dir=tmp_path / "a" / "local", **common)
    machine_b = get_settings(index_dir=tmp_path / "b" / "local", **common)

    assert len(build_index(corpus_a, settings=machine_a).added) == 2
    report_b = build_index(corpus_b, settings=machine_b)
    assert report_b.added == () and len(report_b.unchanged) == 2 and report_b.embedded == 0
    _check_citations(ask(SPOKESMAN_Q, corpus=corpus_b, settings=machine_b), corpus_b)

    # Machine A indexes a new document; B's running engine picks it up without indexing itself.
    note = "The harbour of Velmora was dredged in 2019 by the engineer Ottilie Brandt."
    for corpus in (corpus_a, corpus_b):
        (corpus / "velmora.txt").write_text(note + "\n", encoding="utf-8")
    assert build_index(corpus_a, settings=machine_a).added == ("velmora.txt",)
    get_engine(corpus_b, machine_b)._next_check = 0.0
    answer = ask("Who dredged the harbour of Velmora?", corpus=corpus_b, settings=machine_b)
    _check_citations(answer, corpus_b)
    assert answer.citations[0].source == "velmora.txt" and "Ottilie Brandt" in answer.text
    assert "velmora.txt" in get_engine(corpus_b, machine_b).manifest.documents

    # A removes it again; B stops citing it.
    for corpus in (corpus_a, corpus_b):
        (corpus / "velmora.txt").unlink()
    assert build_index(corpus_a, settings=machine_a).removed == ("velmora.txt",)
    get_engine(corpus_b, machine_b)._next_check = 0.0
    after = ask("Who dredged the harbour of Velmora?", corpus=corpus_b, settings=machine_b)
    assert all(c.source != "velmora.txt" for c in after.citations)
    assert "velmora.txt" not in get_engine(corpus_b, machine_b).manifest.documents
    assert_index_consistent(corpus_b, machine_b)


def test_repair_after_a_write_the_manifest_never_recorded(
    chroma_server: ChromaServer, corpus_copy: Path, tmp_path: Path
) -> None:
    """Chunks on the server that the shared manifest does not claim are removed on the next run."""
    settings = get_settings(index_dir=tmp_path / "local", chroma_url=chroma_server.url)
    build_index(corpus_copy, settings=settings)
    store = get_engine(corpus_copy, settings).store
    store.collection.add(ids=["orphan::0"], embeddings=[[0.1] * 384], documents=["left by a killed run"])
    manifest = store.load_manifest()
    dropped = sorted(manifest.documents)[0]
    del manifest.documents[dropped]  # as if the run died before recording this document
    store.save_manifest(manifest)
    report = build_index(corpus_copy, settings=settings)
    assert report.repaired >= 1 and report.added == (dropped,)
    assert report.embedded == 0 and report.reused > 0  # its vectors were still on the server
    assert_index_consistent(corpus_copy, settings)


def test_seed_eval_runs_against_the_server(
    chroma_server: ChromaServer, corpus_copy: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    out_dir = tmp_path / "eval"
    args = ["--corpus", str(corpus_copy), "--dataset", str(SEED_QA), "--limit", "8", "--modes", "hybrid"]
    out = _rag(subprocess_env, "eval", *args, "--out", str(out_dir), "--chroma-url", chroma_server.url)
    assert out.returncode == 0, out.stderr
    report = json.loads((out_dir / "report.json").read_text())
    assert report["n_questions"] == 8 and report["modes"]["hybrid"]["citations"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:{port}", "error: cannot reach the Chroma server at http://127.0.0.1:"),
        ("ftp://127.0.0.1:{port}", "error: invalid Chroma URL 'ftp://127.0.0.1:"),
    ],
)
def test_cli_reports_a_bad_chroma_url_in_one_line(
    url: str, message: str, corpus_copy: Path, subprocess_env: dict[str, str]
) -> None:
    chroma_url = url.format(port=free_port())
    out = _rag(subprocess_env, "ask", SPOKESMAN_Q, "--corpus", str(corpus_copy), "--chroma-url", chroma_url)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), out.stderr


# ---------------------------------------------------------------------------------------------
# the writer lease: two machines (two local folders) writing to one server collection


def _lease_record(url: str, collection: str) -> dict[str, object]:
    from rag.index.chroma import chroma_http_client
    from rag.index.lease import ServerLease

    return ServerLease(chroma_http_client(url), collection, 60).read()


def test_a_second_writer_is_refused_and_takes_over_after_the_holder_is_killed(
    chroma_server: ChromaServer, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    import signal

    words = (ROOT / "corpus" / "001_a1832f6365ab849e.txt").read_text(encoding="utf-8").split()
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for i in range(700):  # three batches of chunks: long enough to be killed half-way
        start = (i * 37) % (len(words) - 120)
        (corpus / f"doc_{i:03d}.txt").write_text(f"Document {i}.\n\n{' '.join(words[start : start + 120])}\n")
    env = dict(subprocess_env, RAG_CHROMA_URL=chroma_server.url, RAG_COLLECTION="team", RAG_LEASE_SECONDS="4")
    machine_a = dict(env, RAG_INDEX_DIR=str(tmp_path / "a"))
    machine_b = dict(env, RAG_INDEX_DIR=str(tmp_path / "b"))
    holder = subprocess.Popen(
        [sys.executable, "-m", "rag.faces.cli", "index", str(corpus), "-q"],
        env=machine_a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    from rag.index.chroma import chroma_http_client

    client = chroma_http_client(chroma_server.url)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and holder.poll() is None:
        names = {c.name for c in client.list_collections()}
        if "team" in names and client.get_collection("team").count() > 0:
            break
        time.sleep(0.2)
    assert holder.poll() is None, "the first writer finished before it could be interrupted"
    lease = _lease_record(chroma_server.url, "team")
    assert lease.get("kind") == "index" and lease.get("token")

    refused = _rag(machine_b, "index", str(corpus), "-q")
    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: index busy: team is being indexed by ") and " since 20" in line, line

    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    written = client.get_collection("team").count()
    assert written > 0
    while float(str(_lease_record(chroma_server.url, "team")["expiry"])) > time.time():
        time.sleep(0.2)  # the killed holder's lease runs out; nobody renews it
    took_over = _rag(machine_b, "index", str(corpus))
    assert took_over.returncode == 0, took_over.stderr
    assert "added 700" in took_over.stdout or "unchanged" in took_over.stdout, took_over.stdout
    assert "reused" in took_over.stdout  # the killed writer's vectors were kept, not re-encoded
    settings = get_settings(index_dir=tmp_path / "b", chroma_url=chroma_server.url, collection="team")
    assert len(get_engine(corpus, settings).store.load_manifest().documents) == 700
    assert_index_consistent(corpus, settings)
    assert not _lease_record(chroma_server.url, "team").get("token")  # released at the end

    clean = get_settings(index_dir=tmp_path / "clean")  # the same corpus, built in one clean run
    build_index(corpus, settings=clean)
    for q in (SPOKESMAN_Q, "What is document 7 about?"):
        got, want = ask(q, corpus=corpus, settings=settings), ask(q, corpus=corpus, settings=clean)
        assert [(c.source, c.start, c.end) for c in got.citations] == [
            (c.source, c.start, c.end) for c in want.citations
        ]


def test_a_writer_whose_lease_was_taken_over_stops_before_writing(chroma_server: ChromaServer) -> None:
    from rag.errors import IndexBusyError
    from rag.index.chroma import chroma_http_client
    from rag.index.lease import ServerLease

    client = chroma_http_client(chroma_server.url)
    stalled = ServerLease(client, "fenced", seconds=2)
    stalled.acquire()  # no heartbeat: as if the process stalled
    stalled.check()
    with pytest.raises(IndexBusyError, match=r"index busy: fenced is being indexed by .* since "):
        ServerLease(client, "fenced", seconds=2).acquire()
    time.sleep(2.2)
    successor = ServerLease(client, "fenced", seconds=30)
    successor.acquire()
    assert successor.taken_over is not None and successor.generation == stalled.generation + 1
    with pytest.raises(IndexBusyError, match="was taken over by"):
        stalled.check()
    stalled.release()  # not its lease any more: left alone
    assert _lease_record(chroma_server.url, "fenced")["token"] == successor.token
    successor.release()
    assert not _lease_record(chroma_server.url, "fenced")["token"]
