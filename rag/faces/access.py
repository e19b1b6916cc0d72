"""Who may reach a served face, from where, and how much they may send: one guard for every route.

``rag serve`` (with or without ``--chat``) and ``rag chat`` wrap their whole application in
``Guard``, so the same rules hold for the JSON API, the OpenAI protocol, the API docs and every
Gradio route:

- **One login.** ``RAG_API_KEY`` (``Authorization: Bearer <key>``) and ``RAG_AUTH``
  (``user:password``: the chat's login form, or HTTP Basic on the API) protect everything they
  are set for; ``exposure_error`` refuses to start a server that one of them would leave half
  open (a key with the chat mounted but no chat login), or one that listens beyond loopback
  with no login at all unless the operator opts in.
- **No cross-site writes.** A request that changes something (any method but GET, HEAD and
  OPTIONS) carrying a browser's ``Origin`` of another site, or ``Sec-Fetch-Site: cross-site``,
  is refused: a web page the user visits cannot plant or delete documents (a ``no-cors`` form
  post needs no preflight, so CORS alone does not stop it).
- **Known host names.** The ``Host`` header must name this server (loopback names, the bound
  address, ``RAG_ALLOWED_HOSTS``), so a DNS-rebound page cannot reach it under its own name.
- **Limits that count bytes.** A body is counted as it arrives, with or without a
  ``Content-Length``, and refused with 413 past its route's limit; a body that stops arriving
  for ``request_timeout_s`` is answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from rag.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
API_PREFIXES = ("/v1/", "/docs", "/redoc", "/openapi.json")  # what the key guards beside a mounted chat
OPEN_PATHS = frozenset({"/v1/health"})
WRITE_PATHS = ("/v1/documents",)  # the API's writes; the chat's upload panel answers to the chat's login


def public_message(err: Exception, corpus: Path) -> str:
    """``err``'s message as a remote client may see it: the corpus by its name, not its path here."""
    text = str(err)
    for shown in sorted({str(corpus), str(Path(corpus).resolve())}, key=len, reverse=True):
        text = text.replace(shown, Path(corpus).name)
    return text


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_login(auth: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from ``RAG_AUTH=user:password``; None when unset or empty."""
    from rag.errors import InputError

    if not auth:
        return None
    user, sep, password = auth.partition(":")  # the password may contain ":"
    if not sep or not user.strip() or not password:
        raise InputError("RAG_AUTH must look like user:password, with a non-empty user and password")
    return user, password


def exposure_error(host: str, *, api: bool, chat: bool, api_key: str | None, login: object, unprotected: bool) -> str:
    """Why a server with these faces and logins must not start ("" when it may).

    ``api``: the JSON/OpenAI routes are served; ``chat``: the Gradio chat is.
    """
    if chat and api_key and not login:
        where = "/v1 but leave the chat at / open" if api else "nothing: rag chat has no API key"
        return (
            f"RAG_API_KEY would protect {where}; set RAG_AUTH=user:password too "
            "(the chat's login), so one login covers every route"
        )
    if is_loopback(host) or unprotected:
        return ""
    protected = bool(login) if chat else bool(api_key or login)
    if protected:
        return ""
    need = "RAG_AUTH=user:password" if chat else "RAG_API_KEY (or RAG_AUTH=user:password)"
    return (
        f"refusing to serve on {host} without a login: anyone who can reach it could read and change the "
        f"corpus; set {need}, or pass --unprotected to serve it open anyway"
    )


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """Host names this server answers to; None (any) when it listens on every address."""
    names = {h.strip().strip("[]").lower() for h in extra if h.strip()}
    if host in ("0.0.0.0", "::", ""):
        return frozenset(names | LOOPBACK_NAMES) if names else None
    return frozenset(names | LOOPBACK_NAMES | {host.strip("[]").lower()})


def host_name(value: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8000`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass(frozen=True)
class Rules:
    """What ``Guard`` enforces; built once per server."""

    api_key: str | None = None
    login: tuple[str, str] | None = None
    hosts: frozenset[str] | None = None  # None: any Host
    guard_all: bool = True  # logins guard every path (no chat mounted) or only the API's
    json_limit: int = 1_000_000
    upload_limit: int = 80_000_000
    upload_paths: tuple[str, ...] = ("/v1/documents", "/gradio_api/upload", "/upload")
    body_timeout_s: float = 30.0
    writes: bool = True  # uploads and removals over /v1/documents: with a key or login, or opted in

    def limit(self, path: str) -> int:
        return self.upload_limit if path.rstrip("/").endswith(self.upload_paths) else self.json_limit

    def needs_login(self, path: str) -> bool:
        if not (self.api_key or self.login) or path in OPEN_PATHS:
            return False
        return self.guard_all or path.startswith(API_PREFIXES)

    def authorized(self, header: str) -> bool:
        """A right bearer key, or HTTP Basic with the RAG_AUTH login."""
        given = header.encode("utf-8", "surrogateescape")
        if self.api_key and hmac.compare_digest(given, f"Bearer {self.api_key}".encode()):
            return True
        if self.login and header[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(user.encode(), self.login[0].encode()) & hmac.compare_digest(
                password.encode(), self.login[1].encode()
            )
        return False


def rules_for(
    settings: Any,
    host: str,
    *,
    api: bool,
    chat: bool,
    api_key: str | None = None,
    unprotected: bool = False,
    allow_writes: bool = False,
    json_limit: int = 1_000_000,
    upload_limit: int = 80_000_000,
) -> Rules:
    """The rules of a server with these faces on ``host``; ``InputError`` when it must not start."""
    from rag.errors import InputError

    login = parse_login(settings.auth)
    refused = exposure_error(host, api=api, chat=chat, api_key=api_key, login=login, unprotected=unprotected)
    if refused:
        raise InputError(refused)
    return Rules(
        api_key=api_key if api else None,
        login=login if api else None,  # the chat's own routes check its login themselves
        hosts=allowed_hosts(host, settings.allowed_hosts.split(",")),
        guard_all=not chat,
        json_limit=json_limit,
        upload_limit=upload_limit,
        body_timeout_s=settings.request_timeout_s,
        writes=bool(api_key or login or allow_writes) if api else True,
    )


class Guard:
    """ASGI middleware applying ``Rules`` to every HTTP request (and the Host rule to websockets)."""

    def __init__(self, app: Any, rules: Rules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self.refusal(scope, headers)
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _respond(send, *refusal)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    def refusal(self, scope: Any, headers: dict[str, str]) -> tuple[int, str, str] | None:
        """(status, message, error type) of a request refused before it reaches the app."""
        rules, path = self.rules, scope.get("path", "")
        host = headers.get("host", "")
        if rules.hosts is not None and host_name(host) not in rules.hosts:
            shown = host_name(host)[:100] or "(none)"
            return 421, f"unknown Host {shown!r}: this server answers to {', '.join(sorted(rules.hosts))}", "host_error"
        unsafe = scope.get("method", "GET") not in SAFE_METHODS
        if unsafe and _cross_site(headers, host):
            return 403, "cross-site request refused: write to this server from its own pages or a client", "csrf_error"
        if unsafe and not rules.writes and path.startswith(WRITE_PATHS):
            return (
                403,
                (
                    "uploads and removals are off: serve with RAG_API_KEY (or RAG_AUTH) to allow them to those who "
                    "log in, or with --allow-writes to allow them to anyone who can reach the server"
                ),
                "permission_error",
            )
        if rules.needs_login(path) and not rules.authorized(headers.get("authorization", "")):
            if rules.api_key:
                return 401, "missing or wrong API key (Authorization: Bearer …)", "authentication_error"
            return 401, "missing or wrong login (the RAG_AUTH user and password, as HTTP Basic)", "authentication_error"
        length = headers.get("content-length")
        limit = rules.limit(path)
        if length is not None and (not length.strip().isdigit() or int(length) > limit):
            return 413, f"request body over the {limit} byte limit", "invalid_request_error"
        return None

    async def _counted(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the app with a ``receive`` that counts the body's bytes and times its arrival."""
        body = _Body(self.rules.limit(scope.get("path", "")), self.rules.body_timeout_s, receive)

        async def sending(message: Any) -> None:
            if body.failed is not None:
                if not body.started and message["type"] == "http.response.start":
                    body.started = True
                    await _respond(send, *body.failed, "invalid_request_error")
                return  # the app's own reply to a body it could not read is replaced
            if message["type"] == "http.response.start":
                body.started = True
            await send(message)

        try:
            await self.app(scope, body.receive, sending)
        except _BodyRefused:
            pass
        except Exception:
            if body.failed is None:
                raise
        if body.failed is not None and not body.started:
            await _respond(send, *body.failed, "invalid_request_error")


class _BodyRefused(Exception):
    pass


@dataclass
class _Body:
    """A request body as it arrives: counted against ``limit``, each part due within ``timeout``."""

    limit: int
    timeout: float
    source: Any
    seen: int = 0
    done: bool = False
    started: bool = False  # the response has begun
    failed: tuple[int, str] | None = None

    async def receive(self) -> Any:
        if self.done:
            return await self.source()  # after the body: disconnect notices, with no time limit
        try:
            message = await asyncio.wait_for(self.source(), self.timeout)
        except TimeoutError:
            self.failed = (408, f"request body not received within {self.timeout:g} s")
            raise _BodyRefused from None
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.failed = (413, f"request body over the {self.limit} byte limit")
                raise _BodyRefused
            self.done = not message.get("more_body", False)
        else:
            self.done = True
        return message


def _cross_site(headers: dict[str, str], host: str) -> bool:
    """A browser request from another site (its Origin, or Sec-Fetch-Site, says so)."""
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = headers.get("origin")
    if origin is None:
        return False  # not a browser's cross-origin request (curl, the SDK clients, same-origin GETs)
    if origin.strip().lower() == "null":
        return True
    return _netloc(urlsplit(origin.strip()).netloc) != _netloc(host)


def _netloc(value: str) -> str:
    """``host[:port]`` in lower case, without a default port."""
    value = value.strip().lower()
    for default in (":80", ":443"):
        if value.endswith(default):
            return value[: -len(default)]
    return value


async def _respond(send: Any, status: int, message: str, kind: str) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "code": None}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status in (408, 413):
        headers.append((b"connection", b"close"))
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="rag", Basic realm="rag"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Sent with every response: the page may load nothing from elsewhere, so a document's markup can
# never make the browser fetch a remote address (no beacons, no tracking pixels).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
    "connect-src 'self'; worker-src 'self' blob:; frame-src 'self'; frame-ancestors 'self'; "
    "base-uri 'self'; form-action 'self'"
)


class SecurityHeaders:
    """ASGI middleware adding the Content-Security-Policy (and no-sniff) to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"content-security-policy"]
                headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def login(settings: Settings) -> tuple[str, str] | None:
    """The chat's login from ``RAG_AUTH=user:password`` (None when unset or empty)."""
    return parse_login(settings.auth)
