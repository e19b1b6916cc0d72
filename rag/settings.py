"""All knobs of the system in one place, read from ``RAG_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.weights import fitted

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")
AnswererName = Literal["extractive", "openai", "llamacpp"]
ANSWERERS: tuple[AnswererName, ...] = ("extractive", "openai", "llamacpp")


DEFAULT_CACHE_DIR = Path.home() / ".cache" / "rag"


def default_index_dir() -> Path:
    """``index/`` in a project folder (one with a ``corpus/`` or an ``index/`` already), else the
    user's data folder: ``ask()`` from any other folder must not leave an ``index/`` there."""
    here = Path.cwd()
    if (here / "index").is_dir() or (here / "corpus").is_dir():
        return Path("index")
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "rag" / "index"


class Settings(BaseSettings):
    """Configuration for indexing, retrieval and answering: every knob a user may turn.

    Fitted weights live in ``rag/weights.json``; ``mode``, ``top_k``, ``max_sentences``,
    ``answerer`` and ``strict`` are the defaults of the per-call options (``rag.request``).
    Every field can be set with an environment variable of the same name in upper case
    and prefixed with ``RAG_`` (``RAG_INDEX_DIR``, ``RAG_TOP_K``, ...), or passed directly.
    """

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore", frozen=True)

    corpus: Path = Field(
        default=Path("corpus"),
        description="Default corpus: a folder of .txt/.md/.html/.pdf/.docx files or a .jsonl file.",
    )
    index_dir: Path = Field(
        default_factory=default_index_dir,
        description="Folder holding the Chroma database, manifests and BM25 indexes. Default: index/ in a "
        "project folder (one holding corpus/ or index/), else the user data folder (XDG_DATA_HOME/rag/index).",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server (e.g. http://127.0.0.1:8000, started with `chroma run`); "
        "unset, the index is an embedded Chroma database under index_dir. With a server, the manifest "
        "lives in the server beside the chunks, and index_dir only caches BM25 and the writer lock.",
    )
    chroma_token: SecretStr = Field(
        default=SecretStr(""),
        description="Sent as 'Authorization: Bearer <token>' to a Chroma server that requires it.",
    )
    lease_seconds: float = Field(
        default=60.0,
        ge=2.0,
        description="With a Chroma server: how long a writer's lease on the collection lasts unless renewed "
        "(renewed every third of it while indexing). A writer killed mid-run blocks others this long at most; "
        "the next writer then takes over and repairs what it half wrote.",
    )
    collection: str | None = Field(
        default=None,
        description="Chroma collection name; by default derived from the corpus path.",
    )
    embed_model: str | None = Field(
        default=None,
        description="Folder of a sentence-transformers model; by default the bundled all-MiniLM-L6-v2.",
    )
    embed_batch_size: int = Field(
        default=16,
        ge=1,
        description="Chunks encoded per batch while indexing (16 measured best here: bench/bench_batch.py).",
    )
    embed_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="onnx",
        description="What runs the encoder: onnx (an ONNX Runtime export of the bundled model, made once "
        "offline; same vectors as torch, 1.5x faster here), torch, or onnx-int8 (int8 weights: faster, "
        "slightly different vectors). See bench/RESULTS.md. Changing it re-embeds the index.",
    )
    sentence_vectors: Literal["pooled", "encoded"] = Field(
        default="pooled",
        description="How the index makes the vectors of the sentences the answerer scores: pooled (from "
        "the token states of the chunk's own forward pass: no extra encoder time; the confidence model "
        "is fitted on these) or encoded (each sentence encoded alone: one more encoder pass per chunk). "
        "Made at index time either way; changing it remakes them once. See eval/RESULTS.md.",
    )
    cache_dir: Path = Field(
        default=DEFAULT_CACHE_DIR,
        description="Where derived model files (the ONNX exports) are kept.",
    )
    chunk_tokens: int = Field(
        default=200,
        ge=32,
        le=254,
        description="Maximum wordpieces per chunk (the encoder sees at most 256 with its two special tokens).",
    )
    chunk_overlap: int = Field(
        default=40, ge=0, description="Wordpieces repeated from the end of one chunk at the start of the next."
    )
    mode: Mode = Field(default="hybrid", description="Retrieval mode: dense, bm25 or hybrid.")
    top_k: int = Field(default=5, ge=1, le=50, description="Passages the answer is drawn from.")
    candidates: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Passages each retriever returns before fusion and reranking (also the depth reported to the evaluation).",
    )
    rrf_k: int = Field(default=60, ge=1, description="Constant of reciprocal rank fusion.")
    max_sentences: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Most sentences an extractive answer quotes.",
    )
    abstain_threshold: float = Field(
        default_factory=lambda: fitted().thresholds.abstain,
        description="Evidence score under which the answer says the corpus does not say; the default is "
        "the value calibrated on eval/datasets/seed_qa.jsonl (rag/weights.json).",
    )
    second_sentence_gain: float = Field(
        default_factory=lambda: fitted().thresholds.second_sentence_gain,
        ge=0.0,
        le=1.0,
        description="A second sentence is quoted only when the confidence model rates the two together this "
        "much above the first alone (rag/weights.json, fitted with the confidence model).",
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Confidence (the chance that the answer is right, Answer.confidence) under which the answer "
        "says the corpus does not say. Unset: the bar fitted for the answerer in use, for 5 % false refusal on the "
        "fitting set, 48 articles of SQuAD v1.1 train (the reader's in rag/models/reader/confidence.json, the "
        "sentence scorer's in rag/weights.json); 0 turns refusal by confidence off.",
    )
    reader: bool = Field(
        default=True,
        description="Answer by the trained span reader (rag.answer.reading: it picks the one quote and the short "
        "answer, and rag.answer.refusal decides whether to answer). False (RAG_READER=0) answers by the "
        "sentence-scoring answerer (rag.answer.answering) with its confidence trees, as before the reader measured "
        "better (eval/RESULTS.md, 'Span reader').",
    )
    max_question_chars: int = Field(default=2000, ge=1, description="Longest question accepted, in characters.")
    answerer: AnswererName = Field(
        default="extractive",
        description="Who writes the answer: extractive (verbatim sentences, no LLM), openai (any "
        "OpenAI-compatible server) or llamacpp (a local GGUF file).",
    )
    llm_base_url: str = Field(
        default="http://127.0.0.1:11434/v1",
        description="Base URL of the OpenAI-compatible chat-completions server (Ollama's default here).",
    )
    llm_model: str = Field(default="llama3.2", description="Model name sent to the server.")
    llm_api_key: SecretStr = Field(
        default=SecretStr(""), description="API key for the server (local servers need none)."
    )
    llm_timeout: float = Field(
        default=60.0, gt=0, description="Seconds to wait for the server before falling back to the extractive answer."
    )
    llm_model_path: Path | None = Field(default=None, description="GGUF model file for the llamacpp answerer.")
    llm_max_tokens: int = Field(default=256, ge=16, description="Most tokens the LLM may write per answer.")
    llm_context_window: int = Field(default=4096, ge=512, description="Context size of the LLM, in tokens.")
    strict: bool = Field(
        default=False,
        description="Drop generated sentences whose citation does not support them (instead of flagging them).",
    )
    support_threshold: float = Field(
        default_factory=lambda: fitted().thresholds.support,
        description="Support score a generated sentence needs from its cited passage; the default is the "
        "value calibrated by bench/calibrate_support.py (rag/weights.json).",
    )
    prompts_dir: Path | None = Field(
        default=None, description="Folder of prompt templates; by default the ones shipped in rag/prompts/."
    )
    document_cache_bytes: int = Field(
        default=64_000_000,
        ge=0,
        description="Characters of extracted document text kept in memory to verify quotes (least recently "
        "used first out); a document changed on disk is read again.",
    )
    max_file_bytes: int = Field(
        default=50_000_000, ge=1, description="Files larger than this are skipped while loading."
    )
    max_file_seconds: float = Field(
        default=60.0,
        gt=0,
        description="PDF text extraction taking longer than this is stopped and the file skipped.",
    )
    auth: str | None = Field(
        default=None,
        repr=False,
        description="Login for the chat as 'user:password' (RAG_AUTH): when set, the page and its API "
        "ask for it; unset or empty, the chat has no login (it binds 127.0.0.1 unless told otherwise).",
    )
    api_key: str | None = Field(
        default=None,
        repr=False,
        description="Bearer token for rag serve (RAG_API_KEY): when set, every endpoint but /v1/health wants "
        "'Authorization: Bearer <key>'; unset, the API is open (it binds 127.0.0.1 unless told otherwise).",
    )
    allowed_hosts: str = Field(
        default="",
        description="Extra host names a served face answers to, comma-separated (RAG_ALLOWED_HOSTS); "
        "loopback names and the bound address always are. Any other Host header is refused (DNS rebinding).",
    )
    progress_every_s: float = Field(
        default=30.0,
        ge=0,
        description="Off a terminal, rag index and rag eval print a progress line this often (seconds).",
    )
    request_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A served face drops a request whose body stops arriving for this long (408).",
    )


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides on top (None values ignored)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
