"""The `rag` command: output, JSON, and one-line errors with exit code 1."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import run_rag

from rag.faces.cli import cli

pytestmark = pytest.mark.integration

Q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"


def test_index_then_ask_json(corpus_copy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    index_dir = str(tmp_path / "idx")
    res = runner.invoke(cli, ["index", str(corpus_copy), "--index-dir", index_dir])
    assert res.exit_code == 0, res.output
    assert "added: " not in res.output  # one summary line, not a line per document
    assert res.output.strip().splitlines() == [
        "added 2, updated 0, removed 0, unchanged 0, skipped 0 (15 chunks in the index); embedded 15 chunks, reused 0 unchanged vectors"
    ]

    res = runner.invoke(cli, ["ask", Q, "--corpus", str(corpus_copy), "--index-dir", index_dir, "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert set(payload) == {"text", "abstained", "confidence", "short", "citations"}
    assert 0.5 < payload["confidence"] <= 1
    assert "Liu Pengyu" in payload["text"] and payload["abstained"] is False
    c = payload["citations"][0]
    # the answer's one JSON (rag.faces.present.answer_json): each citation names its document's title
    assert set(c) == {"source", "start", "end", "quote", "score", "title"} and c["title"]
    assert (corpus_copy / c["source"]).read_text(encoding="utf-8")[c["start"] : c["end"]] == c["quote"]

    res = runner.invoke(cli, ["index", str(corpus_copy), "--index-dir", index_dir, "--json"])
    report = json.loads(res.output)
    assert report["added"] == [] and report["unchanged"] == 2 and report["chunks"] == 15 and report["skipped"] == []
    res = runner.invoke(cli, ["index", str(corpus_copy), "--index-dir", index_dir, "--verbose"])
    assert "added 0, updated 0, removed 0, unchanged 2" in res.output


def test_ask_plain_text_lists_citations_and_related(corpus_copy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--corpus", str(corpus_copy), "--index-dir", str(tmp_path / "idx")]
    res = runner.invoke(cli, ["ask", Q, "--mode", "bm25", "--top-k", "3", *args])
    assert res.exit_code == 0
    assert "[1] 001_a1832f6365ab849e.txt [" in res.output
    assert "\nconfidence 0." in res.output or "\nconfidence 1.00" in res.output
    res = runner.invoke(cli, ["ask", "What is the boiling point of mercury?", *args])
    assert res.output.startswith("The corpus does not say")
    assert "Related, but not an answer:" in res.output
    assert "confidence" not in res.output  # a refusal shows no "probability that the answer is right"
    res = runner.invoke(cli, ["ask", "What is the boiling point of mercury?", "--json", *args])
    payload = json.loads(res.output)
    assert payload["abstained"] and payload["citations"] == [] and len(payload["related"]) == 3
    for p in payload["related"]:  # the same passages the text lists, each an exact span
        assert (corpus_copy / p["source"]).read_text(encoding="utf-8")[p["start"] : p["end"]] == p["text"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "error: question is empty"),
        (["ask", "x" * 2001], "error: question is too long (2001 characters; the limit is 2000)"),
        (["ask", "Who \udcff?"], "error: question is not valid text: an undecodable character at position 4"),
        (["ask", "hello", "--corpus", "/no/such/corpus"], "error: corpus path does not exist: /no/such/corpus"),
        (["index", "/no/such/corpus"], "error: corpus path does not exist: /no/such/corpus"),
    ],
)
def test_errors_are_one_line_and_exit_1(args: list[str], message: str, subprocess_env: dict[str, str]) -> None:
    proc = run_rag(subprocess_env, *args, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == message
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_corpus_without_readable_documents_exits_1(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_bytes(b"\x00\x00binary")
    (bad / "b.txt").write_text("   \n")
    proc = subprocess.run(
        [sys.executable, "-m", "rag.faces.cli", "index", str(bad)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no readable document in corpus")
    assert "Traceback" not in proc.stderr


def test_invalid_setting_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["ask", Q], env={"RAG_TOP_K": "0", "RAG_INDEX_DIR": str(tmp_path)})
    assert res.exit_code == 2
    assert "invalid setting top_k" in res.output


@pytest.mark.integration
def test_index_shows_a_progress_bar_on_a_terminal_only(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    import os
    import pty
    import subprocess
    import sys

    corpus = tmp_path / "many"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"note{i:02d}.txt").write_text(f"Note {i}: the ferry number {i} leaves at {i % 12 + 1} o'clock.\n")
    env = {**subprocess_env, "RAG_INDEX_DIR": str(tmp_path / "index")}
    leader, follower = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a 120-column terminal
    proc = subprocess.run(
        [sys.executable, "-m", "rag.faces.cli", "index", str(corpus)],
        env=env, stdout=subprocess.PIPE, stderr=follower, text=True, timeout=300,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    while True:
        try:
            block = os.read(leader, 65536)
        except OSError:
            break
        if not block:
            break
        seen += block
    os.close(leader)
    assert proc.returncode == 0
    bar = seen.decode("utf-8", "replace")
    assert "30/30" in bar and "doc/s" in bar and "chunks/s" in bar, bar[-400:]
    assert proc.stdout.strip().startswith("added 30, updated 0")  # the summary, not 30 lines
    piped = run_rag(env, "index", str(corpus), "--rehash")
    assert "doc/s" not in piped.stderr and "\r" not in piped.stderr  # logs and pipes get no bar
    assert "indexing: " not in piped.stderr  # a run shorter than RAG_PROGRESS_EVERY_S says nothing more
    # ... but a long run prints lines as it goes (here every moment), so a log shows it moving
    logged = run_rag({**env, "RAG_PROGRESS_EVERY_S": "0"}, "index", str(corpus), "--rehash")
    lines = [line for line in logged.stderr.splitlines() if line.startswith("indexing: ")]
    assert lines[0].startswith("indexing: 1/30 doc (3%)") and lines[-1].startswith("indexing: 30/30 doc (100%)")
    assert "\r" not in logged.stderr


@pytest.mark.integration
def test_progress_moves_inside_one_big_document(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    # The bar counted documents only: a single big file sat at "1/1 doc" with nothing more
    # until it was done, and a piped run printed one line at its start.
    corpus = tmp_path / "one"
    corpus.mkdir()
    sentences = (f"Ferry {i} leaves pier {i % 40} at {i % 12 + 1} o'clock on weekdays." for i in range(2400))
    (corpus / "timetable.txt").write_text(" ".join(sentences) + "\n", encoding="utf-8")
    env = {**subprocess_env, "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CHUNK_TOKENS": "32"}
    env["RAG_CHUNK_OVERLAP"] = "0"
    logged = run_rag({**env, "RAG_PROGRESS_EVERY_S": "0"}, "index", str(corpus))
    assert logged.returncode == 0, logged.stderr
    inside = re.findall(r"timetable\.txt (\d+)/(\d+)", logged.stderr)
    assert len(inside) >= 2, logged.stderr[-600:]  # a line after each batch of the one document
    done = [int(a) for a, _ in inside]
    assert done == sorted(done) and done[0] < int(inside[0][1])
    assert "\r" not in logged.stderr


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_the_first_ask_on_a_machine_with_no_model_export_answers(tmp_path: Path) -> None:
    """`rag ask` loads spaCy (torch blocked for its import) beside the first ONNX export (torch):
    before the fix that race ended in `import of torch halted` on a fresh machine."""
    from conftest import DEFAULT_CORPUS, NETGUARD_DIR

    from rag.offline import OFFLINE_ENV

    env = {**os.environ, **OFFLINE_ENV, "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CACHE_DIR": str(tmp_path / "c")}
    env["PYTHONPATH"] = str(NETGUARD_DIR)
    done = run_rag(
        env, "ask", "Who is the Chinese Embassy spokesman quoted about Ukraine?", "--corpus", str(DEFAULT_CORPUS)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Liu Pengyu"
    assert list((tmp_path / "c" / "onnx").rglob("model-*.onnx"))  # this run made the export


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_a_face_starts_while_another_process_holds_the_writer_lock(
    cli_corpus: tuple[Path, Any], subprocess_env: dict[str, str]
) -> None:
    """`rag serve` beside another face (or a `rag index`) on one corpus: readers never need the lock."""
    import socket
    import time

    import httpx
    from conftest import free_port

    from rag.index.chroma import collection_name
    from rag.index.store import folder_lock

    corpus, settings = cli_corpus
    port = free_port()
    with folder_lock(settings.index_dir / collection_name(corpus.resolve(), settings), str(corpus)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.faces.cli", "serve", "--corpus", str(corpus), "--port", str(port)],
            env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.time() + 200
            while time.time() < deadline and proc.poll() is None:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                time.sleep(0.5)
            assert proc.poll() is None, proc.communicate()[1]
            r = httpx.post(f"http://127.0.0.1:{port}/v1/ask", json={"question": "Who is Qin Gang?"}, timeout=60)
            assert r.status_code == 200 and "Qin Gang" in r.json()["text"]
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
    assert "another process is indexing: answering from the index as it is (2 documents)" in err


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_output_into_a_closed_pipe_or_a_file_stays_clean(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    """`rag ask` into a closed pipe says nothing on stderr; `rag eval` into a file writes lines, not ``\r`` redraws."""
    from conftest import DEFAULT_CORPUS, ROOT, SEED_QA

    err = tmp_path / "err.txt"
    cmd = (
        f"{sys.executable} -m rag.faces.cli ask 'Who is the Chinese Embassy spokesman?' --corpus {DEFAULT_CORPUS} --json "
        f"2>{err} | head -1"
    )
    done = subprocess.run(
        ["bash", "-c", cmd], env=subprocess_env, capture_output=True, text=True, timeout=240, cwd=ROOT
    )
    assert done.stdout.strip() == "{" and err.read_text() == "", err.read_text()
    log = tmp_path / "eval.log"
    with log.open("w") as fh:
        subprocess.run(  # a line for each question, as a long run would print every 30 s
            [sys.executable, "-m", "rag.faces.cli", "eval", "--corpus", str(DEFAULT_CORPUS), "--dataset", str(SEED_QA),
             "--limit", "20", "--modes", "hybrid", "--out", str(tmp_path / "out")],
            env={**subprocess_env, "RAG_PROGRESS_EVERY_S": "0"}, stdout=subprocess.DEVNULL, stderr=fh, timeout=240,
            cwd=ROOT, check=True,
        )  # fmt: skip
    text = log.read_text()
    assert "\r" not in text and "eval hybrid: 20/20 q (100%)" in text, text[-500:]


def test_a_refusal_shows_each_related_passage_at_its_closest_sentence(corpus_copy: Path, tmp_path: Path) -> None:
    """The previews showed each chunk from its start, so the sentence nearest an answer was cut off."""
    runner = CliRunner()
    args = ["--corpus", str(corpus_copy), "--index-dir", str(tmp_path / "idx")]
    refusal = "What is the boiling point of mercury?"
    payload = json.loads(runner.invoke(cli, ["ask", refusal, "--json", *args]).output)
    assert payload["abstained"]
    closest = [p["closest"] for p in payload["related"]]
    assert all(c is not None for c in closest)
    for p, c in zip(payload["related"], closest, strict=True):
        text = (corpus_copy / p["source"]).read_text(encoding="utf-8")
        assert text[c["start"] : c["end"]] == c["text"] and p["start"] <= c["start"] < c["end"] <= p["end"]
    assert any(
        c["start"] > p["start"] for p, c in zip(payload["related"], closest, strict=True)
    )  # not the chunk's start
    out = runner.invoke(cli, ["ask", refusal, *args]).output
    for p, c in zip(payload["related"], closest, strict=True):
        assert f"- {p['source']} [{c['start']}:{c['end']}] {' '.join(c['text'].split())[:60]}" in out


def test_ask_takes_the_conversation_so_far(corpus_copy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--corpus", str(corpus_copy), "--index-dir", str(tmp_path / "idx"), "--json"]
    q, before = "What did he say about the conflict?", "Who is the Chinese Embassy spokesman quoted about Ukraine?"
    alone = json.loads(runner.invoke(cli, ["ask", q, *args]).output)
    assert alone["abstained"]  # "he" is nobody yet
    res = runner.invoke(cli, ["ask", q, "--history", before, *args])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert not payload["abstained"] and "Liu Pengyu said" in payload["text"]
