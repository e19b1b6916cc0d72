"""The ONNX Runtime backends (onnx is the default): exported offline from the bundled model, same
vectors as torch, same answers; a backend change re-embeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import DEFAULT_CORPUS, ROOT, assert_index_consistent

from rag import ask, build_index
from rag.language.embedding import get_encoder
from rag.language.onnx_encoder import export_path
from rag.language.text import sentence_spans
from rag.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    text = (DEFAULT_CORPUS / "001_a1832f6365ab849e.txt").read_text(encoding="utf-8")
    return [text[a:b] for a, b in sentence_spans(text)][:40]


def test_fp32_export_gives_the_torch_vectors(cache_dir: Path, sentences: list[str]) -> None:
    torch_vecs = get_encoder(None, 16, "torch").encode(sentences)
    onnx = get_encoder(None, 16, "onnx", cache_dir)
    assert export_path(onnx.model_path, cache_dir, int8=False).is_file()
    vecs = onnx.encode(sentences)
    assert vecs.shape == torch_vecs.shape
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert float((vecs * torch_vecs).sum(axis=1).min()) > 0.999


def test_int8_export_is_close_but_not_identical(cache_dir: Path, sentences: list[str]) -> None:
    torch_vecs = get_encoder(None, 16, "torch").encode(sentences)
    int8 = get_encoder(None, 16, "onnx-int8", cache_dir)
    path = export_path(int8.model_path, cache_dir, int8=True)
    assert path.is_file() and path.stat().st_size < export_path(int8.model_path, cache_dir, False).stat().st_size / 2
    cos = (int8.encode(sentences) * torch_vecs).sum(axis=1)
    assert 0.9 < float(cos.mean()) < 0.9999  # quantised weights: near, not equal


def test_an_index_built_with_onnx_answers_and_a_backend_change_reembeds(
    cache_dir: Path, corpus_copy: Path, tmp_path: Path
) -> None:
    onnx = get_settings(index_dir=tmp_path / "index", embed_backend="onnx", cache_dir=cache_dir)
    assert len(build_index(corpus_copy, settings=onnx).added) == 2
    a = ask("Who is the Chinese Embassy spokesman?", corpus=corpus_copy, settings=onnx)
    assert "Liu Pengyu" in a.text
    for c in a.citations:
        assert (corpus_copy / c.source).read_text(encoding="utf-8")[c.start : c.end] == c.quote
    assert_index_consistent(corpus_copy, onnx)
    # Vectors of one backend are never mixed with another's: switching rebuilds the index.
    torch_settings = onnx.model_copy(update={"embed_backend": "torch"})
    report = build_index(corpus_copy, settings=torch_settings)
    assert len(report.added) == 2 and report.embedded == report.chunks


def test_an_unwritable_cache_dir_is_one_clear_error(tmp_path: Path) -> None:
    from rag.errors import RagError
    from rag.language.embedding import Encoder, default_model_path

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(RagError, match=r"cannot write the ONNX export of the model to .*RAG_CACHE_DIR") as info:
        Encoder(default_model_path(), backend="onnx", cache_dir=blocker)
    assert "\n" not in str(info.value)


def test_wordpieces_from_the_model_folder_match_transformers(sentences: list[str]) -> None:
    """Chunking and the ONNX inputs use ``tokenizers`` on tokenizer.json; transformers' own
    tokenizer (what sentence-transformers feeds the model) is the reference."""
    import json

    from transformers import AutoTokenizer

    from rag.language.embedding import default_model_path
    from rag.language.onnx_encoder import ModelFolder, WordPieces

    path = default_model_path()
    reference = AutoTokenizer.from_pretrained(path)
    pieces = WordPieces(ModelFolder(path))
    squad = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev" / "corpus.jsonl"
    texts = [json.loads(line)["text"] for _, line in zip(range(300), squad.open(encoding="utf-8"), strict=False)]
    texts += [*sentences, "Ünïcödé “quotes” — dashes… 🚀\u200b", "x" * 3000, "日本語のテキスト", "a\n\n\tb  c"]
    for text in texts:
        enc = reference(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
        assert pieces.offsets(text) == [(a, b) for a, b in enc["offset_mapping"] if b > a]
        assert pieces.count(text) == len(enc["input_ids"])
    batch = reference(texts[:8], padding=True, truncation="longest_first", max_length=256, return_tensors="np")
    ours = pieces.batch(texts[:8])
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert (ours[name] == batch[name]).all(), name
