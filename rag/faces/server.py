"""``rag serve``: the corpus over HTTP, as JSON and in the OpenAI chat-completions protocol.

Thin: every endpoint calls the same ``ask``/``ask_stream`` and ``rag.library`` as the chat and
the CLI. Endpoints (OpenAPI docs at ``/docs``):

- ``POST /v1/ask``: ``{"question": …, "mode"?, "top_k"?, "history"?, "sources"?}`` -> the answer
  as ``rag ask --json`` prints it, each citation with its document's title;
- ``POST /v1/chat/completions`` (streamed or not) and ``GET /v1/models``: the OpenAI protocol;
  the model name is the collection, the last user message the question, earlier turns the
  history; citations are ``[n]`` in the text and structured in ``citations``;
- ``GET/POST/DELETE /v1/documents``: list, upload (the chat's limits and safe names), remove;
  ``GET /v1/documents/{source}``: one indexed document's text (what citation offsets index);
- ``GET /v1/health``.

With ``RAG_API_KEY`` set, every endpoint but health wants ``Authorization: Bearer <key>``; with
``RAG_AUTH`` set, HTTP Basic with that login does too (``rag.faces.access`` holds every rule).
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import IndexBusyError, InputError, NotRemovableError, RagError, ReadOnlyError
from rag.faces.access import Guard, public_message, rules_for
from rag.faces.options import call_options, request_model
from rag.library import MAX_UPLOAD_BYTES, add_documents, remove_document
from rag.settings import Settings

MAX_JSON_BYTES = 1_000_000  # a question, its history and options fit many times over
MAX_BODY_BYTES = 4 * MAX_UPLOAD_BYTES  # an upload of several documents


class AskBody(request_model()):  # type: ignore[misc]
    """The body of ``POST /v1/ask``: the question and every remote ask option (``rag.request.ASK_OPTIONS``)."""


class Message(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatBody(BaseModel):
    model: str
    messages: list[Message]
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, description="Most tokens of the reply (then finish_reason 'length').")
    max_completion_tokens: int | None = Field(None, ge=1, description="The newer name of max_tokens.")

    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class _Tokens:
    """Token counts for ``usage`` and ``max_tokens``, by the embedding model's WordPiece tokenizer
    (the only one this server has; an LLM's would count a little differently)."""

    def __init__(self, tokenizer: Any, limit: int | None) -> None:
        self.tokenizer, self.limit = tokenizer, limit

    def count(self, text: str) -> int:
        return int(self.tokenizer.count(text)) if text else 0

    def cut(self, text: str) -> tuple[str, bool]:
        """``text`` within the limit, and whether it was cut (at the end of its last whole token)."""
        if self.limit is None:
            return text, False
        offsets = self.tokenizer.offsets(text)
        if len(offsets) <= self.limit:
            return text, False
        return text[: offsets[self.limit - 1][1]], True


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> Any:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


def _status_of(err: RagError) -> int:
    if isinstance(err, IndexBusyError):
        return 503
    if isinstance(err, (ReadOnlyError, NotRemovableError)):
        return 403
    return 400 if isinstance(err, InputError) else 500


def create_app(
    corpus: Path,
    settings: Settings,
    api_key: str | None = None,
    chat: bool = False,
    host: str = "127.0.0.1",
    unprotected: bool = False,
    allow_writes: bool = False,
) -> Any:
    """The FastAPI application serving ``corpus``; with ``chat``, the Gradio chat is mounted at ``/``.

    Every route sits behind one ``rag.faces.access.Guard``: the key or login, the Host allow-list, the
    cross-site check and the byte limits. A server one login would leave half open, or one open
    beyond loopback without ``unprotected``, is refused here (``InputError``), before it listens.
    Uploads and removals over ``/v1/documents`` need the key or login, or ``allow_writes``.
    """
    from rag.core import get_engine

    rules = rules_for(
        settings,
        host,
        api=True,
        chat=chat,
        api_key=api_key,
        unprotected=unprotected,
        allow_writes=allow_writes,
        json_limit=MAX_JSON_BYTES,
        upload_limit=MAX_BODY_BYTES,
    )
    model_name = get_engine(corpus, settings).store.name
    app = FastAPI(title="rag", description="Answers from your documents, with span-exact citations.")
    app.add_middleware(Guard, rules=rules)

    _error_handlers(app, corpus)
    _answer_routes(app, corpus, settings, model_name)
    _document_routes(app, corpus, settings)
    if chat:
        return _with_chat(app, corpus, settings)
    return app


def _error_handlers(app: FastAPI, corpus: Path) -> None:
    """Every error as one JSON line: a bad body 400, ours by its kind, Starlette's (404, 405) as they are."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(400, f"invalid request: {where + ': ' if where else ''}{first.get('msg', 'bad body')}")

    @app.exception_handler(RagError)
    async def failed(request: Request, exc: RagError) -> Any:
        return _error(_status_of(exc), public_message(exc, corpus))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        code = "not_found" if exc.status_code == 404 else None
        return _error(exc.status_code, str(exc.detail), code=code)


def _answer_routes(app: FastAPI, corpus: Path, settings: Settings, model_name: str) -> None:
    """``/v1/ask``, ``/v1/health``, and the OpenAI protocol (``/v1/models``, ``/v1/chat/completions``)."""
    from rag.core import ask, ask_stream, get_engine
    from rag.faces.present import answer_json

    def titled(answer: Any) -> dict[str, Any]:
        return answer_json(answer, get_engine(corpus, settings).title)

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        manifest = get_engine(corpus, settings).current_manifest()
        chunks = sum(e.chunks for e in manifest.documents.values())
        return {"status": "ok", "model": model_name, "documents": len(manifest.documents), "chunks": chunks}

    @app.post("/v1/ask")
    def ask_endpoint(body: AskBody) -> dict[str, Any]:
        return titled(ask(body.question, corpus=corpus, settings=settings, **call_options(body.model_dump())))

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0, "owned_by": "rag"}]}

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatBody) -> Any:
        if body.model not in (model_name, "rag"):
            return _error(404, f"no model {body.model!r}: this server has {model_name!r}", code="model_not_found")
        question, history = _conversation(body.messages)
        stream = ask_stream(question, corpus=corpus, settings=settings, history=history)
        tokens = _Tokens(get_engine(corpus, settings).encoder.tokenizer, body.limit())
        prompt = sum(tokens.count(m.text()) for m in body.messages)
        if body.stream:
            first = next(stream)  # errors in the question surface as a status, not mid-stream
            return StreamingResponse(
                _sse(_chain(first, stream), body.model, titled, tokens, prompt), media_type="text/event-stream"
            )
        answer = next(item for item in stream if not isinstance(item, str))
        text, cut = tokens.cut(answer.text)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "length" if cut else "stop",
                }
            ],
            "usage": _usage(prompt, tokens.count(text)),
            **_structured(titled(answer)),
        }


def _document_routes(app: FastAPI, corpus: Path, settings: Settings) -> None:
    """``/v1/documents``: the list, one document's text, uploads and removals (``rag.library``)."""
    from rag.core import get_engine

    @app.get("/v1/documents")
    def documents() -> dict[str, Any]:
        manifest = get_engine(corpus, settings).current_manifest()
        rows = [{"source": s, "title": e.title, "chunks": e.chunks} for s, e in sorted(manifest.documents.items())]
        return {"documents": rows}

    @app.get("/v1/documents/{source:path}")
    def document(source: str) -> Any:
        """One indexed document's text: the text every citation's offsets index."""
        entry = get_engine(corpus, settings).current_manifest().documents.get(source)
        text = get_engine(corpus, settings).documents.text(source) if entry is not None else None
        if entry is None or text is None:
            return _error(404, f"no readable document {source!r} in the index", code="document_not_found")
        return {"source": source, "title": entry.title, "chunks": entry.chunks, "text": text}

    @app.post("/v1/documents")
    def upload(files: list[UploadFile] = File(...), replace: bool = Form(False)) -> Any:  # noqa: B008
        with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
            staged = []
            for i, f in enumerate(files):
                path = Path(tmp) / str(i)
                with path.open("wb") as out:
                    while block := f.file.read(1 << 20):
                        out.write(block)
                staged.append((f.filename or "document", path))
            results = add_documents(corpus, settings, staged, replace, "send replace=true to replace it")
        body = {
            "results": [{"name": r.name, "status": r.status, "message": r.message, "source": r.source} for r in results]
        }
        return body if any(r.status != "refused" for r in results) else _json(422, body)

    @app.delete("/v1/documents/{source:path}")
    def remove(source: str) -> dict[str, Any]:
        try:
            message = remove_document(corpus, settings, source)
        except InputError as err:
            return _error(404, str(err), code="document_not_found")  # type: ignore[no-any-return]
        return {"removed": source, "message": message}


def _with_chat(app: FastAPI, corpus: Path, settings: Settings) -> FastAPI:
    """The browser chat mounted at ``/``: its login (RAG_AUTH), styles and security headers as ``rag chat``."""
    import gradio as gr

    from rag.faces.access import SecurityHeaders, login
    from rag.faces.chat import build_app
    from rag.faces.present import CITATION_LINKS_JS, CSS

    app.add_middleware(SecurityHeaders)
    return gr.mount_gradio_app(
        app,
        build_app(corpus, settings),
        path="/",
        auth=login(settings),
        css=CSS,
        head=CITATION_LINKS_JS,
        footer_links=["api"],
        max_file_size=MAX_UPLOAD_BYTES,
    )


def _json(status: int, body: dict[str, Any]) -> Any:
    return JSONResponse(body, status_code=status)


def _conversation(messages: list[Message]) -> tuple[str, list[str | list[str]]]:
    """The last user message as the question; earlier user/assistant turns as the history.

    Ordinary conversations vary: two user messages in a row (the first is a question of its
    own), an empty assistant message (a question with no answer yet), system messages (ignored).
    """
    turns = [(m.role, m.text().strip()) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1]:
        raise InputError("the last message must be the user's question")
    history: list[list[str]] = []
    for role, text in turns[:-1]:
        if role == "user" and text:
            history.append([text, ""])
        elif role == "assistant" and text and history and not history[-1][1]:
            history[-1][1] = text
    return turns[-1][1], [[q, a] if a else q for q, a in history]


def _structured(answer: dict[str, Any]) -> dict[str, Any]:
    """What travels beside the text: the citations, the short answer, the confidence."""
    keys = ("citations", "short", "part_shorts", "confidence", "abstained")
    return {k: answer[k] for k in keys if k in answer}


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _sse(items: Iterator[Any], model: str, titled: Any, tokens: _Tokens, prompt: int) -> Iterator[str]:
    """The answer stream as OpenAI chat-completion chunks (server-sent events), within ``max_tokens``."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: Literal["stop", "length"] | None = None, **extra: Any) -> str:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    sent, cut = "", False
    for item in items:
        if isinstance(item, str):
            if cut:
                continue  # past the limit: the answer is still finished, for its citations
            shown, cut = tokens.cut(sent + item)
            if len(shown) > len(sent):
                yield chunk({"content": shown[len(sent) :]})
                sent = shown
        else:
            usage = _usage(prompt, tokens.count(sent))
            yield chunk({}, "length" if cut else "stop", usage=usage, **_structured(titled(item)))
    yield "data: [DONE]\n\n"


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
