"""Core benchmark: indexing throughput against the raw encoder, and `ask` latency.

    python bench/bench_core.py [--passages 400] [--out bench/RESULTS.md]

Everything is measured in one run, so the ratios hold even though absolute times drift
between runs on a shared 2-core machine:

- indexing: chunks/s of `build_index` (load, chunk, embed, write Chroma, build BM25) on SQuAD
  dev passages, divided by chunks/s of the bare encoder (the configured backend) on the very
  same chunk texts;
- ask: p50/p95 of `ask` on the default corpus for the seed questions, cold (first pass: each
  question new to the process) and warm (second pass), per mode, next to the raw encoder's
  latency for embedding one question.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from results_file import replace_section  # noqa: E402

SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev" / "corpus.jsonl"
SEED = ROOT / "eval" / "datasets" / "seed_qa.jsonl"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_indexing(passages: int, work: Path) -> dict[str, dict[str, float]]:
    from rag import build_index
    from rag.ingest.chunking import chunk_document
    from rag.ingest.loaders import iter_jsonl
    from rag.language.embedding import get_encoder
    from rag.settings import get_settings
    from rag.types import Document

    settings = get_settings(index_dir=work / "index")
    encoder = get_encoder(settings.embed_model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir)
    corpus = work / "passages.jsonl"
    with SQUAD.open(encoding="utf-8") as src, corpus.open("w", encoding="utf-8") as dst:
        for _, line in zip(range(passages), src, strict=False):
            dst.write(line)
    docs = [d for d in iter_jsonl(corpus) if isinstance(d, Document)]
    chunks = [
        c for d in docs for c in chunk_document(d, encoder.tokenizer, settings.chunk_tokens, settings.chunk_overlap)
    ]
    texts = [c.text for c in chunks]
    encoder.encode(texts[:64])  # warm up the kernels for both measurements

    def raw() -> float:
        t0 = time.perf_counter()
        encoder.encode(texts)
        return len(texts) / (time.perf_counter() - t0)

    out = {}
    for mode in ("pooled", "encoded"):  # how sentence vectors are made (RAG_SENTENCE_VECTORS)
        raw_before = raw()
        t0 = time.perf_counter()
        run = settings.model_copy(update={"index_dir": work / f"index-{mode}", "sentence_vectors": mode})
        report = build_index(corpus, settings=run)
        pipeline = report.chunks / (time.perf_counter() - t0)
        raw_after = raw()
        raw_mean = (raw_before + raw_after) / 2
        out[mode] = {
            "passages": len(docs),
            "chunks": report.chunks,
            "raw_chunks_per_s": raw_mean,
            "pipeline_chunks_per_s": pipeline,
            "ratio": pipeline / raw_mean,
        }
    return out


def bench_ask(work: Path) -> dict[str, dict[str, float]]:
    from rag import ask, build_index
    from rag.answer.short_answer import question_of, read
    from rag.language.embedding import get_encoder
    from rag.language.nlp import forget, parse
    from rag.settings import MODES, get_settings

    settings = get_settings(index_dir=work / "index-default")
    corpus = work / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    build_index(corpus, settings=settings)
    rows = [json.loads(line) for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in rows]
    encoder = get_encoder(settings.embed_model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir)
    out: dict[str, dict[str, float]] = {}
    raw = []
    for q in questions:
        t0 = time.perf_counter()
        encoder.encode([q])
        raw.append((time.perf_counter() - t0) * 1000)
    out["raw encoder, one question"] = {"p50": pct(raw, 50), "p95": pct(raw, 95)}
    for mode in MODES:
        for label in ("cold", "warm"):
            times = []
            if label == "warm":  # the cold pass emptied the caches before each question: fill them first
                for q in questions:
                    ask(q, corpus=corpus, mode=mode, settings=settings)
            for q in questions:
                if label == "cold":  # the first time this process sees the question and its sentences
                    encoder.clear_cache()
                    forget()
                    for cache in (parse, read, question_of):
                        cache.cache_clear()
                t0 = time.perf_counter()
                ask(q, corpus=corpus, mode=mode, settings=settings)
                times.append((time.perf_counter() - t0) * 1000)
            out[f"ask {mode} ({label})"] = {
                "p50": pct(times, 50),
                "p95": pct(times, 95),
                "mean": statistics.mean(times),
            }
    return out


def render(indexing: dict[str, dict[str, float]], asks: dict[str, dict[str, float]], command: str) -> str:
    n_questions = sum(1 for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip())
    raw_p50 = asks["raw encoder, one question"]["p50"]
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {platform.python_version()}, numbers from one run (ratios are the point;",
        "absolute times drift from run to run on a shared machine).",
        "",
        "### Indexing throughput",
        "",
        "| sentence vectors | passages | chunks | raw encoder chunks/s | `build_index` chunks/s | ratio (target ≥ 0.8) |",
        "|---|---|---|---|---|---|",
        *[
            f"| {mode} | {i['passages']} | {i['chunks']} | {i['raw_chunks_per_s']:.1f} | "
            f"{i['pipeline_chunks_per_s']:.1f} | **{i['ratio']:.2f}** |"
            for mode, i in indexing.items()
        ],
        "",
        "`build_index` makes chunk vectors and the vectors of every sentence the answerer scores:",
        "pooled from the chunk's own forward pass (the default), or each sentence encoded alone.",
        "",
        f"### `ask` latency on the default corpus ({n_questions} seed questions)",
        "",
        "| what | p50 ms | p95 ms | p50 / raw encoder p50 |",
        "|---|---|---|---|",
    ]
    for name, v in asks.items():
        lines.append(f"| {name} | {v['p50']:.1f} | {v['p95']:.1f} | {v['p50'] / raw_p50:.1f}x |")
    lines += [
        "",
        "Cold: the process has seen neither the question nor its sentences before: its vector, the spaCy",
        "parses of the question and quotes, the short answer's readings are all computed, and the candidate",
        "sentences' vectors (made at index time) are read from the store.",
        "Warm: the same questions again, after an untimed pass that fills the caches the cold pass emptied;",
        "question vectors, analyses and readings come from the in-process caches.",
        "Target: warm hybrid p50 ≤ 100 ms.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=400, help="SQuAD passages to index for the throughput test")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        indexing = bench_indexing(args.passages, work)
        asks = bench_ask(work)
    command = "python bench/bench_core.py" + (f" --passages {args.passages}" if args.passages != 400 else "")
    text = render(indexing, asks, command)
    replace_section(args.out, "Core", text)
    print(text)


if __name__ == "__main__":
    main()
