"""One question as every face asks it: the question, its conversation, and the call's options.

The faces (``ask``, the CLI, the chat, the eval) pass options by name; ``Request.build``
checks them once, fills the rest from ``Settings``, and the core reads only the ``Request``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from rag.errors import InputError
from rag.settings import ANSWERERS, MODES, AnswererName, Mode, Settings


class AskOptions(TypedDict, total=False):
    """Per-call options of ``ask``; each defaults to the ``Settings`` field of the same name."""

    mode: Mode | None
    top_k: int | None
    max_sentences: int | None
    answerer: AnswererName | None
    strict: bool | None
    sources: Sequence[str] | None  # ask only these documents (their sources); all when empty


@dataclass(frozen=True)
class AskOption:
    """One option of ``ask``, declared once: every face's parameter is built from it (``rag.faces.options``)."""

    name: str  # the keyword of ``ask``, and (but for ``history``) the ``Settings`` field it defaults to
    annotation: Any  # its type, where a face states one (pydantic, MCP); None is always allowed: the default
    help: str
    label: str  # the chat's label
    choices: tuple[str, ...] = ()
    limits: tuple[int, int] | None = None
    remote: bool = True  # offered over HTTP and MCP; False: only to a user on their own machine (CLI, chat)
    flag: str = ""  # the CLI's flag, when not --<name with dashes>
    metavar: str | None = None
    info: str = ""  # the chat's line under the control


ASK_OPTIONS: tuple[AskOption, ...] = (
    AskOption("mode", Mode, "Retrieval mode: dense, bm25 or hybrid.", "Retrieval mode", choices=MODES),
    AskOption("top_k", int, "Passages the answer is drawn from.", "Passages (top-k)", limits=(1, 50)),
    AskOption("max_sentences", int, "Most sentences quoted.", "Answer length (sentences)", limits=(1, 10)),
    AskOption("answerer", AnswererName, "Who writes the answer.", "Answerer",
              choices=ANSWERERS, remote=False,
              info="extractive quotes sentences; openai/llamacpp write with an LLM, checked sentence by sentence"),
    AskOption("strict", bool, "With an LLM: drop sentences their citation does not support.", "Strict", remote=False),
    AskOption("sources", list[str], "Ask only these documents (their paths in the corpus).",
              "Ask only these documents", flag="--source", info="empty: the whole corpus"),
    AskOption("history", list[str | list[str]], "Earlier questions of the conversation, oldest first "
              "(over HTTP and MCP also [question, answer] pairs): 'he', 'it' refer to them.", "History", metavar="QUESTION"),
)  # fmt: skip
OPTION_LIMITS = {o.name: o.limits for o in ASK_OPTIONS if o.limits}


@dataclass(frozen=True)
class Request:
    question: str
    history: tuple[str, ...]
    mode: Mode
    top_k: int
    max_sentences: int
    answerer: AnswererName
    strict: bool
    sources: tuple[str, ...] = ()
    last_answer: str = ""  # the answer to the last question: "she" may be the person it named

    @classmethod
    def build(
        cls, question: object, settings: Settings, history: Sequence[object] = (), options: Mapping[str, object] = {}
    ) -> Request:
        """The validated request; a bad value is an ``InputError`` naming it.

        ``history`` items are earlier questions, or ``[question, answer]`` pairs."""
        text = validate_question(question, settings.max_question_chars)
        unknown = sorted(set(options) - set(AskOptions.__annotations__))
        if unknown:
            raise InputError(f"unknown option {unknown[0]!r}; known: {', '.join(AskOptions.__annotations__)}")
        given = {k: v for k, v in options.items() if v is not None}
        value: dict[str, Any] = {
            name: given.get(name, getattr(settings, name)) for name in AskOptions.__annotations__ if name != "sources"
        }
        value["sources"] = validate_sources(given.get("sources", ()))
        if value["mode"] not in MODES:
            raise InputError(f"unknown mode {value['mode']!r}; choose one of {', '.join(MODES)}")
        if value["answerer"] not in ANSWERERS:
            raise InputError(f"unknown answerer {value['answerer']!r}; choose one of {', '.join(ANSWERERS)}")
        for name, (low, high) in OPTION_LIMITS.items():
            if not isinstance(value[name], int) or not low <= value[name] <= high:
                raise InputError(f"{name} must be between {low} and {high}, not {value[name]!r}")
        questions, last_answer = _turns(history, settings.max_question_chars)
        return cls(text, questions, last_answer=last_answer, **value)


MAX_ANSWER_CHARS = 20_000  # an answer in the history: ten quoted sentences fit many times over
MAX_HISTORY_ITEMS = 200


def _turns(history: Sequence[object], max_chars: int) -> tuple[tuple[str, ...], str]:
    """The earlier questions, and the answer to the last one when the history gives it.

    Each item is held to the limits of a question (and an answer to ``MAX_ANSWER_CHARS``): the
    history is parsed like the question, so one huge item cost as much as a huge question.
    """
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise InputError("history must be a list of questions or of [question, answer] pairs")
    if len(history) > MAX_HISTORY_ITEMS:
        raise InputError(f"history has {len(history)} items; the limit is {MAX_HISTORY_ITEMS}")
    questions: list[str] = []
    last_answer = ""
    for n, item in enumerate(history, start=1):
        if isinstance(item, str):
            question, answer = item, ""
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            question, answer = item
        else:
            raise InputError("history must be a list of questions or of [question, answer] pairs")
        if len(question) > max_chars:
            raise InputError(f"history item {n} is too long ({len(question)} characters; the limit is {max_chars})")
        if len(answer) > MAX_ANSWER_CHARS:
            raise InputError(
                f"history item {n}'s answer is too long ({len(answer)} characters; the limit is {MAX_ANSWER_CHARS})"
            )
        if _SURROGATE.search(question + answer):
            raise InputError(f"history item {n} is not valid text: it holds an undecodable character")
        questions.append(question)
        last_answer = answer
    return tuple(questions), last_answer


def validate_sources(sources: object) -> tuple[str, ...]:
    """The documents a question is limited to, as a tuple of sources (a single string is one)."""
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, (list, tuple)) or not all(isinstance(s, str) and s.strip() for s in sources):
        raise InputError("sources must be a list of document sources (paths relative to the corpus)")
    if len(sources) > 1000:
        raise InputError(f"sources lists {len(sources)} documents; the limit is 1000")
    return tuple(dict.fromkeys(s.strip() for s in sources))


def validate_question(question: object, max_chars: int) -> str:
    if not isinstance(question, str):
        raise InputError("question must be a string")
    text = question.strip()
    if not text:
        raise InputError("question is empty")
    if len(text) > max_chars:
        raise InputError(f"question is too long ({len(text)} characters; the limit is {max_chars})")
    bad = _SURROGATE.search(text)
    if bad is not None:
        raise InputError(f"question is not valid text: an undecodable character at position {bad.start()}")
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")
