"""Load a whole corpus the way indexing reads it (scan, read each file, or parse the .jsonl).

The product streams documents into the index and never holds a corpus in memory; the loader
tests want every document and every skip of a small corpus at once.
"""

from __future__ import annotations

from pathlib import Path

from rag.errors import LoadError
from rag.ingest.loaders import check_corpus_path, is_jsonl_corpus, iter_jsonl, read_file, scan_folder
from rag.types import Document, SkippedFile


def load_documents(
    corpus: Path, max_bytes: int = 50_000_000, max_seconds: float = 60.0
) -> tuple[list[Document], list[SkippedFile]]:
    corpus = check_corpus_path(corpus)
    docs: list[Document] = []
    skipped: list[SkippedFile] = []
    if is_jsonl_corpus(corpus):
        for item in iter_jsonl(corpus):
            if isinstance(item, Document):
                docs.append(item)
            else:
                skipped.append(item)
        return docs, skipped
    files, skipped = scan_folder(corpus)
    for f in files:
        try:
            docs.append(read_file(f.path, f.source, max_bytes, max_seconds))
        except LoadError as err:
            skipped.append(SkippedFile(f.source, str(err)))
    return docs, skipped
