"""Fit the short-answer model on the fitting set (48 articles of SQuAD v1.1 train).

    python bench/fit_short.py [--n 0] [--index-dir DIR] [--write]

Each real question of the fitting set (``eval/squad_fit.py``; ``--n`` samples
that many, 0 = all) is asked end to end (hybrid, defaults). For every answer that contains an
acceptable answer, each candidate phrase of its quotes (``rag.answer.short_answer.read``) becomes a
row, labelled 1 when it matches an acceptable answer exactly (SQuAD's normalisation). Small
gradient-boosted trees (LightGBM's LambdaRank: 300 trees of 15 leaves) learn to put a right
candidate first among the candidates of the same answer; only the ordering they learn is
used, and at run time the trees are walked by ``rag.weights.ConfidenceModel`` (LightGBM is
needed to fit, never to answer).

An answer's candidates' scores become shares by softmax; the top candidate's share is mapped to
a confidence, P(the short answer is exactly right), by a logistic fit (Platt scaling) on
out-of-fold shares (4 folds by article) of every answered question, right or wrong. The
threshold is the confidence under which the top candidate falls for ``--hold`` (default 5 %)
of them. ``--write`` puts the trees, the calibration and the threshold into
rag/short_weights.json. SQuAD v1.1 dev is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
sys.path.insert(0, str(ROOT / "bench"))
from fit_confidence import compact, scores  # noqa: E402
from make_adversarial import article_of  # noqa: E402
from squad_fit import fit_set  # noqa: E402

TREES, LEAVES, RATE = 300, 15, 0.05
FOLDS = 4


def collect(rows: list[dict[str, Any]], index_dir: str | None) -> list[dict[str, Any]]:
    """One record per answered question: its query, quotes and gold answers (no features yet)."""
    from rag.core import ask
    from rag.evaluation.metrics import contains_answer
    from rag.settings import get_settings

    # the sentence scorer's answers: its short answers are what these trees pick (the reader's is its span)
    settings = get_settings(index_dir=index_dir, reader=False)
    corpus = fit_set() / "corpus.jsonl"
    out = []
    t0 = time.time()
    for i, row in enumerate(rows):
        answer = ask(row["question"], corpus=corpus, settings=settings, mode="hybrid")
        if not answer.abstained and answer.citations:
            out.append(
                {
                    "qid": row["id"],
                    "article": article_of(row["evidence"][0]["source"]),
                    "query": answer.query,
                    "quotes": [c.quote for c in answer.citations[:2]],
                    "answers": row["answers"],
                    "contained": contains_answer(answer.text, row["answers"]),
                }
            )
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(rows)} questions, {time.time() - t0:.0f} s", file=sys.stderr)
    return out


def with_candidates(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with its candidates' features and labels (the part that changes with the features)."""
    from rag.answer.short_answer import align, features, question_of, read, relative
    from rag.evaluation.metrics import exact_match, token_f1

    out = []
    for d in data:
        q = question_of(d["query"])
        cands = []
        for j, quote in enumerate(d["quotes"]):
            reading = read(quote)
            aligned = align(q, reading)
            for c in reading.candidates:
                cands.append(
                    {
                        "text": c.text,
                        "label": exact_match(c.text, d["answers"]),
                        "f1": token_f1(c.text, d["answers"]),
                        "features": features(q, reading, c, j, aligned),
                    }
                )
        relative([c["features"] for c in cands])
        out.append({**d, "candidates": cands})
    return out


def rows_of(data: list[dict[str, Any]], names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    cands = [c for d in data if d["contained"] for c in d["candidates"]]
    x = np.array([[c["features"][n] for n in names] for c in cands], dtype=np.float64)
    return x, np.array([c["label"] for c in cands], dtype=int)


def fit(data: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    """LambdaRank trees over the candidates of each answer holding a right one, exported as node arrays."""
    import lightgbm

    groups = [d for d in data if d["contained"] and any(c["label"] for c in d["candidates"])]
    x, y = rows_of(groups, names)
    model = lightgbm.LGBMRanker(
        objective="lambdarank",
        lambdarank_truncation_level=5,
        n_estimators=TREES,
        num_leaves=LEAVES,
        learning_rate=RATE,
        min_child_samples=20,
        n_jobs=1,
        deterministic=True,
        force_row_wise=True,
        random_state=0,
        verbose=-1,
    )
    model.fit(x, y, group=[len(d["candidates"]) for d in groups])
    exported = export_lightgbm(model.booster_.dump_model(), names)
    assert np.allclose(scores(exported, x[:50]), model.predict(x[:50]), atol=1e-4), "export differs"
    gains = model.booster_.feature_importance("gain")
    exported["importance"] = {n: round(float(v / gains.sum()), 4) for n, v in zip(names, gains, strict=True)}
    return exported


def export_lightgbm(dump: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """LightGBM's tree dump as node arrays (``rag.weights.ConfidenceModel``'s format; leaf values include the rate)."""
    trees = []
    for info in dump["tree_info"]:
        t: dict[str, list[Any]] = {k: [] for k in ("feature", "threshold", "left", "right", "value")}

        def walk(node: dict[str, Any], t: dict[str, list[Any]] = t) -> int:
            i = len(t["feature"])
            for k in t:
                t[k].append(0 if k != "left" else -1)
            if "leaf_value" in node:
                t["value"][i] = round(float(node["leaf_value"]), 6)
                t["right"][i] = -1
                return i
            assert node["decision_type"] == "<=", node["decision_type"]
            t["feature"][i] = int(node["split_feature"])
            t["threshold"][i] = float(node["threshold"])
            t["left"][i] = walk(node["left_child"])
            t["right"][i] = walk(node["right_child"])
            return i

        walk(info["tree_structure"])
        trees.append(t)
    return {"features": list(names), "init": 0.0, "rate": 1.0, "trees": trees}


def top_of(model: Any, record: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The best-scored candidate of one answer and its share (shorter first on ties, as the answerer).

    ``model`` is the exported trees as the answerer walks them (``ConfidenceModel``).
    """
    from rag.answer.short_answer import shares

    z = model.margins([c["features"] for c in record["candidates"]])
    order = sorted(range(len(z)), key=lambda k: (-z[k], record["candidates"][k]["features"]["tokens"]))
    return float(shares(z)[order[0]]), record["candidates"][order[0]]


def calibration(oof: list[tuple[float, bool, float, bool]]) -> tuple[float, float]:
    """Platt scaling: P(exact) = sigmoid(a * logit(share) + b), fitted on the out-of-fold top shares."""
    from sklearn.linear_model import LogisticRegression

    from rag.answer.short_answer import share_logit

    x = share_logit([p for p, *_ in oof])[:, None]
    lr = LogisticRegression(C=1e6).fit(x, np.array([e for _, e, *_ in oof], dtype=int))
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def out_of_fold(data: list[dict[str, Any]], names: tuple[str, ...]) -> list[tuple[float, bool, float, bool]]:
    """(share, exact, F1, answer contained) of each answered question's top candidate, by trees fitted without its article."""
    fold = [int(hashlib.sha1(d["article"].encode()).hexdigest(), 16) % FOLDS for d in data]
    out: list[tuple[float, bool, float, bool]] = []
    from rag.weights import ConfidenceModel

    for k in range(FOLDS):
        model = ConfidenceModel.from_json(fit([d for d, f in zip(data, fold, strict=True) if f != k], names))
        for d, f in zip(data, fold, strict=True):
            if f == k and d["candidates"]:
                p, best = top_of(model, d)
                out.append((p, bool(best["label"]), float(best["f1"]), bool(d["contained"])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=0, help="questions of the fitting set to use (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hold", type=float, default=0.05, help="share of answers left without a short answer")
    ap.add_argument("--index-dir")
    ap.add_argument("--write", action="store_true", help="write the fit into rag/short_weights.json")
    args = ap.parse_args()

    rows = [json.loads(line) for line in (fit_set() / "questions.jsonl").open(encoding="utf-8")]
    if args.n:
        rows = random.Random(args.seed).sample(rows, min(args.n, len(rows)))
    import pickle
    import tempfile

    from rag.answer.short_answer import calibrated
    from rag.answer.short_answer import features as feature_fn

    names = tuple(sorted(_names(feature_fn)))
    key = hashlib.sha1(json.dumps([args.n, args.seed, _weights_hash(), "train-fit"]).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"rag-short-answers-{key}.pkl"  # the answers, reused between fits
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
    else:
        data = collect(rows, args.index_dir)
        cache.write_bytes(pickle.dumps(data))
    data = with_candidates(data)
    has = [d for d in data if d["contained"]]
    oracle = np.mean([any(c["label"] for c in d["candidates"]) for d in has])
    print(f"{len(rows)} questions, {len(data)} answered, {len(has)} containing an answer")
    print(f"candidates per answer {np.mean([len(d['candidates']) for d in data]):.1f}; oracle exact match {oracle:.3f}")
    oof = out_of_fold(data, names)
    a, b = calibration(oof)
    conf = [(float(calibrated(p, a, b)), e, f, c) for p, e, f, c in oof]
    ratings = np.array([p for p, *_ in conf])
    threshold = float(np.quantile(ratings, args.hold))
    print(f"calibration: P(exact) = sigmoid({a:.3f} * logit(share) + {b:.3f})")
    print("threshold | share of answers given one | EM of those | F1 of those | EM on contained answers")
    for q in (0.0, 0.05, 0.1, 0.2, 0.3):
        t = float(np.quantile(ratings, q))
        given = [(e, f, c) for p, e, f, c in conf if p >= t]
        contained = [e for e, f, c in given if c]
        print(
            f"{t:9.3f} | {len(given) / len(conf):26.3f} | {np.mean([e for e, _, _ in given]):11.3f} | "
            f"{np.mean([f for _, f, _ in given]):11.3f} | {np.mean(contained):.3f}"
        )
    bins = np.quantile(ratings, np.linspace(0, 1, 6))
    print("calibration check (out of fold): mean confidence -> share exactly right, by fifths")
    for lo, hi in itertools.pairwise(bins):
        part = [(p, e) for p, e, *_ in conf if lo <= p <= hi]
        print(f"  {np.mean([p for p, _ in part]):.3f} -> {np.mean([e for _, e in part]):.3f}")
    model = fit(data, names)
    print("feature                importance")
    for n, v in sorted(model["importance"].items(), key=lambda kv: -kv[1])[:15]:
        print(f"{n:22s} {v:.3f}")
    if args.write:
        path = ROOT / "rag" / "short_weights.json"
        command = f"python bench/fit_short.py --n {args.n} --seed {args.seed} --hold {args.hold} --write"
        weights = {
            "fitted_by": f"{command} (LambdaRank trees, {TREES} of {LEAVES} leaves, on the candidates of the "
            "answers to the fitting set, 48 articles of SQuAD v1.1 train; calibration: Platt scaling of the top "
            "candidate's softmax share, out of fold; threshold: the confidence under which the top candidate of "
            f"{args.hold:.0%} of the answered questions falls, out of fold)",
            "calibration": {"a": round(a, 6), "b": round(b, 6)},
            "threshold": round(threshold, 4),
            "model": model,
        }
        path.write_text(compact(json.dumps(weights, indent=2)) + "\n", encoding="utf-8")
        print(f"wrote {path}")


def _names(feature_fn: Any) -> list[str]:
    """The feature names, from the features of a made-up candidate."""
    from rag.answer.short_answer import Candidate, Reading, align, question_of, relative

    c = Candidate(0, 3, "one", 0, 0, False, False, "", "ROOT", "NUM", "one", 0)
    q, reading = question_of("What?"), Reading(("one",), (c,), (0,), ("NUM",))
    return list(relative([feature_fn(q, reading, c, 0, align(q, reading))])[0])


def _weights_hash() -> str:
    """The answerer's fitted weights: the collected answers are reused only while they are unchanged."""
    return hashlib.sha1((ROOT / "rag" / "weights.json").read_bytes()).hexdigest()[:12]


if __name__ == "__main__":
    main()
