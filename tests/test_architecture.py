"""The shape of the package: no import cycle, short signatures on the answer path, a light import."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parent.parent / "rag"
# Modules a question passes through, from the call to the verified Answer.
ANSWER_PATH = [
    "core",
    "request",
    "evidence",
    "retrieval",
    "scoring",
    "answering",
    "reading",
    "reader",
    "refusal",
    "generation",
    "grounding",
    "documents",
    "conversation",
    "answer_types",
    "templates",
]
MAX_PARAMETERS = 6


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rag_imports(path: Path, modules: set[str]) -> set[str]:
    """Every rag module ``path`` imports, wherever the import sits (top level, function, TYPE_CHECKING)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            # "from rag import core" imports the submodule rag.core; "from rag.x import f" imports rag.x
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(n for n in names if n in modules and n != here)
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): rag_imports(f, modules) for f in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_rag_has_no_import_cycle() -> None:
    graph = import_graph()
    assert {"rag.retrieval", "rag.evidence", "rag.answering"} <= graph["rag.core"]  # the walk sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    # an import inside a function counts: it is still a dependency between the modules
    assert "rag.generation" in import_graph()["rag.core"]


def test_no_function_on_the_answer_path_takes_more_than_six_parameters() -> None:
    too_many = []
    for name in ANSWER_PATH:
        path = PACKAGE / f"{name}.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
                params = [p for p in params if p.arg not in ("self", "cls")]
                count = len(params) + (a.vararg is not None) + (a.kwarg is not None)
                if count > MAX_PARAMETERS:
                    too_many.append(f"rag/{name}.py:{node.lineno} {node.name} ({count})")
    assert not too_many, too_many


def test_importing_rag_loads_no_heavy_library_and_goes_offline() -> None:
    code = (
        "import json, os, sys; import rag, rag.core; "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'chromadb', 'llama_index', "
        "'gradio', 'onnxruntime', 'spacy', 'sklearn') if m in sys.modules]; "
        "print(json.dumps([heavy, os.environ.get('HF_HUB_OFFLINE'), os.environ.get('ANONYMIZED_TELEMETRY')]))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("HF_HUB_OFFLINE", "ANONYMIZED_TELEMETRY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    heavy, offline, telemetry = json.loads(out.stdout)
    assert heavy == []
    assert offline == "1" and telemetry == "False"
