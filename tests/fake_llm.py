"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol, with scripted replies.

The reply is chosen by the request's ``model`` name, and it cites the passage numbers that the
prompt actually gave it, as a well-behaved (or a badly behaved) model would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PASSAGE = re.compile(r"^\[(\d+)\] «(.*?)»$", re.MULTILINE | re.DOTALL)
REWRITTEN = "How long was the White House meeting with Qin Gang, the Chinese ambassador?"


def _passage_with(prompt: str, needle: str) -> int:
    for number, text in PASSAGE.findall(prompt):
        if needle in text:
            return int(number)
    return 1


def scripted_reply(model: str, prompt: str) -> str:
    if "Rewrite the last question" in prompt:
        return REWRITTEN
    n = _passage_with(prompt, "Liu Pengyu")
    correct = (
        f"The Chinese Embassy spokesman quoted about Ukraine is Liu Pengyu [{n}]. "
        f"He said China bases its views of the Ukraine conflict on its merits [{n}]."
    )
    replies = {
        "correct": correct,
        "hallucinate": correct + f" He also announced that China will deliver 500 tanks to Moscow next week [{n}].",
        "out-of-range": "The spokesman is Liu Pengyu [9].",
        "no-citations": "The spokesman is Liu Pengyu. He spoke about the conflict.",
        "empty": "",
        "refuse": "The corpus does not say.",
        "slow": correct,
        "meeting": f"The meeting lasted one and half hour [{_passage_with(prompt, 'one and half hour')}].",
        # Each keeps the passage's words and changes one thing: a name, a negation, a number.
        "swapped-name": correct.replace("is Liu Pengyu", "is Donald Duck"),
        "negated": correct.replace("He said China bases", "He said China does not base"),
        "new-number": correct.replace("on its merits", "on 17 merits"),
    }
    return replies.get(model, correct)


class _Handler(BaseHTTPRequestHandler):
    server: FakeLLM  # type: ignore[assignment]

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append(body)
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        model = body.get("model", "correct")
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        if model == "slow":
            time.sleep(self.server.slow_seconds)
        reply = scripted_reply(model, prompt)
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            pieces = re.findall(r"\S+\s*", reply) or [""]
            for i, piece in enumerate(pieces):
                delta: dict[str, str] = {"content": piece}
                if i == 0:
                    delta["role"] = "assistant"
                self._event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}, model)
            self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, model)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            return
        payload = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, chunk: dict[str, Any], model: str) -> None:
        chunk.update(id="chatcmpl-test", object="chat.completion.chunk", created=0, model=model)
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()


class FakeLLM(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, slow_seconds: float = 5.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.slow_seconds = slow_seconds
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the timeout test) closes the socket mid-reply: not an error."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
