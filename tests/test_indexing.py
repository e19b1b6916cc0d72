"""Incremental indexing on a real Chroma in a temp dir, with the bundled model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEFAULT_CORPUS, ROOT, assert_index_consistent, run_rag

from rag import ask, build_index
from rag.core import get_engine
from rag.errors import CorpusError, IndexBusyError
from rag.index.indexing import repair

pytestmark = pytest.mark.integration


def _state(corpus: Path, settings) -> dict[str, tuple[str, str, int, int]]:  # type: ignore[no-untyped-def]
    """chunk id -> (source, doc hash, start, end) as Chroma holds it."""
    store = get_engine(corpus, settings).store
    return {
        cid: (m["source"], m["doc_hash"], int(m["start"]), int(m["end"])) for cid, m in store.stored_chunks().items()
    }


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    dest = tmp_path / "docs"
    shutil.copytree(DEFAULT_CORPUS, dest)
    return dest


def test_first_build_then_nothing_to_do(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    first = build_index(corpus, settings=settings)
    assert sorted(first.added) == sorted(p.name for p in DEFAULT_CORPUS.glob("*.txt"))
    assert first.chunks > 2
    second = build_index(corpus, settings=settings)
    assert second.added == () and second.updated == () and second.removed == ()
    assert sorted(second.unchanged) == sorted(first.added)
    assert_index_consistent(corpus, settings)


def test_add_change_delete_keep_other_ids(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    build_index(corpus, settings=settings)
    before = _state(corpus, settings)
    a, b = sorted(p.name for p in corpus.glob("*.txt"))

    with (corpus / a).open("a", encoding="utf-8") as fh:
        fh.write("\nThe harbour of Valletta hosted a regatta of forty yachts.\n")
    (corpus / "notes").mkdir()
    (corpus / "notes" / "new.md").write_text("# Notes\n\nThe lighthouse keeper was Ada Brown.\n", encoding="utf-8")
    report = build_index(corpus, settings=settings)
    assert report.updated == (a,)
    assert report.added == ("notes/new.md",)
    assert report.unchanged == (b,)
    after = _state(corpus, settings)
    kept = {cid: v for cid, v in before.items() if v[0] == b}
    assert kept and all(after[cid] == v for cid, v in kept.items())  # untouched document, same ids
    assert_index_consistent(corpus, settings)

    (corpus / b).unlink()
    report = build_index(corpus, settings=settings)
    assert report.removed == (b,)
    assert not [v for v in _state(corpus, settings).values() if v[0] == b]
    assert_index_consistent(corpus, settings)


def test_touched_but_identical_file_is_not_reembedded(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    build_index(corpus, settings=settings)
    target = sorted(corpus.glob("*.txt"))[0]
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    report = build_index(corpus, settings=settings)
    assert target.name in report.unchanged and report.updated == ()


def test_bad_files_are_reported_and_skipped(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    (corpus / "empty.txt").write_text("")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00")
    (corpus / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))  # decoded: Western text
    (corpus / "broken.txt").write_bytes(b"caf\xc3 cr\xc3\xa8me")  # UTF-8 with a damaged sequence
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<\n")
    (corpus / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    report = build_index(corpus, settings=settings)
    reasons = {s.source: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "broken.txt", "broken.pdf", "sheet.xlsx"}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["broken.txt"]
    assert "PDF" in reasons["broken.pdf"]
    assert "unsupported" in reasons["sheet.xlsx"]
    assert len(report.added) == 3 and "latin1.txt" in report.added
    assert_index_consistent(corpus, settings)


def test_corpus_without_readable_documents(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.txt").write_bytes(b"\xff\xfe\x00\x00")
    with pytest.raises(CorpusError, match="no readable document"):
        build_index(bad, settings=settings)
    with pytest.raises(CorpusError, match="does not exist"):
        build_index(tmp_path / "missing", settings=settings)


def test_repair_removes_orphans_and_refills_gaps(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    build_index(corpus, settings=settings)
    clean = _state(corpus, settings)
    store = get_engine(corpus, settings).store
    victim = sorted(clean)[0]
    store.delete_ids([victim])  # a chunk lost mid-write
    store.collection.add(  # a chunk the manifest never recorded
        ids=["ffffffffffffffff-00000"],
        embeddings=[[0.1] * 384],
        documents=["orphan"],
        metadatas=[{"source": "gone.txt", "doc_hash": "x", "start": 0, "end": 6, "index": 0}],
    )
    manifest = store.load_manifest()
    deleted, rebuilt, _ = repair(store, manifest)
    assert deleted == 1 and rebuilt == {clean[victim][0]}
    report = build_index(corpus, settings=settings)
    assert report.updated == (clean[victim][0],)
    assert _state(corpus, settings) == clean
    assert_index_consistent(corpus, settings)


def test_repair_reencodes_only_the_lost_chunk(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    first = build_index(corpus, settings=settings)
    clean = _state(corpus, settings)
    store = get_engine(corpus, settings).store
    victim = sorted(clean)[0]
    source = clean[victim][0]
    store.delete_ids([victim])  # a chunk lost mid-write
    report = build_index(corpus, settings=settings)
    n = sum(1 for entry in clean.values() if entry[0] == source)
    assert report.updated == (source,) and (report.embedded, report.reused) == (1, n - 1)
    assert first.embedded == first.chunks
    assert _state(corpus, settings) == clean


def test_unchanged_text_is_never_encoded_again(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """An edit re-encodes only the chunks whose text changed; a rename re-encodes nothing."""
    build_index(corpus, settings=settings)
    name = sorted(p.name for p in corpus.iterdir())[0]
    path = corpus / name
    path.write_text(
        path.read_text(encoding="utf-8") + "\n\nA closing paragraph added by an editor.\n", encoding="utf-8"
    )
    edited = build_index(corpus, settings=settings)
    assert edited.updated == (name,)
    assert 1 <= edited.embedded <= 2 and edited.reused >= 1  # only the tail chunk(s) changed
    path.rename(corpus / ("renamed-" + name))
    renamed = build_index(corpus, settings=settings)
    assert renamed.added == ("renamed-" + name,) and renamed.removed == (name,)
    assert renamed.embedded == 0 and renamed.reused == edited.embedded + edited.reused
    answer = ask("Who is the Chinese Embassy spokesman?", corpus=corpus, settings=settings)
    for c in answer.citations:
        assert (corpus / c.source).read_text(encoding="utf-8")[c.start : c.end] == c.quote
    assert_index_consistent(corpus, settings)


def test_a_running_engine_follows_what_another_process_indexed(
    corpus: Path,
    settings,  # type: ignore[no-untyped-def]
    subprocess_env: dict[str, str],
) -> None:
    build_index(corpus, settings=settings)
    question = "Who dredged the harbour of Velmora?"
    assert all(c.source != "velmora.txt" for c in ask(question, corpus=corpus, settings=settings).citations)
    (corpus / "velmora.txt").write_text("The harbour of Velmora was dredged by Ottilie Brandt.\n", encoding="utf-8")
    subprocess_env["RAG_INDEX_DIR"] = str(settings.index_dir)
    cmd = [sys.executable, "-m", "rag.faces.cli", "index", str(corpus), "--quiet"]
    out = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.startswith("added 1,"), out.stderr
    get_engine(corpus, settings)._next_check = 0.0  # skip the pause between two checks
    answer = ask(question, corpus=corpus, settings=settings)
    assert answer.citations[0].source == "velmora.txt" and "Ottilie Brandt" in answer.text


def test_a_long_document_is_written_over_several_batches(
    corpus: Path, settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A document with more chunks than a batch is written in parts; the manifest claims it only
    once its last part is in, so a run killed in between leaves nothing half-claimed."""
    from rag.core import get_engine

    monkeypatch.setattr("rag.index.indexing.BATCH_CHUNKS", 3)
    store = get_engine(corpus, settings).store
    real_add = store.add_chunks
    calls = []

    def add_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(args[0]))
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if killed after the first part
        return real_add(*args, **kwargs)

    monkeypatch.setattr(store, "add_chunks", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        build_index(corpus, settings=settings)
    assert calls[0] == 3 and len(calls) == 2
    assert store.load_manifest().documents == {}  # no document claimed: its first part is unclaimed
    monkeypatch.setattr(store, "add_chunks", real_add)
    report = build_index(corpus, settings=settings)
    assert report.repaired == 3 and report.reused >= 3  # the killed run's part: deleted, vectors kept
    assert len(report.added) == 2 and report.chunks > 6
    assert_index_consistent(corpus, settings)


def test_second_writer_gets_index_busy(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    build_index(corpus, settings=settings)
    store = get_engine(corpus, settings).store
    with store.write_lock(), pytest.raises(IndexBusyError, match="index busy"):
        build_index(corpus, settings=settings)


def test_chunking_change_rebuilds_everything(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    build_index(corpus, settings=settings)
    smaller = settings.model_copy(update={"chunk_tokens": 64, "chunk_overlap": 8})
    report = build_index(corpus, settings=smaller)
    assert len(report.added) == 2 and report.chunks > build_index(corpus, settings=settings).chunks // 2


def _make_big_corpus(root: Path, n: int) -> None:
    root.mkdir()
    words = (DEFAULT_CORPUS / "001_a1832f6365ab849e.txt").read_text(encoding="utf-8").split()
    for i in range(n):
        start = (i * 37) % (len(words) - 120)
        body = " ".join(words[start : start + 120])
        (root / f"doc_{i:04d}.txt").write_text(f"Document {i}.\n\n{body}\n", encoding="utf-8")


@pytest.mark.parametrize("delay", [0.0, 0.6, 1.5])
def test_killed_index_run_is_repaired(tmp_path: Path, subprocess_env: dict[str, str], delay: float) -> None:
    """SIGKILL `rag index` once it has written part of the index; the rerun equals a clean build."""
    corpus = tmp_path / "big"
    _make_big_corpus(corpus, 800)  # 300 were indexed within 1.5 s of the first manifest on an idle machine
    index_dir = Path(subprocess_env["RAG_INDEX_DIR"])
    cmd = [sys.executable, "-m", "rag.faces.cli", "index", str(corpus), "--quiet"]
    proc = subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if list(index_dir.glob("*/manifest.json")):
            break
        time.sleep(0.05)
    time.sleep(delay)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed, "indexing finished before it could be killed; enlarge the corpus"

    rerun = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr

    from rag.settings import get_settings

    settings = get_settings(index_dir=index_dir)
    assert_index_consistent(corpus, settings)
    interrupted = _state(corpus, settings)
    clean_settings = get_settings(index_dir=tmp_path / "clean")
    build_index(corpus, settings=clean_settings)
    assert interrupted == _state(corpus, clean_settings)
    assert len({v[0] for v in interrupted.values()}) == 800


def test_kill_loop_with_edits_between_rounds(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    """Rounds of: edit, add and delete files, SIGKILL `rag index` 1-3 times at random moments, rerun.

    After every round the index is consistent; at the end it equals a clean build. CI runs 2
    rounds; ``RAG_KILL_ROUNDS=30`` (and ``RAG_KILL_SEED``) is the long run RELIABILITY.md reports.
    """
    import random

    rounds = int(os.environ.get("RAG_KILL_ROUNDS", "2"))
    rng = random.Random(int(os.environ.get("RAG_KILL_SEED", "7")))
    corpus = tmp_path / "big"
    _make_big_corpus(corpus, 200)
    index_dir = Path(subprocess_env["RAG_INDEX_DIR"])
    cmd = [sys.executable, "-m", "rag.faces.cli", "index", str(corpus), "--quiet"]
    from rag.settings import get_settings

    settings = get_settings(index_dir=index_dir)
    kills = 0
    next_id = 10_000
    for _ in range(rounds):
        files = sorted(corpus.iterdir())
        for path in rng.sample(files, 10):
            path.write_text(path.read_text(encoding="utf-8") + f"\nRevision {rng.random()}.\n", encoding="utf-8")
        for path in rng.sample(files, 3):
            path.unlink(missing_ok=True)
        for _ in range(5):
            (corpus / f"doc_{next_id}.txt").write_text(f"Document {next_id} about canal {rng.random()}.\n")
            next_id += 1
        for _ in range(rng.randint(1, 3)):
            proc = subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.5, 9.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        rerun = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        assert_index_consistent(corpus, settings)
    assert kills >= 1
    clean_settings = get_settings(index_dir=tmp_path / "clean")
    build_index(corpus, settings=clean_settings)
    assert _state(corpus, settings) == _state(corpus, clean_settings)
    print(f"kill loop: {rounds} rounds, {kills} kills, index equal to a clean build")


# --- damaged manifests and edits that hide from size and mtime ---

MANIFEST_DAMAGE = {
    "chunks_as_string": lambda d: {**d, "documents": {k: {**v, "chunks": "1"} for k, v in d["documents"].items()}},
    "chunks_negative": lambda d: {**d, "documents": {k: {**v, "chunks": -3} for k, v in d["documents"].items()}},
    "documents_null": lambda d: {**d, "documents": None},
    "top_level_list": lambda d: [d],
    "unknown_field": lambda d: {**d, "documents": {k: {**v, "colour": "red"} for k, v in d["documents"].items()}},
    "hash_not_hex": lambda d: {**d, "documents": {k: {**v, "hash": 7} for k, v in d["documents"].items()}},
}


@pytest.mark.integration
@pytest.mark.parametrize("damage", sorted(MANIFEST_DAMAGE))
def test_damaged_manifest_is_repaired_and_answers_match_a_clean_build(
    damage: str, corpus: Path, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import json

    from conftest import assert_index_consistent

    from rag import ask
    from rag.core import get_engine

    question = "Who is the Chinese Embassy spokesman quoted about Ukraine?"
    build_index(corpus, settings=settings)
    clean = ask(question, corpus=corpus, settings=settings)
    path = get_engine(corpus, settings).store.manifest_path
    path.write_text(json.dumps(MANIFEST_DAMAGE[damage](json.loads(path.read_text()))))
    report = build_index(corpus, settings=settings)
    assert report.embedded == 0  # every vector was reused
    assert_index_consistent(corpus, settings)
    again = ask(question, corpus=corpus, settings=settings)
    assert (again.text, again.citations) == (clean.text, clean.citations)
    assert get_engine(corpus, settings).store.load_manifest().documents  # and the manifest is whole again


@pytest.mark.integration
def test_an_edit_that_restores_size_and_mtime_is_still_reindexed(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    import os

    from rag import ask

    doc = corpus / "vault.txt"
    doc.write_text("The vault code of the Ostra bank is 4417.\n", encoding="utf-8")
    build_index(corpus, settings=settings)
    st = doc.stat()
    doc.write_text("The vault code of the Ostra bank is 9032.\n", encoding="utf-8")  # same size
    os.utime(doc, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `touch -r` would
    assert doc.stat().st_size == st.st_size and doc.stat().st_mtime_ns == st.st_mtime_ns
    report = build_index(corpus, settings=settings)
    assert report.updated == ("vault.txt",)
    assert "9032" in ask("What is the vault code of the Ostra bank?", corpus=corpus, settings=settings).text
    again = build_index(corpus, settings=settings, rehash=True)  # reads and hashes every file
    assert again.updated == () and "vault.txt" in again.unchanged and again.embedded == 0


@pytest.mark.integration
@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_damaged_database_names_the_fix_and_rebuild_keeps_the_old_folder(
    damage: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    corpus = tmp_path / "docs"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    index_dir = Path(subprocess_env["RAG_INDEX_DIR"])

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return run_rag(subprocess_env, *args)

    question = "Who is the Chinese Embassy spokesman quoted about Ukraine?"
    assert rag("index", str(corpus)).returncode == 0
    clean = rag("ask", question, "--corpus", str(corpus), "--json")
    db = index_dir / "chroma" / "chroma.sqlite3"
    size = db.stat().st_size
    with db.open("r+b") as fh:
        if damage == "truncated":
            fh.truncate(size // 2)
        else:
            fh.write(b"not a database " * 64)
    for args in (("ask", question, "--corpus", str(corpus)), ("index", str(corpus))):
        broken = rag(*args)
        assert broken.returncode == 1 and "Traceback" not in broken.stderr
        [line] = broken.stderr.strip().splitlines()
        assert line.startswith(f"error: the index in {index_dir} is damaged (")
        assert line.endswith("`rag index --rebuild` moves it aside and rebuilds it")
    rebuilt = rag("index", str(corpus), "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    [kept] = [p for p in index_dir.parent.iterdir() if p.name.startswith(index_dir.name + ".damaged-")]
    assert (kept / "chroma" / "chroma.sqlite3").exists()  # moved aside, never deleted
    again = rag("ask", question, "--corpus", str(corpus), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["citations"] == json.loads(clean.stdout)["citations"]


@pytest.fixture()
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real 3 MB tmpfs for the index (needs the right to mount, as in the project's CI container)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.integration
def test_a_full_disk_fails_in_one_line_and_the_last_index_answers(
    small_disk: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    import random

    corpus = tmp_path / "docs"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    env = {**subprocess_env, "RAG_INDEX_DIR": str(small_disk)}

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return run_rag(env, *args)

    question = "Who is the Chinese Embassy spokesman quoted about Ukraine?"
    assert rag("index", str(corpus), "-q").returncode == 0
    before = json.loads(rag("ask", question, "--corpus", str(corpus), "--json").stdout)
    rng = random.Random(1)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "river",
        "city",
        "harbour",
        "bridge",
        "tower",
        "market",
        "school",
        "garden",
    ]
    for i in range(300):
        (corpus / f"gen{i:03d}.txt").write_text(" ".join(rng.choice(words) for _ in range(300)) + ".\n")
    full = rag("index", str(corpus), "-q")
    assert full.returncode == 1 and "Traceback" not in full.stderr
    [line] = full.stderr.strip().splitlines()
    assert line.startswith(f"error: no space left for the index in {small_disk}: ")
    after = rag("ask", question, "--corpus", str(corpus), "--json")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["citations"] == before["citations"]


@pytest.mark.integration
def test_index_format_versions(corpus: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from rag import ask
    from rag.core import get_engine
    from rag.errors import StoreError
    from rag.index.chroma import MANIFEST_VERSION

    question = "Who is the Chinese Embassy spokesman quoted about Ukraine?"
    build_index(corpus, settings=settings)
    clean = ask(question, corpus=corpus, settings=settings)
    path = get_engine(corpus, settings).store.manifest_path
    data = json.loads(path.read_text())
    assert data["version"] == MANIFEST_VERSION
    older = {
        **data,
        "version": 1,
        "documents": {k: {f: v for f, v in e.items() if f != "ctime_ns"} for k, e in data["documents"].items()},
    }
    path.write_text(json.dumps(older))
    report = build_index(corpus, settings=settings)  # read, then upgraded: files re-read once, nothing re-embedded
    assert report.embedded == 0 and report.added == () and json.loads(path.read_text())["version"] == MANIFEST_VERSION
    assert all(e["ctime_ns"] > 0 for e in json.loads(path.read_text())["documents"].values())
    path.write_text(json.dumps({**data, "version": MANIFEST_VERSION + 1}))
    with pytest.raises(StoreError, match=rf"has format {MANIFEST_VERSION + 1}, newer than this rag reads"):
        build_index(corpus, settings=settings)
    path.write_text(json.dumps(data))
    assert ask(question, corpus=corpus, settings=settings).citations == clean.citations

    # Format 2 named chunks "<doc key>-<index>", without the document version: re-keyed once.
    col = get_engine(corpus, settings).store.collection
    got = col.get(include=["embeddings", "documents", "metadatas"])
    col.delete(ids=got["ids"])
    col.add(
        ids=[cid.split("-")[0] + "-" + cid.split("-")[2] for cid in got["ids"]],
        embeddings=got["embeddings"],
        documents=got["documents"],
        metadatas=got["metadatas"],
    )
    path.write_text(json.dumps({**data, "version": 2}))
    report = build_index(corpus, settings=settings)
    assert report.upgraded_from == 2 and report.embedded == 0 and report.repaired == 0
    assert report.updated == () and len(report.unchanged) == len(data["documents"])
    assert "upgraded the index from format 2" in report.summary()
    assert json.loads(path.read_text())["version"] == MANIFEST_VERSION
    assert ask(question, corpus=corpus, settings=settings).citations == clean.citations
    assert build_index(corpus, settings=settings).upgraded_from == 0


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_a_read_only_index_answers_and_indexing_says_why(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    import tempfile

    from conftest import read_only

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    assert run_rag(subprocess_env, "index", str(corpus), "--quiet").returncode == 0
    copies = lambda: sorted(Path(tempfile.gettempdir()).glob("rag-readonly-index-*"))  # noqa: E731
    before = copies()
    with read_only(Path(subprocess_env["RAG_INDEX_DIR"])):
        asked = run_rag(
            subprocess_env, "ask", "Who is the Chinese Embassy spokesman quoted about Ukraine?", "--corpus", str(corpus)
        )
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout.splitlines()[0] == "Liu Pengyu"
        assert "is read-only; answering from a copy of it" in asked.stderr
        checked = run_rag(subprocess_env, "check", str(corpus))
        assert checked.returncode == 0 and "index ok: 2 documents" in checked.stdout, checked.stdout + checked.stderr
        indexed = run_rag(subprocess_env, "index", str(corpus))
        assert indexed.returncode == 1
        assert indexed.stderr.strip().splitlines()[-1].startswith("error: the index in ")
        assert "is read-only: questions are answered from it as it is" in indexed.stderr
    assert copies() == before  # each process removed its copy


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_rebuild_holds_the_writer_lock_and_readers_keep_answering(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    from rag.settings import get_settings

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    for i in range(150):  # enough that the rebuild outlasts a second `rag index` starting up
        words = " ".join(f"harbour{i} crane{j} ledger{i * j % 97}." for j in range(120))
        (corpus / f"log-{i:03}.txt").write_text(f"Harbour log {i}.\n\n{words}\n", encoding="utf-8")
    settings = get_settings(index_dir=Path(subprocess_env["RAG_INDEX_DIR"]))
    build_index(corpus, settings=settings)
    q = "Who is the Chinese Embassy spokesman quoted about Ukraine?"
    assert ask(q, corpus=corpus, settings=settings).short.text == "Liu Pengyu"  # type: ignore[union-attr]
    staging = settings.index_dir.with_name(f"{settings.index_dir.name}.rebuilding")
    rebuild = subprocess.Popen(
        [sys.executable, "-m", "rag.faces.cli", "index", str(corpus), "--rebuild", "--quiet"],
        env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while not staging.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert staging.exists(), "the rebuild did not start"
        second = run_rag(subprocess_env, "index", str(corpus))
        assert staging.exists(), "the rebuild ended before the second run could meet it; make the corpus bigger"
        assert second.returncode == 1 and "index busy" in second.stderr, second.stderr
        during = ask(q, corpus=corpus, settings=settings)  # a reader, while the new index is built
        assert not during.abstained and during.short is not None and during.short.text == "Liu Pengyu"
        _, err = rebuild.communicate(timeout=480)
    finally:
        if rebuild.poll() is None:
            rebuild.kill()
    assert rebuild.returncode == 0, err
    assert "moved the old index to" in err and not staging.exists()
    assert list(tmp_path.glob("cli-index.previous-*")) and not list(tmp_path.glob("cli-index.damaged-*"))
    time.sleep(1.1)  # the reader looks for another process's index once a second
    after = ask(q, corpus=corpus, settings=settings)
    assert after.short is not None and after.short.text == "Liu Pengyu"
    assert_index_consistent(corpus, settings)
