"""The ask options of every face, built from their one declaration (``rag.request.ASK_OPTIONS``).

The CLI's flags, the HTTP body, the MCP ``ask`` tool's parameters and the chat's controls are all
made here; ``call_options`` turns what a face received back into ``ask``'s keywords, so no face
names an option by hand. Options with ``remote=False`` (who writes the answer) stay with the user.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from rag.request import ASK_OPTIONS, AskOption
from rag.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def remote_options() -> tuple[AskOption, ...]:
    return tuple(o for o in ASK_OPTIONS if o.remote)


def default_of(option: AskOption) -> Any:
    field = Settings.model_fields.get(option.name)
    return None if field is None else field.default


def _help(option: AskOption) -> str:
    default = default_of(option)
    return option.help if default in (None, False) else f"{option.help[:-1]} (default: {default})."


def click_options(func: F) -> F:
    """Every option as a click option of ``rag ask`` (lists repeat: ``--source a --source b``)."""
    import click

    for o in reversed(ASK_OPTIONS):
        flag = o.flag or f"--{o.name.replace('_', '-')}"
        kw: dict[str, Any] = {"help": _help(o)}
        if o.choices:
            kw["type"] = click.Choice(o.choices)
        elif o.annotation is bool:
            kw["is_flag"] = True
        elif o.annotation is int:
            kw["type"] = int  # its limits are checked where every face's are, in ``Request.build``
        else:
            kw["multiple"] = True
            kw["help"] = f"{kw['help']} Repeat for several."
        if o.metavar:
            kw["metavar"] = o.metavar
        func = click.option(flag, o.name, **kw)(func)
    return func


def call_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """What a face received, as ``ask``'s keywords: unset, empty and false values left to the settings."""
    out: dict[str, Any] = {}
    for o in ASK_OPTIONS:
        value = values.get(o.name)
        if value is None or value is False or (isinstance(value, (list, tuple)) and not value):
            continue
        out[o.name] = value
    return out


def request_model(name: str = "AskBody") -> Any:
    """The pydantic body of ``POST /v1/ask``: the question and every remote option."""
    from pydantic import Field, create_model

    fields: dict[str, Any] = {"question": (str, Field(description="The question, in plain words."))}
    for o in remote_options():
        fields[o.name] = (o.annotation | None, Field(None, description=_help(o)))
    return create_model(name, **fields)


def mcp_signature(func: F) -> F:
    """``func(question, **options)`` given the signature the MCP SDK reads: the question and every remote option."""
    from pydantic import Field

    params = [inspect.Parameter("question", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)]
    for o in remote_options():
        kind = Annotated[o.annotation | None, Field(description=_help(o))]  # type: ignore[name-defined]
        params.append(inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind))
    func.__signature__ = inspect.Signature(params, return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    return func


def chat_controls(settings: Settings, documents: list[str]) -> dict[str, Any]:
    """The chat's control of each option but ``history`` (the conversation itself), at the settings' values."""
    import gradio as gr

    controls: dict[str, Any] = {}
    for o in ASK_OPTIONS:
        if o.name in ("history", "strict"):  # the conversation itself; strict rides with the settings
            continue
        value = getattr(settings, o.name, None)
        info = o.info or None
        if o.choices:
            controls[o.name] = gr.Radio(list(o.choices), value=value, label=o.label, elem_id=o.name, info=info)
        elif o.limits:
            controls[o.name] = gr.Slider(*o.limits, value=value, step=1, label=o.label, elem_id=o.name)
        else:  # the documents to ask
            controls[o.name] = gr.Dropdown(
                choices=documents, multiselect=True, label=o.label, elem_id="only", info=info
            )
    return controls
