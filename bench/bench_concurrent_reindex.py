"""Readers during a re-index: do `rag ask` processes still answer while `rag index` rewrites the corpus?

    python bench/bench_concurrent_reindex.py [--docs 300] [--askers 13] [--out bench/concurrent_reindex.json]

Writes ``--docs`` SQuAD paragraphs as .txt files, indexes them, then prepends one line to every
file and starts `rag index`; while it runs, ``--askers`` `rag ask --json` processes each ask a
question whose answer is in a different paragraph. The same questions are asked again once the
index is done (the clean answers). Reported: how many answered with the gold answer in the
quote, how many abstained, how many failed, during and after the run, and whether each asker
ran while the writer was still indexing.
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

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"


def load(n: int) -> tuple[list[dict[str, str]], dict[str, dict[str, object]]]:
    docs = [
        json.loads(line) for _, line in zip(range(n), (SQUAD / "corpus.jsonl").open(encoding="utf-8"), strict=False)
    ]
    ids = {d["id"] for d in docs}
    first: dict[str, dict[str, object]] = {}
    for line in (SQUAD / "questions.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        src = q["evidence"][0]["source"]
        if src in ids and src not in first:
            first[src] = q
    return docs, first


def rag(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rag.faces.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outcome(proc: subprocess.Popen[str], answers: list[str]) -> str:
    out, err = proc.communicate(timeout=900)
    if proc.returncode != 0:
        return "failed: " + (err.strip().splitlines() or ["?"])[-1]
    data = json.loads(out)
    if data["abstained"]:
        return "abstained"
    quotes = " ".join(c["quote"] for c in data["citations"])
    return "answered" if any(a in quotes for a in answers) else "wrong"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=300)
    p.add_argument("--askers", type=int, default=13)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    docs, questions = load(args.docs)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "c"
        corpus.mkdir()
        for d in docs:
            (corpus / f"{d['id']}.txt").write_text(d["text"] + "\n", encoding="utf-8")
        env = {**os.environ, "RAG_INDEX_DIR": str(Path(tmp) / "index"), "RAG_CORPUS": str(corpus)}
        assert rag("index", str(corpus), "-q", env=env).wait() == 0
        for d in docs:
            path = corpus / f"{d['id']}.txt"
            path.write_text("Updated by the editors.\n\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
        step = max(1, len(docs) // args.askers)
        picked = [questions[d["id"]] for d in docs[::step] if d["id"] in questions][: args.askers]
        t0 = time.monotonic()
        writer = rag("index", str(corpus), "-q", env=env)
        time.sleep(1.0)  # let the writer take the lock before the readers start
        askers = [rag("ask", str(q["question"]), "--json", env=env) for q in picked]
        during = [outcome(a, list(q["answers"])) for a, q in zip(askers, picked, strict=True)]  # type: ignore[arg-type]
        overlapped = writer.poll() is None
        _out, w_err = writer.communicate(timeout=900)
        write_s = time.monotonic() - t0
        after = [outcome(rag("ask", str(q["question"]), "--json", env=env), list(q["answers"])) for q in picked]  # type: ignore[arg-type]
    result = {
        "docs": len(docs),
        "askers": len(picked),
        "writer_exit": writer.returncode,
        "writer_stderr": w_err.strip().splitlines()[-1:] if w_err.strip() else [],
        "writer_seconds": round(write_s, 1),
        "writer_still_running_after_askers": overlapped,
        "during": during,
        "after": after,
        "same_as_clean": sum(d == a for d, a in zip(during, after, strict=True)),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
