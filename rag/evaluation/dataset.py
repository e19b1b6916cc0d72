"""The evaluation dataset schema: one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag.errors import InputError


class Evidence(BaseModel):
    """A passage that supports the answer; without ``quote`` the whole document is the evidence."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    source: str
    quote: str | None = None


class EvalRow(BaseModel):
    """One question. An empty ``answers`` list means the corpus cannot answer it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    question: str
    answers: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list, description="Earlier questions of a conversation.")
    parts: list[list[str]] = Field(
        default_factory=list,
        description="A question with several asks: the acceptable answers of each; all must be in the answer.",
    )
    kind: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_dataset(path: Path) -> list[EvalRow]:
    """Parse a dataset file; a malformed line stops with a message naming file and line."""
    if not path.is_file():
        raise InputError(f"dataset not found: {path}")
    rows: list[EvalRow] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = EvalRow.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as err:
                first = str(err).splitlines()[0]
                raise InputError(f"{path}:{lineno}: invalid dataset row ({first})") from None
            if row.id in seen:
                raise InputError(f"{path}:{lineno}: duplicate id {row.id!r}")
            seen.add(row.id)
            rows.append(row)
    if not rows:
        raise InputError(f"dataset is empty: {path}")
    return rows
