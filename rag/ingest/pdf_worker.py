"""Extract the text of one PDF in a child process, so a slow or hostile file can be stopped.

pypdf runs in pure Python: a large or crafted PDF can take minutes or gigabytes. The loader
starts ``python -m rag.ingest.pdf_worker`` with the file on stdin, a time limit and a memory cap, and
turns whatever goes wrong into a one-line skip reason.
"""

from __future__ import annotations

import io
import json
import resource
import sys


def extract(raw: bytes) -> dict[str, str]:
    """``{"text", "title"}`` of a PDF, or ``{"error"}`` with a one-line reason."""
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(raw))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except MemoryError:
        return {"error": "PDF needs more memory than the limit allows"}
    except Exception as err:  # pypdf raises many types for damaged files
        return {"error": f"unreadable PDF ({type(err).__name__}: {err})".splitlines()[0]}
    if not any(pages):
        return {"text": "", "title": str(meta_title).strip()}
    # Pages are joined by a form feed on a line of its own: a paragraph break for the reader,
    # and what a citation's page number is counted from (``DocumentSource.page``).
    return {"text": "\n\f\n".join(pages), "title": str(meta_title).strip()}


def main() -> None:
    max_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    limit = max_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    result = extract(sys.stdin.buffer.read())
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
