"""LLM backends for the generative answerer: any OpenAI-compatible server, or a local GGUF file.

Both stream text. Every failure (server down, timeout, HTTP error, missing extra) surfaces as
``LLMError`` with one line saying what happened, so the caller can fall back to the extractive
answer instead of crashing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from rag.errors import RagError
from rag.settings import Settings

Message = tuple[str, str]  # (role, content)


class LLMError(RagError):
    """The LLM could not produce an answer (down, timed out, refused the request...)."""


class ChatBackend(Protocol):
    name: str

    def stream(self, messages: list[Message]) -> Iterator[str]: ...


class OpenAICompatible:
    """Chat completions over HTTP (OpenAI, Ollama, llama.cpp's server, vLLM) through llama-index."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        from llama_index.llms.openai_like import OpenAILike

        self.base_url = settings.llm_base_url
        self.llm = OpenAILike(
            model=settings.llm_model,
            api_base=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() or "not-needed",
            timeout=settings.llm_timeout,
            max_retries=0,
            is_chat_model=True,
            temperature=0.0,
            max_tokens=settings.llm_max_tokens,
            context_window=settings.llm_context_window,
        )

    def stream(self, messages: list[Message]) -> Iterator[str]:
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=role, content=content) for role, content in messages]
        try:
            for part in self.llm.stream_chat(chat):
                if part.delta:
                    yield part.delta
        except LLMError:
            raise
        except Exception as err:  # openai/httpx raise many types; the user needs one line
            raise LLMError(f"LLM server {self.base_url} failed: {_describe(err)}") from err


class LlamaCpp:
    """A local GGUF model through llama-cpp-python (optional extra ``rag[llamacpp]``)."""

    name = "llamacpp"
    _lock = threading.Lock()

    def __init__(self, settings: Settings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise LLMError("the llamacpp answerer needs the optional extra: pip install 'rag[llamacpp]'") from None
        path = settings.llm_model_path
        if path is None or not path.is_file():
            raise LLMError(f"GGUF model file not found: {path} (set RAG_LLM_MODEL_PATH)")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # busy-waiting threads slow decoding 5-10x
        self.max_tokens = settings.llm_max_tokens
        self.llm: Any = Llama(
            model_path=str(path), n_ctx=settings.llm_context_window, n_threads=os.cpu_count() or 2, verbose=False
        )

    def stream(self, messages: list[Message]) -> Iterator[str]:
        with self._lock:  # one decode at a time: a second would only halve the speed of both
            try:
                out = self.llm.create_chat_completion(
                    messages=[{"role": r, "content": c} for r, c in messages],
                    stream=True,
                    temperature=0.0,
                    max_tokens=self.max_tokens,
                )
                for chunk in out:
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            except Exception as err:
                raise LLMError(f"llama.cpp failed: {_describe(err)}") from err


def _describe(err: BaseException) -> str:
    name = type(err).__name__
    if "Timeout" in name:
        return "no reply within the timeout"
    if "Connection" in name:
        return "cannot connect (is the server running?)"
    status = getattr(err, "status_code", None)
    text = (str(err).splitlines() or [""])[0][:200]
    return f"HTTP {status}: {text}" if status else f"{name}: {text}"


_backends: dict[tuple[str, Settings], ChatBackend] = {}
_backends_lock = threading.Lock()


def get_backend(name: str, settings: Settings) -> ChatBackend:
    """The backend for ``name``, built once per settings (a GGUF model loads only once)."""
    with _backends_lock:
        key = (name, settings)
        if key not in _backends:
            if name == "openai":
                _backends[key] = OpenAICompatible(settings)
            elif name == "llamacpp":
                _backends[key] = LlamaCpp(settings)
            else:
                raise LLMError(f"unknown answerer {name!r}; choose extractive, openai or llamacpp")
        return _backends[key]
