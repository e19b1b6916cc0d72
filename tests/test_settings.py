"""Settings: RAG_* environment variables, validation, descriptions, immutability."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.settings import MODES, Settings, get_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RAG_* variable from the caller's shell leaks into these tests."""
    for key in list(os.environ):
        if key.upper().startswith("RAG_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # in case a .env file were ever read from the working directory


def test_defaults_without_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    s = Settings()
    assert s.top_k == 5
    assert s.mode == "hybrid"
    # outside a project folder the index goes to the user's data folder, not the current one
    assert s.index_dir == tmp_path / "data" / "rag" / "index"
    assert s.chroma_url is None and s.embed_backend == "onnx"
    (tmp_path / "corpus").mkdir()
    assert Settings().index_dir == Path("index")  # in a project folder: its own index/


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_MODE", "bm25")
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "my-index"))
    s = Settings()
    assert s.top_k == 7
    assert s.mode == "bm25"
    assert s.index_dir == tmp_path / "my-index"
    assert isinstance(s.index_dir, Path)


def test_environment_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("rag_top_k", "9")
    assert Settings().top_k == 9


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_is_accepted(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("RAG_MODE", mode)
    assert Settings().mode == mode


def test_explicit_overrides_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_MODE", "dense")
    s = get_settings(top_k=3, mode=None)
    assert s.top_k == 3
    assert s.mode == "dense"  # None overrides are ignored


@pytest.mark.parametrize(
    ("var", "value", "field"),
    [
        ("RAG_TOP_K", "0", "top_k"),
        ("RAG_TOP_K", "51", "top_k"),
        ("RAG_TOP_K", "five", "top_k"),
        ("RAG_MODE", "fuzzy", "mode"),
        ("RAG_CHUNK_TOKENS", "300", "chunk_tokens"),
        ("RAG_CHUNK_OVERLAP", "-1", "chunk_overlap"),
        ("RAG_SECOND_SENTENCE_GAIN", "1.5", "second_sentence_gain"),
        ("RAG_MIN_CONFIDENCE", "1.5", "min_confidence"),
        ("RAG_EMBED_BACKEND", "cuda", "embed_backend"),
        ("RAG_MAX_FILE_SECONDS", "0", "max_file_seconds"),
    ],
)
def test_invalid_environment_values_raise(monkeypatch: pytest.MonkeyPatch, var: str, value: str, field: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert [e["loc"][0] for e in info.value.errors()] == [field]


@pytest.mark.parametrize(
    "kwargs",
    [{"top_k": 0}, {"mode": "fuzzy"}, {"chunk_tokens": 300}, {"chunk_tokens": 31}, {"candidates": 201}],
)
def test_invalid_arguments_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        get_settings(**kwargs)
    assert [e["loc"][0] for e in info.value.errors()] == list(kwargs)


@pytest.mark.parametrize("value", [32, 200, 254])
def test_chunk_tokens_bounds_are_inclusive(value: int) -> None:
    assert Settings(chunk_tokens=value).chunk_tokens == value


def test_every_field_has_a_description() -> None:
    fields = Settings.model_fields
    assert len(fields) >= 15
    missing = [name for name, f in fields.items() if not (f.description or "").strip()]
    assert missing == []


def test_settings_are_frozen_and_hashable() -> None:
    s = Settings(top_k=4)
    with pytest.raises(ValidationError):
        s.top_k = 9  # type: ignore[misc]
    assert s.top_k == 4
    same = Settings(top_k=4)
    assert s == same
    assert hash(s) == hash(same)
    assert len({s, same, Settings(top_k=6)}) == 2


def test_unknown_environment_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_NOT_A_SETTING", "x")
    assert not hasattr(Settings(), "not_a_setting")
