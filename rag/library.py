"""The corpus as a library users add to and remove from: one implementation for the chat's
upload panel and the HTTP API's ``/v1/documents``.

Uploads go to ``<corpus>/uploads/`` under a safe name, within the same size limit and types as
everywhere; the index is updated before the call returns, so an added document answers at
once. A file the loaders cannot read is taken back out of the corpus (and a replaced document's
previous version restored), so the corpus holds only what the index holds.

One change at a time per process (``_CHANGING``); a new upload is created exclusively, so of
two uploads of one name, even from two processes, one is added and the other told it exists.
Removing takes only documents the index holds, and puts the file back if the index could not
be updated (another process indexing): a "try again" never costs the document.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError, NotRemovableError, RagError, ReadOnlyError
from rag.ingest.loaders import SUPPORTED_SUFFIXES
from rag.settings import Settings

UPLOAD_SUFFIXES = tuple(sorted(SUPPORTED_SUFFIXES))  # one list for the CLI, the upload and the API
TYPES_TEXT = ", ".join(UPLOAD_SUFFIXES)
MAX_UPLOAD_BYTES = 20_000_000
REPLACE_HINT = "tick “Replace” to replace it"  # the chat's words; the HTTP API passes its own
_CHANGING = threading.Lock()
_EXISTS = "exists"  # what _store says of a name taken already; worded by add_documents


@dataclass(frozen=True)
class Added:
    """What became of one uploaded file: ``status`` is added, replaced or refused."""

    name: str
    status: str
    message: str
    source: str = ""  # its path in the corpus, when it was kept


def safe_filename(name: str) -> str:
    """A plain file name: no folders, no traversal, no hidden files, only safe characters."""
    base = Path(name.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" ._-")[:100] or "document"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def add_documents(
    corpus: Path, settings: Settings, files: list[tuple[str, Path]], replace: bool, hint: str = REPLACE_HINT
) -> list[Added]:
    """Copy ``(original name, temporary path)`` files into the corpus and index them.

    ``hint`` says, in the face's own words, how to replace a document that exists already."""
    with _CHANGING:
        return _add(corpus, settings, files, replace, hint)


def _add(corpus: Path, settings: Settings, files: list[tuple[str, Path]], replace: bool, hint: str) -> list[Added]:
    out: list[Added] = []
    saved: list[Path] = []
    backups: dict[Path, Path] = {}
    for original, src in files:
        name = safe_filename(original)
        dest = corpus / "uploads" / name
        refused = _refusal(original, name, src) or _store(src, dest, replace, backups)
        if refused == _EXISTS:
            refused = f"Not added: {name}: a document with this name already exists; {hint}"
        if refused:
            out.append(Added(original, "refused", refused))
            continue
        saved.append(dest)
    from rag.core import build_index

    try:
        report = build_index(corpus, settings=settings)
    except RagError as err:
        for dest in saved:
            dest.unlink(missing_ok=True)
            if dest in backups:
                backups[dest].replace(dest)
        return [*out, *(Added(d.name, "refused", f"Not added: {err}") for d in saved)]
    bad = {s.source: s.reason for s in report.skipped}
    restored = False
    for dest in saved:
        source = dest.relative_to(corpus).as_posix()
        if source in bad:
            dest.unlink(missing_ok=True)  # keep the corpus free of files that cannot be read
            if dest in backups:
                backups.pop(dest).replace(dest)
                restored = True
            out.append(Added(dest.name, "refused", f"Not added: {dest.name}: {bad[source]}"))
        elif dest in backups:
            backups.pop(dest).unlink(missing_ok=True)
            out.append(Added(dest.name, "replaced", f"Replaced: {dest.name} (re-indexed, answerable now)", source))
        else:
            out.append(Added(dest.name, "added", f"Added: {dest.name} (indexed, answerable now)", source))
    if restored:
        build_index(corpus, settings=settings)  # the previous versions are back in the index
    return out


def _store(src: Path, dest: Path, replace: bool, backups: dict[Path, Path]) -> str:
    """Copy ``src`` to ``dest``, created exclusively; why not ("" when it is there)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if replace and dest.exists():
            backups[dest] = dest.with_name(f".{dest.name}.replaced-{uuid.uuid4().hex[:8]}")  # hidden: never indexed
            dest.replace(backups[dest])
        with src.open("rb") as fh, dest.open("xb") as out:
            shutil.copyfileobj(fh, out)
    except FileExistsError:
        return _EXISTS
    except OSError as err:
        if dest in backups:
            with contextlib.suppress(OSError):
                backups.pop(dest).replace(dest)
        return f"Not added: {dest.name}: cannot write to the corpus folder ({err.strerror or err})"
    return ""


def _refusal(original: str, name: str, src: Path) -> str:
    """Why an upload is refused before it is copied ("" when it may go in)."""
    if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
        return f"Not added: {original}: unsupported type (use {TYPES_TEXT})"
    size = src.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        return f"Not added: {original}: {size} bytes is over the {MAX_UPLOAD_BYTES} byte limit"
    return ""  # a name taken already is found by ``_store``'s exclusive create


def removable(source: str) -> bool:
    """Whether ``source`` was uploaded through rag (under ``uploads/``): the only files it deletes."""
    return source.startswith("uploads/")


def remove_document(corpus: Path, settings: Settings, source: str) -> str:
    """Delete an uploaded ``source`` from the corpus and the index.

    InputError unless the index holds it; NotRemovableError for the user's own files (anything
    not under ``uploads/``): those stay on disk, for the user to move or delete."""
    from rag.core import build_index, get_engine

    root = Path(corpus).resolve()
    path = root / source
    held = get_engine(corpus, settings).current_manifest().documents
    if not source or source not in held or not path.resolve().is_relative_to(root) or not path.is_file():
        raise InputError(f"{source or 'nothing'} is not a document of this corpus")
    if path.is_symlink():
        raise InputError(f"{source} is not a document of this corpus (a symlink)")
    if not removable(source):
        raise NotRemovableError(
            f"{source} is one of the corpus's own files, not an upload: rag deletes only what was uploaded through "
            "it; move or delete the file in the corpus folder yourself, and the next rag index drops it"
        )
    with _CHANGING, _set_aside(path, source) as aside:
        build_index(corpus, settings=settings)
        aside.unlink()
    return f"Removed: {source} (deleted from the corpus and the index)"


@contextlib.contextmanager
def _set_aside(path: Path, source: str) -> Iterator[Path]:
    """``path`` moved to a hidden name while the index forgets it; put back if that fails."""
    aside = path.with_name(f".{path.name}.removing-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(path, aside)
    except OSError as err:
        raise ReadOnlyError(
            f"cannot remove {source}: the corpus folder is not writable ({err.strerror or err})"
        ) from None
    try:
        yield aside
    except BaseException:
        os.replace(aside, path)
        raise
