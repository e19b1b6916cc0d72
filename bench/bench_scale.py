"""Scale benchmark: how indexing throughput, `ask` latency, memory and disk grow with the corpus.

    python bench/bench_scale.py                                  # 1k and 10k chunks, both stores
    python bench/bench_scale.py --sizes 1000,10000,100000 --server-sizes 1000,10000   # the full run

Corpora of about 1k, 10k and 100k chunks are built from the SQuAD v1.1 dev passages: the
originals first, then copies whose sentences are shuffled and about one word in twelve replaced
by another corpus word, so ids, texts and vectors all differ. Each size and store runs in a fresh
child process, so peak RSS and cold start are its own. For each run, in one process:

- raw encoder: chunks/s of the configured encoder backend (`RAG_EMBED_BACKEND`) on a random
  sample of the same chunk texts, in one call with the pipeline's batch size, just before indexing;
- indexing: `build_index` from nothing (load, chunk, embed, write Chroma and the manifest, build
  BM25), chunks/s, and its ratio to the raw encoder (target >= 0.8);
- ask: p50/p95 of hybrid `ask` for SQuAD questions about passages in the corpus, each question
  new to the process (target: p50 <= 60 ms, p95 <= 200 ms, p95 at 100k <= 2x p95 at 1k), with
  hit@5 as a sanity check;
- peak RSS of the process (and of the `chroma run` server), and index size on disk;
- where the slowest questions spend their time: after the timed pass, as many other new
  questions are asked under cProfile, and the merged profile of the slowest 5 % is kept.

Results go to the "Scale" section of bench/RESULTS.md and to bench/scale.png (log-log).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from results_file import replace_section  # noqa: E402

SQUAD_DIR = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"
RAW_SAMPLE = 2000
QUESTIONS = int(os.environ.get("BENCH_SCALE_QUESTIONS", "200"))  # fewer only for a smoke run
WARMUP = 10


def build_corpus(target_chunks: int, path: Path, seed: int = 0) -> int:
    """Write a .jsonl corpus of at least ``target_chunks`` chunks; returns the chunk count."""
    from rag.ingest.chunking import chunk_document
    from rag.language.embedding import get_encoder
    from rag.language.text import sentence_spans
    from rag.settings import get_settings
    from rag.types import Document

    settings = get_settings()
    tokenizer = get_encoder(settings.embed_model, settings.embed_batch_size).tokenizer
    originals = [json.loads(line) for line in (SQUAD_DIR / "corpus.jsonl").open(encoding="utf-8")]
    vocab = sorted({w for row in originals[:300] for w in re.findall(r"[a-z]{4,}", row["text"])})
    rng = random.Random(seed)
    total = 0
    with path.open("w", encoding="utf-8") as out:
        replica = 0
        while total < target_chunks:
            for row in originals:
                text = row["text"] if replica == 0 else perturb(row["text"], rng, vocab, sentence_spans)
                doc_id = row["id"] if replica == 0 else f"{row['id']}~{replica}"
                doc = Document(source=doc_id, title=row.get("title", ""), text=text)
                total += len(chunk_document(doc, tokenizer, settings.chunk_tokens, settings.chunk_overlap))
                out.write(json.dumps({"id": doc_id, "title": row.get("title", ""), "text": text}) + "\n")
                if total >= target_chunks:
                    break
            replica += 1
    return total


def perturb(text: str, rng: random.Random, vocab: list[str], sentence_spans) -> str:  # type: ignore[no-untyped-def]
    sentences = [text[a:b] for a, b in sentence_spans(text)] or [text]
    rng.shuffle(sentences)
    words = " ".join(sentences).split(" ")
    for i in range(len(words)):
        if rng.random() < 1 / 12:
            words[i] = rng.choice(vocab)
    return " ".join(words)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if not chroma:
        raise SystemExit("the chroma command (installed with chromadb) is missing")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [chroma, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, ANONYMIZED_TELEMETRY="False"),
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"chroma server did not start; see {log}")


def peak_rss_mb(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(size: int, store: str, corpus: Path, work: Path, reuse: bool = False) -> dict[str, object]:
    """One measurement in a fresh process: raw encoder, indexing, ask latency, memory, disk."""
    from rag import ask
    from rag.ingest.loaders import iter_jsonl
    from rag.language.embedding import get_encoder
    from rag.settings import get_settings
    from rag.types import Document

    server = None
    overrides: dict[str, object] = {"index_dir": work / "index"}
    if store == "server":
        server, url = start_server(work / "server-data", work / "server.log")
        overrides["chroma_url"] = url
    try:
        settings = get_settings(**overrides)
        encoder = get_encoder(
            settings.embed_model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir
        )
        saved = work / "index.json"
        reused = reuse and saved.exists()
        if reused:  # the index an earlier run kept: this process only asks
            indexed = json.loads(saved.read_text())
        else:
            docs = [d for d in iter_jsonl(corpus) if isinstance(d, Document)]
            indexed = index_once(corpus, docs, settings, encoder)
            saved.write_text(json.dumps(indexed))
            del docs  # the benchmark's own copy of the corpus is not the answerer's memory
        raw, index_s, chunks = indexed["raw"], indexed["index_s"], int(indexed["chunks"])

        ids = {d.source for d in iter_jsonl(corpus) if isinstance(d, Document)}  # streamed, not kept
        rows = [json.loads(line) for line in (SQUAD_DIR / "questions.jsonl").open(encoding="utf-8")]
        rows = [r for r in rows if r["evidence"][0]["source"] in ids]
        random.Random(2).shuffle(rows)
        rows = rows[: 2 * QUESTIONS + WARMUP]  # the second half: the profiled pass below
        times, hits = [], 0
        for i, row in enumerate(rows[: QUESTIONS + WARMUP]):
            t0 = time.perf_counter()
            answer = ask(row["question"], corpus=corpus, settings=settings)
            ms = (time.perf_counter() - t0) * 1000
            if i < WARMUP:
                continue
            times.append(ms)
            gold = row["evidence"][0]["source"]
            hits += any(p.chunk.source.split("~")[0] == gold for p in answer.passages[:5])
        rss_asking = peak_rss_mb()  # before the profiled pass: the profiler's memory is not the answerer's
        slow = slowest_profile(rows[QUESTIONS + WARMUP :] or rows[WARMUP:], corpus, settings)
        result: dict[str, object] = {
            "size": size,
            "store": store,
            "backend": settings.embed_backend,
            "chunks": chunks,
            "reused_index": reused,
            "documents": len(ids),
            "raw_chunks_per_s": raw,
            "index_s": index_s,
            "index_chunks_per_s": chunks / index_s,
            "ratio": chunks / index_s / raw,
            "ask_p50_ms": float(np.percentile(times, 50)),
            "ask_p95_ms": float(np.percentile(times, 95)),
            "hit_at_5": hits / len(times),
            "questions": len(times),
            "rss_index_mb": indexed["rss_index_mb"],
            "rss_peak_mb": rss_asking,
            "server_rss_mb": peak_rss_mb(server.pid) if server else None,
            "disk_mb": (tree_bytes(work / "index") + tree_bytes(work / "server-data")) / 1e6,
            "slowest_profile": slow,
        }
        return result
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)


def index_once(corpus: Path, docs: list[Any], settings: Any, encoder: Any) -> dict[str, float]:
    """The raw encoder's chunks/s on a sample of the same chunks, then `build_index` from nothing."""
    from rag import build_index
    from rag.ingest.chunking import chunk_document

    rng = random.Random(1)
    sample_docs = rng.sample(docs, min(len(docs), RAW_SAMPLE))
    texts = [
        c.text
        for d in sample_docs
        for c in chunk_document(d, encoder.tokenizer, settings.chunk_tokens, settings.chunk_overlap)
    ][:RAW_SAMPLE]
    encoder.encode(texts[:64])  # warm the kernels
    t0 = time.perf_counter()
    encoder.encode(texts)  # the bare model call of the configured backend, one batch list
    raw = len(texts) / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    report = build_index(corpus, settings=settings, progress=True)
    index_s = time.perf_counter() - t0
    return {"raw": raw, "index_s": index_s, "chunks": report.chunks, "rss_index_mb": peak_rss_mb()}


def slowest_profile(rows: list[dict[str, Any]], corpus: Path, settings: Any, keep: int = 15) -> list[str]:
    """Where the slowest questions spend their time: a second pass over other new questions, each
    under cProfile (after the timed pass, so the profiler does not touch the reported latencies);
    the profiles of the slowest 5 % are merged and the top functions by cumulative time kept."""
    import cProfile
    import heapq
    import io
    import pstats

    from rag import ask

    worst: list[tuple[float, int, cProfile.Profile]] = []  # the slowest 5 % so far, fastest first
    for i, row in enumerate(rows):
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.runcall(ask, row["question"], corpus=corpus, settings=settings)
        heapq.heappush(worst, (time.perf_counter() - t0, i, prof))
        if len(worst) > max(1, len(rows) // 20):
            heapq.heappop(worst)
    worst.sort(key=lambda r: -r[0])
    out = io.StringIO()
    stats = pstats.Stats(worst[0][2], stream=out)
    for *_, prof in worst[1:]:
        stats.add(prof)
    stats.sort_stats("cumulative").print_stats(40)
    text = re.sub(r"\S*/site-packages/", "", out.getvalue()).replace(f"{ROOT}/", "")  # no paths of this machine
    lines = [ln.rstrip() for ln in text.splitlines() if re.search(r"rag/|chromadb|sqlite|spacy|onnx", ln)]
    slowest = ", ".join(f"{1000 * t:.0f}" for t, *_ in worst)
    return [f"slowest {len(worst)} of {len(rows)} profiled questions (ms, with the profiler): {slowest}", *lines[:keep]]


def render(results: list[dict[str, object]], command: str) -> str:
    lines = [
        f"Command: `{command}` (all rows from that one run; each row is a fresh process).",
        "",
        "| chunks | store | raw encoder chunks/s | `build_index` chunks/s | ratio (target ≥ 0.8) | index time | "
        "ask p50 ms | ask p95 ms | p95 / p95 at smallest | hit@5 | peak RSS MB: indexing / asking only (server) | "
        "disk MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base: dict[str, float] = {}
    for r in results:
        base.setdefault(str(r["store"]), float(r["ask_p95_ms"]))  # type: ignore[arg-type]
    for r in results:
        server = f" ({r['server_rss_mb']:.0f})" if r["server_rss_mb"] else ""
        asking = f"{r['rss_peak_mb']:.0f}" if r.get("reused_index") else "–"
        indexing = r["rss_index_mb"] if r.get("reused_index") else r["rss_peak_mb"]
        lines.append(
            f"| {r['chunks']:,} | {r['store']} | {r['raw_chunks_per_s']:.1f} | {r['index_chunks_per_s']:.1f} | "
            f"**{r['ratio']:.2f}** | {float(r['index_s']) / 60:.1f} min | {r['ask_p50_ms']:.0f} | "  # type: ignore[arg-type]
            f"{r['ask_p95_ms']:.0f} | **{float(r['ask_p95_ms']) / base[str(r['store'])]:.2f}x** | "  # type: ignore[arg-type]
            f"{r['hit_at_5']:.3f} | {indexing:.0f} / {asking}{server} | {r['disk_mb']:.0f} |"
        )
    lines += [
        "",
        "![latency and throughput against corpus size](scale.png)",
        "",
        f"ask: hybrid mode, {QUESTIONS} SQuAD questions about passages in the corpus after {WARMUP} warm-up "
        "questions, each new to the process (its own vector is embedded; its candidate sentences' vectors "
        "were made at index time and are read from the store). "
        f"Encoder backend: {results[0].get('backend', 'torch')}. Raw encoder: the same backend's bare batch "
        f"encode on a random sample of {RAW_SAMPLE} of the same chunks. "
        "hit@5 counts a perturbed copy of the gold passage as a hit. Peak RSS: of the process that "
        "indexed and then asked, and (with `--reuse`, asking against an index kept by an earlier run) of a "
        "new process that only opens the index and asks, each read when the timed questions are done (the "
        "profiled pass after them holds its profiles); the `chroma run` server's own peak in brackets. "
        "Disk is the index folder plus the server's data folder.",
    ]
    for r in results:  # where the slowest questions go (a profiled pass after the timed one)
        if r.get("slowest_profile"):
            lines += ["", f"Slowest questions, {r['chunks']:,} chunks, {r['store']}:", "", "```"]
            lines += [str(x) for x in r["slowest_profile"]]  # type: ignore[attr-defined]
            lines += ["```"]
    return "\n".join(lines)


def plot(results: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for store, marker in (("embedded", "o"), ("server", "s")):
        rows = [r for r in results if r["store"] == store]
        if not rows:
            continue
        x = [r["chunks"] for r in rows]
        left.plot(x, [r["ask_p50_ms"] for r in rows], marker=marker, label=f"{store} p50")
        left.plot(x, [r["ask_p95_ms"] for r in rows], marker=marker, linestyle="--", label=f"{store} p95")
        right.plot(x, [r["index_chunks_per_s"] for r in rows], marker=marker, label=f"{store} build_index")
        right.plot(x, [r["raw_chunks_per_s"] for r in rows], marker=marker, linestyle=":", label=f"{store} raw encoder")
    for ax, title, unit in ((left, "ask latency", "ms"), (right, "indexing throughput", "chunks/s")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks in the index")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000", help="target chunk counts, comma-separated")
    ap.add_argument(
        "--server-sizes", default=None, help="sizes also run on a Chroma server (default: --sizes; none: no server run)"
    )
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep each index in --work, and ask against one kept there by an earlier run instead of indexing "
        "again (the index columns then repeat that run's; peak RSS is of a process that only asks)",
    )
    ap.add_argument("--child", nargs=3, metavar=("SIZE", "STORE", "CORPUS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        size, store, corpus = args.child
        result = child(int(size), store, Path(corpus), Path(args.work), args.reuse)
        (Path(args.work) / "result.json").write_text(json.dumps(result))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    server_sizes = [
        int(s) for s in (args.server_sizes or args.sizes).split(",") if s.strip().isdigit()
    ]  # "none": no server
    import tempfile

    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = args.work or Path(tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, object]] = []
    try:
        for size in sizes:
            corpus = work / f"corpus-{size}.jsonl"
            if not corpus.exists():
                print(f"building a corpus of {size:,} chunks", file=sys.stderr, flush=True)
                build_corpus(size, corpus)
            for store in ("embedded", "server"):
                if store == "server" and size not in server_sizes:
                    continue
                run_dir = work / f"run-{size}-{store}"
                if not (args.reuse and (run_dir / "index.json").exists()):
                    shutil.rmtree(run_dir, ignore_errors=True)
                run_dir.mkdir(exist_ok=True)
                print(f"== {size:,} chunks, {store} store", file=sys.stderr, flush=True)
                cmd = [sys.executable, __file__, "--work", str(run_dir), "--child", str(size), store, str(corpus)]
                subprocess.run(cmd + (["--reuse"] if args.reuse else []), check=True)
                result = json.loads((run_dir / "result.json").read_text())
                print(json.dumps(result), file=sys.stderr, flush=True)
                results.append(result)
                if not args.reuse:
                    shutil.rmtree(run_dir / "index", ignore_errors=True)
                    shutil.rmtree(run_dir / "server-data", ignore_errors=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    results.sort(key=lambda r: (r["store"] != "embedded", r["chunks"]))  # type: ignore[operator]
    command = "python bench/bench_scale.py" + (f" --sizes {args.sizes}" if args.sizes != "1000,10000" else "")
    if args.server_sizes:
        command += f" --server-sizes {args.server_sizes}"
    if args.reuse:
        command += " --work DIR --reuse"
    plot(results, args.out.parent / "scale.png")  # beside the results file it belongs to
    replace_section(args.out, "Scale", render(results, command))
    (args.out.parent / "scale.json").write_text(json.dumps(results, indent=1))
    print(render(results, command))


if __name__ == "__main__":
    main()
