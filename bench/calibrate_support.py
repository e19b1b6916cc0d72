"""Calibrate the support threshold that grounding uses to accept an LLM sentence.

    python bench/calibrate_support.py --n 400 --seed 2

Builds claims from the fitting set's questions (48 articles of SQuAD v1.1 train, ``eval/squad_fit.py``) the way a model restates an answer ("<question> <answer>."),
then scores three kinds of (claim, cited passage) pairs with `rag.answer.grounding.support`:

- supported: the claim cited to its gold passage;
- wrong citation: the same claim cited to the best-ranked passage that is not the gold one;
- invented fact: the claim with its answer swapped for another question's answer, cited to the gold
  passage (the passage is right, the fact is not).

Prints the score distributions and the threshold with the best balanced accuracy; the one in use
is `thresholds.support` in rag/weights.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from rag.answer.grounding import support
from rag.core import get_engine
from rag.settings import get_settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
from squad_fit import fit_set


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--index-dir")
    args = ap.parse_args()
    settings = get_settings(index_dir=args.index_dir) if args.index_dir else get_settings()
    engine = get_engine(fit_set() / "corpus.jsonl", settings)
    engine.ensure_indexed()
    r = engine.retriever
    rows = [json.loads(line) for line in (fit_set() / "questions.jsonl").open(encoding="utf-8")]
    rng = random.Random(args.seed)
    rows = rng.sample(rows, args.n)
    scores: dict[str, list[float]] = {"supported": [], "wrong citation": [], "invented fact": []}
    for row in rows:
        gold = row["evidence"][0]["source"]
        answer = row["answers"][0]
        other = rng.choice(rows)["answers"][0]
        if other.lower() == answer.lower():
            continue
        claim = f"{row['question'].rstrip('?')} {answer}."
        fake = f"{row['question'].rstrip('?')} {other}."
        passages = r.retrieve(r.query(claim), "hybrid", 20).passages
        gold_p = next((p for p in passages if p.chunk.source == gold and answer in p.chunk.text), None)
        wrong_p = next((p for p in passages if p.chunk.source != gold), None)
        if gold_p is None or wrong_p is None:
            continue
        scores["supported"].append(support(r.scorer, claim, gold_p)[0])
        scores["wrong citation"].append(support(r.scorer, claim, wrong_p)[0])
        scores["invented fact"].append(support(r.scorer, fake, gold_p)[0])
    for name, values in scores.items():
        v = np.asarray(values)
        print(
            f"{name:15s} n={len(v):4d} p10={np.percentile(v, 10):.3f} p50={np.median(v):.3f} p90={np.percentile(v, 90):.3f}"
        )
    pos = np.asarray(scores["supported"])
    neg = np.asarray(scores["wrong citation"] + scores["invented fact"])
    best = max((((pos >= t).mean() + (neg < t).mean()) / 2, t) for t in np.arange(0.2, 0.9, 0.01))
    t = best[1]
    print(
        f"best threshold {t:.2f}: balanced accuracy {best[0]:.3f}, supported kept {(pos >= t).mean():.3f}, "
        f"wrong citations caught {(np.asarray(scores['wrong citation']) < t).mean():.3f}, "
        f"invented facts caught {(np.asarray(scores['invented fact']) < t).mean():.3f}"
    )


if __name__ == "__main__":
    main()
