"""The package as users install it: a wheel, in a fresh venv, with everything it needs inside."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import DEFAULT_CORPUS, ROOT, SEED_QA

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources (the checkout gets no build/ or egg-info)."""
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "rag", src / "rag", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out)]
    subprocess.run([*cmd, str(src)], check=True, capture_output=True, text=True)
    (built,) = out.glob("rag-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with only the wheel installed as ``rag``.

    Its dependencies (torch, chromadb, ...) are borrowed from this environment through a .pth
    line rather than installed again; a bare path line runs none of this environment's .pth
    hooks, so the editable ``rag`` of the checkout is not visible there.
    """
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    return venv


def test_wheel_holds_every_subpackage_the_templates_and_the_weights(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (ROOT / "rag").rglob("*.py"):
        assert module.relative_to(ROOT).as_posix() in names
    for data in ("rag/prompts/system.txt", "rag/prompts/answer.txt", "rag/prompts/rewrite.txt", "rag/weights.json",
                 "rag/short_weights.json", "rag/models/reader/reader-int8.onnx", "rag/models/reader/MODEL_CARD.md",
                 "rag/models/reader/calibration.json"):  # fmt: skip
        assert data in names


def _run(venv: Path, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_installed_wheel_asks_and_evaluates(fresh_venv: Path, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    env = dict(subprocess_env)  # offline, network-guarded, index in a temp dir; no checkout on the path
    where = _run(fresh_venv, ["python", "-c", "import rag, rag.answer.templates as t; print(rag.__file__, t.DEFAULT_DIR)"],
                 tmp_path, env)  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert all(Path(p).is_relative_to(fresh_venv) for p in where.stdout.split()), where.stdout

    asked = _run(fresh_venv, ["rag", "ask", "How much in arms has the US supplied to Ukraine?", "--corpus",
                              str(corpus), "--json"], tmp_path, env)  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert not answer["abstained"] and "$360 million" in answer["text"]
    assert "$360 million" in answer["short"]["text"]  # the short-answer weights ship in the wheel too
    c = answer["citations"][0]
    assert (corpus / c["source"]).read_text(encoding="utf-8")[c["start"] : c["end"]] == c["quote"]

    out = tmp_path / "report"
    evaluated = _run(fresh_venv, ["rag", "eval", "--corpus", str(corpus), "--dataset", str(SEED_QA), "--limit", "3",
                                  "--modes", "hybrid", "--out", str(out)], tmp_path, env)  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["n_questions"] == 3 and report["modes"]["hybrid"]["citations"]["quote_fidelity"] == 1.0


def test_installed_wheel_answers_with_an_llm(fresh_venv: Path, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    """The LLM answerer reads its prompt templates from the installed package."""
    from fake_llm import FakeLLM

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    with FakeLLM() as llm:
        env = {**subprocess_env, "RAG_LLM_BASE_URL": llm.base_url, "RAG_LLM_MODEL": "correct"}
        asked = _run(fresh_venv, ["rag", "ask", "Who is the Chinese Embassy spokesman quoted about Ukraine?",
                                  "--corpus", str(corpus), "--answerer", "openai", "--json"], tmp_path, env)  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answerer"] == "openai" and "Liu Pengyu" in answer["text"] and answer["citations"]
