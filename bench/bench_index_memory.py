"""Peak memory and time of `rag index` on many small files and on one big adversarial text.

    python bench/bench_index_memory.py [--files 5000,20000] [--big-mb 10] [--out bench/index_memory.json]

Each case runs `rag index` in a new process on a freshly generated corpus and a new index dir,
and reads that process's peak resident memory from the kernel (``os.wait4``). Small
files are ~300 bytes of varied prose each; the big text is one file of prose lines interleaved
with dot-leader runs (a table of contents), ``--big-mb`` megabytes. Memory that grows with the
number of files shows as a rising "KB per file" column; bounded (streaming) indexing keeps it
flat. Results go to ``--out`` and, as a Markdown table, to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _vocabulary() -> list[str]:
    words: list[str] = []
    for path in sorted((ROOT / "corpus").glob("*.txt")):
        words += path.read_text(encoding="utf-8").split()
    return words


def make_small_files(folder: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = _vocabulary()
    folder.mkdir(parents=True)
    for i in range(n):
        start = rng.randrange(len(words) - 60)
        (folder / f"note_{i:06d}.txt").write_text(f"Note {i}.\n\n{' '.join(words[start : start + 50])}\n")


def make_big_text(folder: Path, megabytes: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = _vocabulary()
    folder.mkdir(parents=True)
    target = megabytes * 1_000_000
    parts: list[str] = []
    size = 0
    while size < target:
        start = rng.randrange(len(words) - 40)
        line = f"Chapter {len(parts)} {'.' * 120} {rng.randrange(999)}\n" + " ".join(words[start : start + 30]) + "\n"
        parts.append(line)
        size += len(line)
    (folder / "big.txt").write_text("".join(parts))


def run_index(corpus: Path, index_dir: Path) -> dict[str, float | str]:
    """Wall time and peak RSS of one `rag index` process (its own rusage, from ``os.wait4``)."""
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_MAX_FILE_BYTES": str(200_000_000)}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.faces.cli", "index", str(corpus), "-q"], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(err.read())
        summary = out.read().strip()
    return {"wall_s": round(wall, 1), "peak_mib": round(usage.ru_maxrss / 1024, 1), "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", default="5000,20000", help="comma-separated numbers of small files")
    ap.add_argument("--big-mb", type=int, default=10, help="size of the adversarial single file (0: skip)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "index_memory.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, Path, int]] = []
        if args.big_mb:
            make_big_text(Path(tmp, "big"), args.big_mb)
            cases.append((f"one {args.big_mb} MB text with dot leaders", Path(tmp, "big"), 1))
        for n in sorted(int(x) for x in args.files.split(",") if x):
            make_small_files(Path(tmp, f"small{n}"), n)
            cases.append((f"{n:,} small files", Path(tmp, f"small{n}"), n))
        for name, corpus, n in cases:
            result = run_index(corpus, Path(tmp, f"index-{corpus.name}"))
            peak = float(result["peak_mib"])
            result["kb_per_file"] = round(peak * 1024 / n, 1) if n > 1 else "n/a"
            rows.append({"case": name, **result})
            print(f"{name}: {result}", file=sys.stderr)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print("| case | wall s | peak RSS MiB | peak KB per file |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['wall_s']} | {r['peak_mib']} | {r['kb_per_file']} |")


if __name__ == "__main__":
    main()
