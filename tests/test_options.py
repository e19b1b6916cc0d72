"""The ask options are declared once (``rag.request.ASK_OPTIONS``); every face's parameters come from it."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.request import ASK_OPTIONS, AskOptions

pytestmark = pytest.mark.unit

REMOTE = {o.name for o in ASK_OPTIONS if o.remote}


def test_the_typed_options_of_ask_are_the_declared_ones() -> None:
    # AskOptions is the static mirror mypy reads; history travels beside it (Request.build's own argument)
    assert set(AskOptions.__annotations__) == {o.name for o in ASK_OPTIONS} - {"history"}
    assert {"answerer", "strict"} == {o.name for o in ASK_OPTIONS} - REMOTE


def test_the_cli_has_a_flag_for_every_option() -> None:
    from rag.faces.cli import cli

    command = cli.commands["ask"]
    names = {p.name for p in command.params}
    assert {o.name for o in ASK_OPTIONS} <= names
    text = " ".join(CliRunner().invoke(cli, ["ask", "--help"]).output.split())
    assert "--top-k" in text and "--source" in text and "(default: 5)" in text and "--max-sentences" in text


def test_the_http_body_and_the_mcp_tool_take_the_remote_options() -> None:
    from rag.faces.mcp_server import build_server
    from rag.faces.server import AskBody
    from rag.settings import get_settings

    assert set(AskBody.model_json_schema()["properties"]) == {"question"} | REMOTE
    server = build_server(Path("corpus"), get_settings(index_dir=Path(tempfile.mkdtemp())))
    tools = {t.name: t for t in asyncio.run(server.list_tools())}
    schema = tools["ask"].input_schema
    assert set(schema["properties"]) == {"question"} | REMOTE and schema["required"] == ["question"]
    assert schema["properties"]["top_k"]["description"] == "Passages the answer is drawn from (default: 5)."


def test_call_options_leaves_unset_values_to_the_settings() -> None:
    from rag.faces.options import call_options

    got = call_options({"mode": "bm25", "top_k": None, "strict": False, "sources": (), "history": ("Who?",)})
    assert got == {"mode": "bm25", "history": ("Who?",)}
    assert call_options({"sources": ["a.txt"], "strict": True}) == {"sources": ["a.txt"], "strict": True}
