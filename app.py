"""The Gradio chat over the default corpus: ``python app.py [--corpus DIR] [--host H] [--port P]``.

Set ``RAG_AUTH=user:password`` to require a login (page and API).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    from rag.errors import RagError
    from rag.faces.chat import launch
    from rag.settings import get_settings

    settings = get_settings()
    ap = argparse.ArgumentParser(description="Chat with your documents; answers cite exact passages.")
    ap.add_argument("--corpus", type=Path, default=settings.corpus, help="corpus folder (default: corpus/)")
    ap.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true", help="also open a public share link (off by default)")
    ap.add_argument(
        "--unprotected", action="store_true", help="serve beyond loopback with no login (refused otherwise)"
    )
    args = ap.parse_args()
    try:
        launch(args.corpus, settings, host=args.host, port=args.port, share=args.share, unprotected=args.unprotected)
    except RagError as err:
        sys.exit(f"error: {err}")  # one line on stderr, exit code 1, as the `rag` command does


if __name__ == "__main__":
    main()
