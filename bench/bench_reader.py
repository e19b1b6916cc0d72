"""The reading answerer (the default, ``RAG_READER=1``) beside the sentence-scoring one (``RAG_READER=0``): warm `ask`, a cold `rag ask`, memory.

    python bench/bench_reader.py [--runs 5] [--rounds 2] [--out bench/RESULTS.md]

Both answerers on the default corpus, hybrid, in one run, alternating, so the ratios hold even
though absolute times drift on a shared machine:

- warm `ask`: a new process per answerer asks every seed question once untimed (caches filled,
  the reader's model loaded), then once more timed; p50/p95 over the timed pass, repeated
  ``--rounds`` times alternating the answerers. The process's peak RSS (GNU time) is the memory
  of a process that has answered all of them;
- cold `rag ask`: a new process answering one question, median wall time and peak RSS of
  ``--runs`` alternating runs after one unmeasured run of each (the file cache is warm for both).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from results_file import replace_section  # noqa: E402

SEED = ROOT / "eval" / "datasets" / "seed_qa.jsonl"
QUESTION = "Who is the Chinese Embassy spokesman?"
TIME = shutil.which("time") or "/usr/bin/time"  # GNU time (Debian package "time")
ANSWERERS = {"sentence scoring (RAG_READER=0)": "0", "reader (default)": "1"}
WARM = """
import json, sys, time
from rag import ask

questions = [json.loads(line)["question"] for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
for q in questions:
    ask(q, corpus=sys.argv[2], mode="hybrid")
times = []
for q in questions:
    t0 = time.perf_counter()
    ask(q, corpus=sys.argv[2], mode="hybrid")
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps(times))
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one child process, measured by GNU time around it."""
    t0 = time.perf_counter()
    done = subprocess.run([TIME, "-f", "%M", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {done.stderr[-500:]}")
    return wall, int(done.stderr.strip().splitlines()[-1]) / 1024, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="cold `rag ask` runs per answerer")
    ap.add_argument("--rounds", type=int, default=2, help="warm passes per answerer")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args()

    from rag import build_index
    from rag.settings import get_settings

    work = Path(tempfile.mkdtemp(prefix="bench-reader-"))
    warm: dict[str, list[float]] = {name: [] for name in ANSWERERS}
    warm_rss: dict[str, list[float]] = {name: [] for name in ANSWERERS}
    cold: dict[str, list[tuple[float, float]]] = {name: [] for name in ANSWERERS}
    try:
        corpus = work / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        build_index(corpus, settings=get_settings(index_dir=work / "index"))
        env = {**os.environ, "RAG_INDEX_DIR": str(work / "index")}
        rag = str(Path(sys.executable).with_name("rag"))
        for _ in range(args.rounds):
            for name, flag in ANSWERERS.items():
                _, rss, out = timed([sys.executable, "-c", WARM, str(SEED), str(corpus)], env | {"RAG_READER": flag})
                warm[name] += json.loads(out.strip().splitlines()[-1])
                warm_rss[name].append(rss)
        ask_cmd = [rag, "ask", QUESTION, "--corpus", str(corpus)]
        for flag in ANSWERERS.values():  # unmeasured
            timed(ask_cmd, env | {"RAG_READER": flag})
        for _ in range(args.runs):
            for name, flag in ANSWERERS.items():
                wall, rss, _ = timed(ask_cmd, env | {"RAG_READER": flag})
                cold[name].append((wall, rss))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    body = render(warm, warm_rss, cold, args)
    replace_section(args.out, "Reading answerer", body)
    print(body)


def render(
    warm: dict[str, list[float]],
    warm_rss: dict[str, list[float]],
    cold: dict[str, list[tuple[float, float]]],
    args: argparse.Namespace,
) -> str:
    n = sum(1 for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip())
    base, reader = list(ANSWERERS)
    p50 = {k: float(np.percentile(v, 50)) for k, v in warm.items()}
    p95 = {k: float(np.percentile(v, 95)) for k, v in warm.items()}
    rss = {k: max(v) for k, v in warm_rss.items()}
    wall = {k: statistics.median(r[0] for r in v) for k, v in cold.items()}
    cold_rss = {k: statistics.median(r[1] for r in v) for k, v in cold.items()}
    rows = "\n".join(
        f"| {k} | {p50[k]:.0f} | {p95[k]:.0f} | {rss[k]:.0f} | {wall[k]:.2f} | {cold_rss[k]:.0f} |" for k in ANSWERERS
    )
    return f"""
```bash
python bench/bench_reader.py --runs {args.runs} --rounds {args.rounds}
```

{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; default corpus
(`corpus/`), hybrid, {n} seed questions; both answerers alternating in one run.

| answerer | warm `ask` p50 ms | warm p95 ms | peak RSS after all questions (MiB) | cold `rag ask` wall (s) | cold peak RSS (MiB) |
|---|---|---|---|---|---|
{rows}
| **ratio** (reader / sentence scoring) | **{p50[reader] / p50[base]:.2f}×** | {p95[reader] / p95[base]:.2f}× | {rss[reader] / rss[base]:.2f}× (**{rss[reader] - rss[base]:+.0f} MiB**) | **{wall[reader] / wall[base]:.2f}×** | {cold_rss[reader] / cold_rss[base]:.2f}× ({cold_rss[reader] - cold_rss[base]:+.0f} MiB) |

Warm: {args.rounds} new processes per answerer, each asking every seed question once untimed
(caches filled, models loaded), then once timed; p50/p95 over all timed asks. Cold: a new
`rag ask "{QUESTION}"` process, median of {args.runs} alternating runs after one unmeasured run
of each. Targets of the reader: warm p50 ≤ 150 ms, a cold `rag ask` no slower than the sentence scorer's (the default before it),
peak RSS at most 150 MB above it.
"""


if __name__ == "__main__":
    main()
