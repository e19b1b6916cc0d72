"""The ONNX Runtime backends against torch: encoder throughput, vector agreement, SQuAD retrieval.

    python bench/bench_onnx.py [--limit 10570]

For each of torch, onnx (fp32) and onnx-int8, in one run:

- throughput: chunks/s encoding 768 SQuAD chunks (best of two interleaved passes);
- agreement: cosine of each chunk's vector with the torch vector (mean and minimum);
- retrieval: `rag eval` on SQuAD v1.1 dev (all 2,067 passages, ``--limit`` questions) in the
  dense and hybrid modes, each backend with its own fresh index. A backend may become the
  default only if its hybrid hit@5 is within 0.5 points of torch's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from results_file import replace_section  # noqa: E402

SQUAD_DIR = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"
BACKENDS = ("torch", "onnx", "onnx-int8")


def throughput(cache: Path, n: int = 768) -> dict[str, dict[str, float]]:
    from rag.ingest.chunking import chunk_document
    from rag.language.embedding import get_encoder
    from rag.types import Document

    encoders = {b: get_encoder(None, 16, b, cache) for b in BACKENDS}
    tokenizer = encoders["torch"].tokenizer
    texts: list[str] = []
    for line in (SQUAD_DIR / "corpus.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        texts += [c.text for c in chunk_document(Document(row["id"], row["text"]), tokenizer, 200, 40)]
        if len(texts) >= n:
            break
    texts = texts[:n]
    out: dict[str, dict[str, float]] = {b: {"chunks_per_s": 0.0} for b in BACKENDS}
    vectors = {}
    for enc in encoders.values():
        enc.encode(texts[:32])
    for _ in range(2):
        for b, enc in encoders.items():
            t0 = time.perf_counter()
            vectors[b] = np.vstack([enc.encode(texts[i : i + 256]) for i in range(0, len(texts), 256)])
            out[b]["chunks_per_s"] = max(out[b]["chunks_per_s"], len(texts) / (time.perf_counter() - t0))
    for b in BACKENDS:
        cos = (vectors[b] * vectors["torch"]).sum(axis=1)
        out[b]["cos_mean"] = float(cos.mean())
        out[b]["cos_min"] = float(cos.min())
    return out


def retrieval(backend: str, limit: int | None, work: Path, cache: Path) -> dict[str, dict[str, float]]:
    env = dict(os.environ, RAG_EMBED_BACKEND=backend, RAG_INDEX_DIR=str(work / f"index-{backend}"))
    env["RAG_CACHE_DIR"] = str(cache)
    out = work / f"eval-{backend}"
    cmd = [sys.executable, "-m", "rag.faces.cli", "eval", "--corpus", str(SQUAD_DIR / "corpus.jsonl")]
    cmd += ["--dataset", str(SQUAD_DIR / "questions.jsonl"), "--modes", "dense,hybrid", "--out", str(out)]
    if limit:
        cmd += ["--limit", str(limit)]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    elapsed = time.perf_counter() - t0
    report = json.loads((out / "report.json").read_text())
    res = {mode: report["modes"][mode]["retrieval"] for mode in ("dense", "hybrid")}
    res["run"] = {"seconds": elapsed, "n": report["n_questions"]}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="questions (default: all 10,570)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speed = throughput(work / "cache")
        for b in BACKENDS:
            print(f"{b}: {speed[b]}", file=sys.stderr, flush=True)
        quality = {b: retrieval(b, args.limit, work, work / "cache") for b in BACKENDS}
    base = quality["torch"]["hybrid"]["hit@5"]
    command = "python bench/bench_onnx.py" + (f" --limit {args.limit}" if args.limit else "")
    n = quality["torch"]["run"]["n"]
    lines = [
        f"Command: `{command}` (one run; {n:,} SQuAD v1.1 dev questions over all 2,067 passages).",
        "",
        "| backend | encoder chunks/s | vs torch | cosine to torch (mean / min) | dense hit@5 | hybrid hit@1 "
        "| hybrid hit@5 | hybrid hit@5 change | eval run (index + questions) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in BACKENDS:
        s, q = speed[b], quality[b]
        delta = (q["hybrid"]["hit@5"] - base) * 100
        lines.append(
            f"| {b} | {s['chunks_per_s']:.1f} | {s['chunks_per_s'] / speed['torch']['chunks_per_s']:.2f}x | "
            f"{s['cos_mean']:.4f} / {s['cos_min']:.4f} | {q['dense']['hit@5']:.4f} | {q['hybrid']['hit@1']:.4f} | "
            f"{q['hybrid']['hit@5']:.4f} | {delta:+.2f} pt | {q['run']['seconds'] / 60:.1f} min |"
        )
    lines += [
        "",
        "Rule: a backend may be the default only if its hybrid hit@5 is within 0.5 points of torch's.",
    ]
    replace_section(args.out, "ONNX backend", "\n".join(lines))
    (ROOT / "bench" / "onnx.json").write_text(json.dumps({"speed": speed, "quality": quality}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
