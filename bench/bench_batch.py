"""Encoder batch size on this machine: chunks/s of the bundled model for each batch size.

    python bench/bench_batch.py [--chunks 768]

The chunks are real ones (SQuAD dev passages through the project's chunker), encoded in the
order indexing sees them; each batch size is measured twice, interleaved, and the better run
kept, so a noisy neighbour does not pick the winner.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from results_file import replace_section  # noqa: E402

SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev" / "corpus.jsonl"
SIZES = (8, 16, 32, 64, 128)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=768)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args()
    from rag.ingest.chunking import chunk_document
    from rag.language.embedding import get_encoder
    from rag.settings import get_settings
    from rag.types import Document

    settings = get_settings()
    encoder = get_encoder(settings.embed_model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir)
    texts: list[str] = []
    for line in SQUAD.open(encoding="utf-8"):
        row = json.loads(line)
        doc = Document(source=row["id"], text=row["text"])
        texts += [c.text for c in chunk_document(doc, encoder.tokenizer, settings.chunk_tokens, settings.chunk_overlap)]
        if len(texts) >= args.chunks:
            break
    texts = texts[: args.chunks]
    encoder.encode(texts[:64])
    best = dict.fromkeys(SIZES, 0.0)
    for _ in range(2):
        for size in SIZES:
            t0 = time.perf_counter()
            for i in range(0, len(texts), 256):  # indexing encodes 256 chunks per call
                encoder.encode(texts[i : i + 256], batch_size=size)
            best[size] = max(best[size], len(texts) / (time.perf_counter() - t0))
            print(f"batch {size}: {best[size]:.1f} chunks/s", file=sys.stderr, flush=True)
    top = max(best.values())
    lines = [
        f"Command: `python bench/bench_batch.py{'' if args.chunks == 768 else f' --chunks {args.chunks}'}` "
        f"({args.chunks} SQuAD chunks, encoder backend {settings.embed_backend}, best of two interleaved runs).",
        "",
        "| batch size | chunks/s | vs best |",
        "|---|---|---|",
    ]
    lines += [
        f"| {s}{' (default)' if s == settings.embed_batch_size else ''} | {v:.1f} | {v / top:.2f} |"
        for s, v in best.items()
    ]
    replace_section(args.out, "Encoder batch size", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
