"""`rag check [--repair]` on a real index: each kind of damage is named in one line, and repaired."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DEFAULT_CORPUS, assert_index_consistent

from rag.check import check_index
from rag.cli import cli


@pytest.fixture()
def indexed(tmp_path: Path):  # type: ignore[no-untyped-def]
    from rag import build_index
    from rag.settings import get_settings

    corpus = tmp_path / "docs"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    settings = get_settings(index_dir=tmp_path / "index")
    build_index(corpus, settings=settings)
    return corpus, settings


def _damage(kind: str, corpus: Path, settings) -> str:  # type: ignore[no-untyped-def]
    """Damage the index one way; return the words its problem line must hold."""
    from rag.core import get_engine

    store = get_engine(corpus, settings).store
    ids = sorted(store.stored_chunks())
    if kind == "lost_chunk":
        store.delete_ids([ids[0]])
        return "is in the manifest but not stored"
    if kind == "orphan_chunk":
        store.collection.add(
            ids=["stray-1"], embeddings=[[0.1] * 384], documents=["stray"], metadatas=[{"source": "gone.txt"}]
        )
        return "chunk stray-1 of gone.txt is stored but not in the manifest"
    if kind == "altered_text":
        vector = store.collection.get(ids=[ids[1]], include=["embeddings"])["embeddings"][0]
        store.collection.update(ids=[ids[1]], embeddings=[vector], documents=["Not what the document says."])
        return f"chunk {ids[1]} does not equal"
    if kind == "edited_document":
        doc = sorted(corpus.glob("*.txt"))[0]
        doc.write_text(doc.read_text(encoding="utf-8").replace("Ukraine", "Ukrainia"), encoding="utf-8")
        return f"{doc.name} changed since it was indexed"
    if kind == "bm25_cut_short":
        meta = store.dir / "bm25" / "ids.json"
        data = json.loads(meta.read_text())
        meta.write_text(json.dumps({**data, "ids": data["ids"][:-1]}))
        return "the saved BM25 index does not match the manifest"
    raise AssertionError(kind)


@pytest.mark.integration
def test_a_whole_index_checks_ok(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    report = check_index(corpus, settings)
    assert report.problems == () and report.documents == 2 and report.chunks == 15


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["lost_chunk", "orphan_chunk", "altered_text", "edited_document", "bm25_cut_short"])
def test_each_damage_is_named_then_repaired(kind: str, indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    words = _damage(kind, corpus, settings)
    env = {"RAG_INDEX_DIR": str(settings.index_dir)}
    found = CliRunner().invoke(cli, ["check", str(corpus)], env=env)
    assert found.exit_code == 1
    assert any(words in line for line in found.output.splitlines()), found.output
    fixed = CliRunner().invoke(cli, ["check", str(corpus), "--repair"], env=env)
    assert fixed.exit_code == 0, fixed.output
    assert fixed.output.splitlines()[-2:] == ["repaired", "index ok: 2 documents, 15 chunks"]
    assert_index_consistent(corpus, settings)
