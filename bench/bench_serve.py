"""The HTTP API's own cost: ``POST /v1/ask`` on ``rag serve`` against ``ask`` in process.

    python bench/bench_serve.py [--rounds 5] [--out bench/RESULTS.md]

The default corpus is indexed into a temporary folder; ``rag serve`` runs in its own process on a
free loopback port. Both sides are warm (every seed question asked once before timing); then the
seed questions are asked ``--rounds`` times each, alternating in-process and over HTTP (one
keep-alive connection, as a client library holds). Reported: p50/p95 of each and the difference of
the medians, which is what the server adds (JSON, HTTP, the event loop).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from results_file import replace_section  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args()
    import httpx

    from rag import ask, build_index
    from rag.settings import get_settings

    corpus = ROOT / "corpus"
    questions = [json.loads(line)["question"] for line in (ROOT / "eval/datasets/seed_qa.jsonl").open()]
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    port = _port()
    env = {**os.environ, "RAG_INDEX_DIR": str(work / "index")}
    settings = get_settings(index_dir=work / "index")
    build_index(corpus, settings=settings)
    rag_bin = str(Path(sys.executable).with_name("rag"))
    server = subprocess.Popen(
        [rag_bin, "serve", "--corpus", str(corpus), "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/v1/ask"
    try:
        with httpx.Client(timeout=60) as http:
            for _ in range(300):
                try:
                    http.get(f"http://127.0.0.1:{port}/v1/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            for q in questions:  # warm both sides
                ask(q, corpus=corpus, settings=settings)
                http.post(url, json={"question": q}).raise_for_status()
            local: list[float] = []
            remote: list[float] = []
            for _ in range(args.rounds):
                for q in questions:
                    t = time.perf_counter()
                    ask(q, corpus=corpus, settings=settings)
                    local.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    http.post(url, json={"question": q}).raise_for_status()
                    remote.append((time.perf_counter() - t) * 1000)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    p50_local, p50_remote = statistics.median(local), statistics.median(remote)
    body = f"""
```bash
python bench/bench_serve.py --rounds {args.rounds}
```

{platform.machine()}, Python {platform.python_version()}; the {len(questions)} seed questions, warm, {args.rounds}
rounds, alternating; `rag serve` in its own process, one keep-alive HTTP connection.

| | p50 (ms) | p95 (ms) |
|---|---|---|
| `ask` in process | {p50_local:.1f} | {pct(local, 95):.1f} |
| `POST /v1/ask` | {p50_remote:.1f} | {pct(remote, 95):.1f} |

The server adds **{p50_remote - p50_local:+.1f} ms** at the median (target: within 5 ms).
"""
    replace_section(args.out, "HTTP API", body)
    print(body)


if __name__ == "__main__":
    main()
