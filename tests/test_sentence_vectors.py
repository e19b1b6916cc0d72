"""Sentence vectors made at index time: stored per chunk, used by the answerer, made once for
an older index, and never made at question time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_index_consistent

from rag import ask, build_index
from rag.core import get_engine
from rag.index.store import text_hash
from rag.language.embedding import get_encoder
from rag.language.sentence_vectors import embed, pack, unpack
from rag.language.units import readings
from rag.settings import get_settings

pytestmark = pytest.mark.integration


def test_pooled_units_come_from_the_chunks_own_pass_and_survive_packing(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    engine = get_engine(corpus, settings)
    chunks = list(engine.store.get_chunks(list(engine.manifest.expected_ids())[:6]).values())
    vectors, units = embed(engine.encoder, chunks, "pooled")
    assert np.allclose(vectors, engine.encoder.encode([c.embed_text for c in chunks]), atol=1e-5)
    default = embed(engine.encoder, chunks, settings.sentence_vectors)[1]
    for chunk, u, d in zip(chunks, units, default, strict=True):
        assert u.shape == d.shape == (len(readings(chunk.text, chunk.headings)), engine.encoder.dim)
        assert np.allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-4)
        assert np.allclose(unpack(pack(u), engine.encoder.dim), u, atol=2e-3)
        stored = engine.store.sentence_vectors([text_hash(chunk.embed_text)])  # made the configured way
        assert np.allclose(unpack(stored[text_hash(chunk.embed_text)], engine.encoder.dim), d, atol=2e-3)
    encoded = embed(engine.encoder, chunks, "encoded")[1]
    alone = engine.encoder.encode([r.text for r in readings(chunks[0].text, chunks[0].headings)])
    assert np.allclose(encoded[0], alone, atol=1e-5)


def test_a_question_encodes_only_itself(indexed, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    engine = get_engine(corpus, settings)
    ask("Warm the engine up?", corpus=corpus, settings=settings)
    encoded: list[str] = []
    real = engine.encoder.encode

    def counting(texts: list[str], batch_size: int | None = None) -> np.ndarray:
        encoded.extend(texts)
        return real(texts, batch_size)

    engine.encoder.clear_cache()  # the question is new to the process
    monkeypatch.setattr(engine.encoder, "encode", counting)
    monkeypatch.setattr(engine.encoder, "encode_spans", lambda *a: pytest.fail("corpus text encoded at question time"))
    question = "How much in arms has the United States supplied to Ukraine in recent months?"
    a = ask(question, corpus=corpus, settings=settings)
    assert "$360 million" in a.text
    assert encoded == [question]


def test_an_index_from_before_is_given_its_vectors_once_with_a_notice(corpus_copy: Path, tmp_path: Path) -> None:
    settings = get_settings(index_dir=tmp_path / "index")
    build_index(corpus_copy, settings=settings)
    engine = get_engine(corpus_copy, settings)
    # What an index written before this change looks like: no unit vectors, no "sentences" key.
    manifest_file = engine.store.manifest_path
    data = json.loads(manifest_file.read_text(encoding="utf-8"))
    del data["config"]["sentences"]
    manifest_file.write_text(json.dumps(data), encoding="utf-8")
    engine.store.drop_sentence_vectors()
    env = {**__import__("os").environ, "RAG_INDEX_DIR": str(tmp_path / "index")}
    cmd = [
        sys.executable,
        "-m",
        "rag.faces.cli",
        "ask",
        "Who is the Chinese Embassy spokesman?",
        "--corpus",
        str(corpus_copy),
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    chunks = len(engine.manifest.expected_ids())
    assert f"rag: made the sentence vectors of {chunks} chunks once (the index predates them)" in first.stderr
    assert "Liu Pengyu" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0 and "sentence vectors" not in second.stderr
    report = build_index(corpus_copy, settings=settings)
    assert report.embedded == 0 and report.units_made == 0  # chunk vectors were never remade
    assert_index_consistent(corpus_copy, settings)


def test_changing_how_units_are_made_remakes_them_and_keeps_the_chunks(corpus_copy: Path, tmp_path: Path) -> None:
    pooled = get_settings(index_dir=tmp_path / "index", sentence_vectors="pooled")
    build_index(corpus_copy, settings=pooled)
    encoded = pooled.model_copy(update={"sentence_vectors": "encoded"})
    report = build_index(corpus_copy, settings=encoded)
    assert report.embedded == 0 and report.units_made == report.chunks
    engine = get_engine(corpus_copy, encoded)
    chunk = next(iter(engine.store.get_chunks(list(engine.manifest.expected_ids())[:1]).values()))
    stored = unpack(engine.store.sentence_vectors([text_hash(chunk.embed_text)])[text_hash(chunk.embed_text)], 384)
    alone = engine.encoder.encode([r.text for r in readings(chunk.text, chunk.headings)])
    assert np.allclose(stored, alone, atol=2e-3)
    assert_index_consistent(corpus_copy, encoded)


def test_a_switch_stopped_midway_remakes_them_all_next_time(
    corpus_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.index.indexing

    pooled = get_settings(index_dir=tmp_path / "index", sentence_vectors="pooled")
    build_index(corpus_copy, settings=pooled)
    encoded = pooled.model_copy(update={"sentence_vectors": "encoded"})

    def stopped(*args: object) -> int:
        raise KeyboardInterrupt  # the user stops the run after the old vectors were dropped

    monkeypatch.setattr(rag.index.indexing, "backfill_units", stopped)
    with pytest.raises(KeyboardInterrupt):
        build_index(corpus_copy, settings=encoded)
    monkeypatch.undo()
    report = build_index(corpus_copy, settings=pooled)  # back to the way the manifest last named
    assert report.embedded == 0 and report.units_made == report.chunks
    engine = get_engine(corpus_copy, pooled)
    keys = [text_hash(c.embed_text) for c in engine.store.get_chunks(list(engine.manifest.expected_ids())).values()]
    assert set(engine.store.sentence_vectors(keys)) == set(keys)
    assert_index_consistent(corpus_copy, pooled)


def test_the_encoder_cache_is_bounded_in_bytes() -> None:
    encoder = get_encoder()
    small = type(encoder).__new__(type(encoder))
    small.__dict__.update(encoder.__dict__)
    small._cache, small._cached, small._cache_bytes = type(encoder._cache)(), 0, 20_000
    vectors = np.ones((200, encoder.dim), dtype=np.float32)
    small.remember([f"text {i}" for i in range(200)], vectors)
    assert 0 < small.cache_bytes <= 20_000 and len(small._cache) < 200
    assert "text 199" in small._cache and "text 0" not in small._cache  # the oldest go first


def test_a_cold_question_loads_neither_torch_nor_transformers_nor_llama_index(indexed) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = indexed
    code = (
        "import json, sys; from rag import ask; "
        f"a = ask('Who is the Chinese Embassy spokesman?', corpus={str(corpus)!r}); "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'llama_index') if m in sys.modules]; "
        "print(json.dumps([heavy, a.text]))"
    )
    env = {**__import__("os").environ, "RAG_INDEX_DIR": str(settings.index_dir)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    heavy, text = json.loads(out.stdout.strip().splitlines()[-1])
    assert heavy == [] and "Liu Pengyu" in text


def test_a_lost_or_damaged_units_file_is_made_again(corpus_copy: Path, tmp_path: Path) -> None:
    from rag.index.unit_store import FILE

    settings = get_settings(index_dir=tmp_path / "index")
    build_index(corpus_copy, settings=settings)
    path = get_engine(corpus_copy, settings).store.dir / FILE
    for damage in ("lost", "garbage"):
        for extra in ("", "-wal", "-shm"):
            path.with_name(path.name + extra).unlink(missing_ok=True)
        if damage == "garbage":
            path.write_bytes(b"this is not a database" * 100)
        code = (
            "import json, sys; from rag import build_index; from rag.settings import get_settings; "
            f"r = build_index({str(corpus_copy)!r}, settings=get_settings(index_dir={str(tmp_path / 'index')!r})); "
            "print(json.dumps([r.units_made, r.embedded, r.chunks]))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        made, embedded, chunks = json.loads(out.stdout.strip().splitlines()[-1])
        assert (made, embedded) == (chunks, 0), damage  # remade from the stored chunks, none re-embedded
