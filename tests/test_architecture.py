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
    "retrieve/evidence",
    "retrieve/retrieval",
    "retrieve/scoring",
    "answer/answering",
    "answer/reading",
    "answer/reader",
    "answer/refusal",
    "answer/generation",
    "answer/grounding",
    "ingest/documents",
    "answer/conversation",
    "language/answer_types",
    "answer/templates",
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
    assert {"rag.retrieve.retrieval", "rag.retrieve.evidence", "rag.answer.answering"} <= graph[
        "rag.core"
    ]  # the walk sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    # an import inside a function counts: it is still a dependency between the modules
    assert "rag.answer.generation" in import_graph()["rag.core"]


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


# The layers, lowest first: a module may import its own layer and those below it, never one above.
LAYERS = ("foundation", "language", "ingest", "index", "retrieve", "answer", "core", "evaluation", "faces")
FOUNDATION = {"rag.errors", "rag.offline", "rag.types", "rag.settings", "rag.weights", "rag.request", "rag.progress"}
CORE = {"rag", "rag.core", "rag.library", "rag.check"}  # the public surface and what every face shares
PACKAGES = {"language", "ingest", "index", "retrieve", "answer", "evaluation", "faces", "integrations"}


def layer_of(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    if module in CORE:
        return "core"
    package = module.split(".")[1] if "." in module else ""
    if package in PACKAGES:
        return "faces" if package == "integrations" else package
    raise AssertionError(f"{module} belongs to no layer: put it in a package, or name it in FOUNDATION or CORE")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module in a layer above the importer's, and every face reaching past the core."""
    rank = {name: n for n, name in enumerate(LAYERS)}
    found = []
    for module, imports in sorted(graph.items()):
        for target in sorted(imports):
            if rank[layer_of(target)] > rank[layer_of(module)]:
                found.append(f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})")
            elif layer_of(module) == "faces" and layer_of(target) in ("index", "retrieve"):
                found.append(f"face {module} imports {target} directly: go through rag.core")
    return found


def test_every_module_sits_in_a_layer_and_imports_none_above_it() -> None:
    graph = import_graph()
    assert {"rag.ingest.loaders", "rag.answer.refusal", "rag.faces.cli"} <= set(graph)  # the packages are seen
    assert layer_violations(graph) == []


def test_the_layer_check_finds_an_upward_import_and_a_face_past_the_core() -> None:
    graph = {
        "rag.ingest.loaders": {"rag.answer.answering"},  # ingest reaching up into answer
        "rag.faces.cli": {"rag.index.store", "rag.core"},  # a face opening the store itself
        "rag.answer.answering": {"rag.retrieve.scoring", "rag.settings"},  # downward: fine
    }
    assert layer_violations(graph) == [
        "face rag.faces.cli imports rag.index.store directly: go through rag.core",
        "rag.ingest.loaders (ingest) imports rag.answer.answering (answer)",
    ]
    with pytest.raises(AssertionError, match="belongs to no layer"):
        layer_of("rag.stray")


def private_uses(path: Path) -> list[str]:
    """Names of rag that ``path`` uses although they are private (``_name``), by import or attribute."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rag"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            found += [node.module] if any(p.startswith("_") for p in node.module.split(".")) else []
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("rag") and "._" in a.name]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            chain = node.value
            while isinstance(chain, ast.Attribute):
                chain = chain.value
            if isinstance(chain, ast.Name) and chain.id == "rag":
                found.append(node.attr)
    return [f"{path.name}: {name}" for name in found]


def test_eval_and_bench_use_only_public_names() -> None:
    root = PACKAGE.parent
    scripts = sorted([*(root / "eval").rglob("*.py"), *(root / "bench").rglob("*.py")])
    assert len(scripts) > 10
    assert [u for s in scripts for u in private_uses(s)] == []


def test_the_private_name_check_sees_imports_and_attributes(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("import rag.core\nfrom rag.ingest.webpage import _blocks, html_text\nrag.core._engines\n")
    assert private_uses(script) == ["script.py: rag.ingest.webpage._blocks", "script.py: _engines"]


MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 250


def oversized(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """Functions over ``MAX_FUNCTION_LINES`` and classes over ``MAX_CLASS_LINES`` in ``path``, decorators included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit = MAX_FUNCTION_LINES
        elif isinstance(node, ast.ClassDef):
            limit = MAX_CLASS_LINES
        else:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        lines = (node.end_lineno or node.lineno) - first + 1
        if lines > limit:
            found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_over_80_lines_and_no_class_over_250_in_rag() -> None:
    assert [o for f in sorted(PACKAGE.rglob("*.py")) for o in oversized(f)] == []


def test_the_size_check_counts_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    long = tmp_path / "long.py"
    long.write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n", encoding="utf-8")
    assert oversized(long, tmp_path) == [f"long.py:5 long ({MAX_FUNCTION_LINES + 1} lines)"]
