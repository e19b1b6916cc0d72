"""Prompt templates kept as files in ``rag/prompts/`` (package data), checked for their placeholders when loaded."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "prompts"  # shipped with the package
REQUIRED = {
    "system.txt": set(),
    "answer.txt": {"passages", "question"},
    "rewrite.txt": {"history", "question"},
}


class PromptError(RagError):
    """A template is missing, unreadable or lacks a placeholder."""


@dataclass(frozen=True)
class Prompts:
    system: str
    answer: str
    rewrite: str

    def answer_message(self, question: str, passages: list[str]) -> str:
        # A passage may not close its own quotes: « and » inside it become ‹ and ›.
        quoted = [t.strip().replace("«", "‹").replace("»", "›") for t in passages]
        numbered = "\n\n".join(f"[{i}] «{text}»" for i, text in enumerate(quoted, start=1))
        return self.answer.format(passages=numbered, question=question)

    def rewrite_message(self, question: str, history: list[str]) -> str:
        lines = "\n".join(f"- {h}" for h in history)
        return self.rewrite.format(history=lines, question=question)


def _placeholders(text: str, path: Path) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as err:
        raise PromptError(f"{path}: invalid template ({err}); write literal braces as {{{{ and }}}}") from None


def load_prompts(folder: Path | None = None) -> Prompts:
    """Read and validate the three templates; the error names the file and what is wrong.

    Read on every LLM answer (three small files), so an edited template applies at once.
    """
    folder = Path(folder) if folder else DEFAULT_DIR
    texts: dict[str, str] = {}
    for name, required in REQUIRED.items():
        path = folder / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            raise PromptError(f"prompt template missing: {path}") from None
        found = _placeholders(text, path)
        missing = sorted(required - found)
        if missing:
            raise PromptError(f"{path}: missing placeholder {', '.join('{' + m + '}' for m in missing)}")
        unknown = sorted(found - required)
        if unknown:
            raise PromptError(f"{path}: unknown placeholder {', '.join('{' + u + '}' for u in unknown)}")
        texts[name.removesuffix(".txt")] = text
    return Prompts(**texts)
