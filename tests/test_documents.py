"""DocumentSource: the current text of each document, what every quote is verified against."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rag.ingest.documents import DocumentSource
from rag.settings import get_settings

pytestmark = pytest.mark.unit


def source(corpus: Path, **overrides: object) -> DocumentSource:
    return DocumentSource(corpus.resolve(), get_settings(**overrides))


def test_text_follows_edits_and_deletions(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("First version.", encoding="utf-8")
    docs = source(tmp_path)
    assert docs.text("a.txt") == "First version."
    (tmp_path / "a.txt").write_text("Second version, longer.", encoding="utf-8")
    assert docs.text("a.txt") == "Second version, longer."
    st = (tmp_path / "a.txt").stat()
    (tmp_path / "a.txt").write_text("Third version, longer!", encoding="utf-8")  # same size
    os.utime(tmp_path / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert docs.text("a.txt") == "Third version, longer!"
    (tmp_path / "a.txt").unlink()
    assert docs.text("a.txt") is None


def test_quote_only_when_the_text_at_the_offsets_is_the_quote(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha beta. Gamma delta.", encoding="utf-8")
    docs = source(tmp_path)
    assert docs.quote("a.txt", 12, 24, "Gamma delta.") == "Gamma delta."
    assert docs.quote("a.txt", 12, 24, "Gamma delta!") is None
    assert docs.quote("a.txt", 11, 23, "Gamma delta.") is None
    assert docs.quote("missing.txt", 0, 5, "Alpha") is None


def test_nothing_outside_the_corpus_is_read(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    (corpus / "link.txt").symlink_to(tmp_path / "secret.txt")
    docs = source(corpus)
    assert docs.text("../secret.txt") is None
    assert docs.text("link.txt") is None
    assert docs.text("/etc/hostname") is None


def test_cache_stays_within_its_budget(tmp_path: Path) -> None:
    for i in range(10):
        (tmp_path / f"d{i}.txt").write_text(f"{i}" * 100, encoding="utf-8")
    docs = source(tmp_path, document_cache_bytes=350)
    for i in range(10):
        assert docs.text(f"d{i}.txt") == f"{i}" * 100
        assert docs._size <= 350
    assert list(docs._cache) == ["d7.txt", "d8.txt", "d9.txt"]  # least recently used out first
    docs.text("d7.txt")
    docs.text("d0.txt")
    assert list(docs._cache) == ["d9.txt", "d7.txt", "d0.txt"]
    assert source(tmp_path, document_cache_bytes=50).text("d1.txt") == "1" * 100  # too big to cache, still read


def test_jsonl_corpus_is_read_in_one_pass_and_follows_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.jsonl"
    rows = [{"id": f"r{i}", "text": f"Row {i} text."} for i in range(5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    docs = source(path)
    passes = []
    import rag.ingest.documents as module

    real = module.iter_jsonl_located
    monkeypatch.setattr(module, "iter_jsonl_located", lambda p: (passes.append(p), *real(p))[1:])
    assert docs.text("r3") == "Row 3 text."
    assert docs.text("r0") == "Row 0 text." and docs.text("nope") is None
    assert len(passes) == 1  # every text fit: a miss needs no second pass
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "r9", "text": "Added later."}) + "\n")
    assert docs.text("r9") == "Added later."
    assert len(passes) == 2
    small = source(path, document_cache_bytes=15)
    assert small.text("r4") == "Row 4 text." and small.text("r1") == "Row 1 text."


def test_a_jsonl_corpus_larger_than_the_cache_reads_one_line_per_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 100k chunks the texts outgrow the cache; a miss must not mean a pass over the whole file."""
    path = tmp_path / "c.jsonl"
    rows = [{"id": f"r{i}", "text": f"Row {i} says “caf\u00e9” {'x' * i}."} for i in range(200)]
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    docs = source(path, document_cache_bytes=300)  # a few texts at a time
    passes = []
    import rag.ingest.documents as module

    real = module.iter_jsonl_located
    monkeypatch.setattr(module, "iter_jsonl_located", lambda p: (passes.append(p), *real(p))[1:])
    for i in [0, 150, 3, 199, 0, 77, 150]:
        assert docs.text(f"r{i}") == rows[i]["text"]
    assert docs.text("absent") is None
    assert len(passes) == 1 and docs._size <= 300
    path.write_text(json.dumps({"id": "r0", "text": "Changed."}) + "\n", encoding="utf-8")
    assert docs.text("r0") == "Changed." and docs.text("r150") is None  # a new version: read again
    assert len(passes) == 2


def test_a_same_size_edit_with_the_mtime_restored_is_read_again(tmp_path: Path) -> None:
    """`touch -r` after an edit keeps size and mtime; the ctime moves, so the quote is checked anew."""
    path = tmp_path / "a.txt"
    path.write_text("The spokesman is Liu Pengyu.", encoding="utf-8")
    docs = source(tmp_path)
    assert docs.quote("a.txt", 17, 27, "Liu Pengyu") == "Liu Pengyu"
    st = path.stat()
    path.write_text("The spokesman is Donald Duk.", encoding="utf-8")  # same length
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size
    assert docs.quote("a.txt", 17, 27, "Liu Pengyu") is None
    assert docs.text("a.txt") == "The spokesman is Donald Duk."
    replacement = tmp_path / "b.tmp"  # replaced by a rename: a new inode
    replacement.write_text("The spokesman is Liu Pengyu.", encoding="utf-8")
    os.replace(replacement, path)
    assert docs.text("a.txt") == "The spokesman is Liu Pengyu."


@pytest.mark.timeout(30)
def test_a_fifo_in_place_of_a_document_is_refused_at_once(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "a.txt"
    path.write_text("Alpha beta.", encoding="utf-8")
    docs = source(tmp_path)
    assert docs.text("a.txt") == "Alpha beta."
    path.unlink()
    os.mkfifo(path)  # nobody writes to it: opening it for reading would block forever
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(docs.text("a.txt")), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive() and got == [None]
