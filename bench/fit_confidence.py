"""Fit the answer-confidence model on the fitting half of SQuAD v1.1 dev's articles.

    python bench/fit_confidence.py [--n 2500] [--seed 0] [--index-dir DIR] [--write]

Rows: real questions of the ``fit`` articles (eval/make_adversarial.py's split) and their
adversarial unanswerable twins (eval/datasets/squad_adversarial_fit.jsonl). For each question
the evidence is gathered as ``ask`` gathers it (hybrid), and the features of the answers the
candidate answers are recorded: each of the first five candidate sentences alone, and the first
two each with its adjacent sentence. The label is whether that answer contains an acceptable
answer (always 0 for an unanswerable question). A logistic regression on standardised features is fitted with
the unanswerable rows weighted to 20 % of the mass, then its intercept is shifted so that on
real questions alone the mean confidence equals the accuracy (users mostly ask answerable
questions; the held-out evaluation checks the calibration).

Chosen on the same rows: the confidence under which 5 % of the real questions' most confident
answers fall (``thresholds.confidence_5pct_false_refusal``, a suggested RAG_MIN_CONFIDENCE).
``--write`` puts the model and that value into rag/weights.json. The held-out half is never read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
from make_adversarial import DEFAULT_SQUAD, article_of, split_of  # noqa: E402

CANDIDATES = 5  # candidate sentences recorded per question, besides the pairs
UNANSWERABLE_SHARE = 0.2
FALSE_REFUSAL = 0.05


def adjacent(evidence: Any, first: Any, documents: Any) -> Any:
    """The best candidate right before or after ``first`` in its document, if verified."""
    from rag.answering import verified_citation

    s = first.sentence
    for c in evidence.candidates:
        o = c.sentence
        if o.source == s.source and (0 <= o.start - s.end <= 2 or 0 <= s.start - o.end <= 2):
            return c if verified_citation(c, documents) is not None else None
    return None


def collect(rows: list[dict[str, Any]], index_dir: str | None) -> list[dict[str, Any]]:
    from rag.confidence import features
    from rag.core import get_engine
    from rag.evaluation.metrics import contains_answer
    from rag.evidence import gather_evidence
    from rag.request import Request
    from rag.settings import get_settings

    settings = get_settings(index_dir=index_dir) if index_dir else get_settings()
    top = CANDIDATES
    engine = get_engine(DEFAULT_SQUAD / "corpus.jsonl", settings)
    engine.ensure_indexed()
    engine.encoder.encode_cached([r["question"] for r in rows])
    out = []
    t0 = time.time()
    for i, row in enumerate(rows):
        request = Request.build(row["question"], settings, (), {"mode": "hybrid"})
        ev = gather_evidence(engine.retriever, request, request.question)
        if not ev.candidates:
            continue
        head = ev.candidates[:top]
        options: list[tuple[str, list[Any]]] = [("best" if j == 0 else f"c{j}", [c]) for j, c in enumerate(head)]
        for j, c in enumerate(head[:2]):
            other = adjacent(ev, c, engine.documents)
            if other is not None:
                options.append(("pair" if j == 0 else f"pair{j}", [c, other]))
        for kind, picked in options:
            text = " ".join(c.sentence.text for c in picked)
            out.append(
                {
                    "qid": row["id"],
                    "kind": kind,
                    "answerable": bool(row["answers"]),
                    "label": bool(row["answers"]) and contains_answer(text, row["answers"]),
                    "features": features(ev, picked),
                }
            )
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(rows)} questions, {time.time() - t0:.0f} s", file=sys.stderr)
    return out


def fit(data: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[d["features"][n] for n in names] for d in data])
    y = np.array([d["label"] for d in data], dtype=int)
    answerable = np.array([d["answerable"] for d in data])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    n_unans = max(int((~answerable).sum()), 1)
    w_unans = UNANSWERABLE_SHARE / (1 - UNANSWERABLE_SHARE) * answerable.sum() / n_unans
    weights = np.where(answerable, 1.0, w_unans)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(z, y, sample_weight=weights)
    coef, intercept = model.coef_[0], float(model.intercept_[0])
    # prior shift: on real questions, mean confidence = accuracy
    za = z[answerable]
    target = y[answerable].mean()
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        p = 1 / (1 + np.exp(-(za @ coef + intercept + mid)))
        lo, hi = (mid, hi) if p.mean() < target else (lo, mid)
    return {"mean": mean, "scale": scale, "coef": coef, "intercept": intercept + (lo + hi) / 2}


def predict(model: dict[str, Any], data: list[dict[str, Any]], names: tuple[str, ...]) -> np.ndarray:
    x = np.array([[d["features"][n] for n in names] for d in data])
    return 1 / (1 + np.exp(-(((x - model["mean"]) / model["scale"]) @ model["coef"] + model["intercept"])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2500, help="real and unanswerable questions each (fit half)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--index-dir")
    ap.add_argument("--write", action="store_true", help="write the fit into rag/weights.json")
    args = ap.parse_args()
    from rag.confidence import FEATURES

    real = [json.loads(line) for line in (DEFAULT_SQUAD / "questions.jsonl").open(encoding="utf-8")]
    real = [r for r in real if split_of(article_of(r["evidence"][0]["source"])) == "fit"]
    adv_path = ROOT / "eval" / "datasets" / "squad_adversarial_fit.jsonl"
    adversarial = [json.loads(line) for line in adv_path.open(encoding="utf-8")]
    rng = random.Random(args.seed)
    rows = rng.sample(real, min(args.n, len(real))) + rng.sample(adversarial, min(args.n, len(adversarial)))
    assert all(split_of(article_of(r["evidence"][0]["source"])) == "fit" for r in rows)
    import hashlib
    import pickle
    import tempfile

    key = hashlib.sha1(json.dumps([args.n, args.seed, FEATURES]).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"rag-confidence-{key}.pkl"  # features, reused between fits
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
    else:
        data = collect(rows, args.index_dir)
        cache.write_bytes(pickle.dumps(data))
    model = fit(data, FEATURES)
    conf = predict(model, data, FEATURES)
    # an answer's confidence is that of the candidate the answerer picks: the most confident one
    answer_conf: dict[str, tuple[float, bool]] = {}
    for d, c in zip(data, conf, strict=True):
        if not d["kind"].startswith("pair"):
            prev = answer_conf.get(d["qid"], (0.0, d["answerable"]))
            answer_conf[d["qid"]] = (max(prev[0], float(c)), d["answerable"])
    real_conf = np.array([c for c, a in answer_conf.values() if a])
    unans_conf = np.array([c for c, a in answer_conf.values() if not a])
    threshold = float(np.quantile(real_conf, FALSE_REFUSAL))
    recall = float((unans_conf < threshold).mean())
    print(f"rows {len(data)} from {len(rows)} questions; confidence at 5 % false refusal {threshold:.3f}")
    print(f"fit half, best answers: false refusal {FALSE_REFUSAL}, abstention recall on unanswerable {recall:.3f}")
    print("feature              coef (per std)   mean      std")
    for n, c, m, s in zip(FEATURES, model["coef"], model["mean"], model["scale"], strict=True):
        print(f"{n:20s} {c:+8.3f}        {m:8.3f} {s:8.3f}")
    print(f"intercept {model['intercept']:+.3f}")
    if args.write:
        path = ROOT / "rag" / "weights.json"
        weights = json.loads(path.read_text(encoding="utf-8"))
        command = f"python bench/fit_confidence.py --n {args.n} --seed {args.seed} --write"
        weights["confidence"] = {
            "fitted_by": f"{command} (logistic regression on the fitting half of SQuAD v1.1 dev's articles)",
            "features": list(FEATURES),
            "mean": [round(float(v), 6) for v in model["mean"]],
            "scale": [round(float(v), 6) for v in model["scale"]],
            "coef": [round(float(v), 6) for v in model["coef"]],
            "intercept": round(float(model["intercept"]), 6),
        }
        weights["thresholds"]["confidence_5pct_false_refusal"] = round(threshold, 4)
        path.write_text(json.dumps(weights, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
