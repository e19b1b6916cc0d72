"""Fit the hybrid reranking and sentence-selection weights on the fitting set (SQuAD v1.1 train).

    python bench/tune_rerank.py --n 1500 --seed 1

The weights in use are in rag/weights.json (sections rerank, sentence, selection); copy a new
fit there.

Dumps per-question features once, then grid-searches the linear weights. The questions are a
seeded sample of the fitting set (``eval/squad_fit.py``); SQuAD v1.1 dev is never read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.core import get_engine
from rag.evaluation.metrics import contains_answer
from rag.settings import get_settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
from squad_fit import fit_set


def collect(n: int, seed: int, index_dir: str | None) -> list[dict]:
    settings = get_settings(index_dir=index_dir) if index_dir else get_settings()
    engine = get_engine(fit_set() / "corpus.jsonl", settings)
    engine.ensure_indexed()
    rows = [json.loads(line) for line in (fit_set() / "questions.jsonl").open()]
    rows = random.Random(seed).sample(rows, n)
    r = engine.retriever
    engine.encoder.encode_cached([row["question"] for row in rows])
    data = []
    t0 = time.time()
    for row in rows:
        q = r.query(row["question"])
        pool, sentences = r.pool(q, r.bm25.scores(q.terms))
        gold = {e["source"] for e in row["evidence"]}
        chunks = []
        for c in pool:
            scored = sentences[c.chunk.id]
            texts = [s.text for s in scored]
            chunks.append(
                {
                    "gold": c.chunk.source in gold,
                    "dense": c.dense,
                    "bm25": c.bm25_norm,
                    "rrf": c.rrf,
                    "s_dense": np.asarray([s.dense for s in scored], dtype=np.float32),
                    "s_lex": np.asarray([s.lexical for s in scored], dtype=np.float32),
                    "s_has": np.asarray([contains_answer(t_, row["answers"]) for t_ in texts], dtype=bool),
                    "texts": texts,
                }
            )
        data.append({"chunks": chunks, "question": row["question"]})
    print(f"collected {n} questions in {time.time() - t0:.0f} s")
    return data


def evaluate(data: list[dict], w: dict) -> dict:
    hit1 = hit5 = cont1 = cont2 = 0
    for item in data:
        ch = item["chunks"]
        if not ch:
            continue
        sent = [w["sd"] * c["s_dense"] + (1 - w["sd"]) * c["s_lex"] + w.get("tw", 0.0) * c["s_type"] for c in ch]
        best = np.array([s.max() if len(s) else 0.0 for s in sent])
        score = (
            w["cd"] * np.array([c["dense"] for c in ch])
            + w["cb"] * np.array([c["bm25"] for c in ch])
            + w["cs"] * best
            + w["rrf"] * np.array([c["rrf"] for c in ch])
        )
        order = np.argsort(-score)
        gold = [ch[i]["gold"] for i in order]
        hit1 += gold[0]
        hit5 += any(gold[:5])
        # sentence selection from the top 5 passages: score + passage prior
        top = order[:5]
        cands = []
        for i in top:
            prior = w["prior"] * (score[i] - score[top[0]])
            for j in range(len(sent[i])):
                cands.append((sent[i][j] + prior, i, j))
        cands.sort(key=lambda x: -x[0])
        if not cands:
            continue
        _, i0, j0 = cands[0]
        has1 = ch[i0]["s_has"][j0]
        cont1 += has1
        rest = [c for c in cands[1:] if c[1] == i0] if w["second"] == "same" else cands[1:]
        has2 = has1 or (bool(rest) and ch[rest[0][1]]["s_has"][rest[0][2]])
        cont2 += has2
    n = len(data)
    return {"hit@1": hit1 / n, "hit@5": hit5 / n, "cont1": cont1 / n, "cont2": cont2 / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--index-dir")
    args = ap.parse_args()
    import pickle

    cache = Path(tempfile.gettempdir()) / f"rag-tune-fit-{args.n}-{args.seed}.pkl"  # features, reused between runs
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
    else:
        data = collect(args.n, args.seed, args.index_dir)
        cache.write_bytes(pickle.dumps(data))
    from rag.language.answer_types import offers_type, question_type

    for item in data:
        qt = question_type(item["question"])
        for c in item["chunks"]:
            c["s_type"] = np.asarray([offers_type(t, qt, item["question"]) for t in c["texts"]], dtype=np.float32)
    from rag.weights import fitted

    w = fitted()
    base = {"cd": w.rerank.chunk_dense, "cb": w.rerank.chunk_bm25, "cs": w.rerank.best_sentence, "rrf": w.rerank.rrf}
    base |= {"sd": w.sentence.dense, "tw": w.sentence.answer_type, "prior": w.selection.passage_prior, "second": "any"}
    print("current", evaluate(data, base))
    results = []
    for cd, cb, cs, rrf, sd in itertools.product(
        [0.0, 0.2, 0.4, 0.6], [0.0, 0.2, 0.4, 0.6], [0.3, 0.6, 1.0, 1.5], [0.0, 2.0, 8.0, 20.0], [0.3, 0.5, 0.7]
    ):
        w = dict(base, cd=cd, cb=cb, cs=cs, rrf=rrf, sd=sd)
        results.append((evaluate(data, w), w))
    results.sort(key=lambda r: -(r[0]["hit@1"] + 0.5 * r[0]["hit@5"]))
    for m, w in results[:8]:
        print(m, w)
    best = results[0][1]
    for prior, second, sd in itertools.product([0.0, 0.2, 0.5, 1.0, 2.0], ["any", "same"], [0.3, 0.45, 0.55, 0.7]):
        w = dict(best, prior=prior, second=second)
        w2 = dict(w, sd=sd)
        print("selection", prior, second, sd, evaluate(data, w2))


if __name__ == "__main__":
    main()
