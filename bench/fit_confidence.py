"""Fit the answer-confidence model on the fitting set (48 articles of SQuAD v1.1 train).

    python bench/fit_confidence.py [--n 2500] [--seed 0] [--index-dir DIR] [--write]

Rows: real questions of the fitting set (``eval/squad_fit.py``) and their adversarial
unanswerable twins (eval/datasets/squad_adversarial_fit.jsonl, ``eval/make_adversarial.py``). For each question
the evidence is gathered as ``ask`` gathers it (hybrid), and the features of the answers the
candidate answers are recorded: each of the first five candidate sentences alone, and the first
two each with its adjacent sentence, and the first two together. The label is whether that answer contains an acceptable
answer (always 0 for an unanswerable question). Small gradient-boosted trees (100 of depth 3) are fitted
with the unanswerable rows weighted to 20 % of the mass, then its intercept is shifted so that on
real questions alone the mean confidence equals the accuracy (users mostly ask answerable
questions; the held-out evaluation checks the calibration).

Chosen on out-of-fold confidences of the same rows (4 folds by article), replaying the answerer's choice (a second sentence is quoted when it raises the
confidence by ``--gain``, default 0.05; the printed table shows what each gain costs in
containment): the confidence under which 5 % of the real questions' answers fall (``thresholds.min_confidence``,
the default RAG_MIN_CONFIDENCE).
``--write`` puts the model and that value into rag/weights.json. SQuAD v1.1 dev is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
from make_adversarial import article_of  # noqa: E402
from squad_fit import fit_set  # noqa: E402

CANDIDATES = 5  # candidate sentences recorded per question, besides the pairs
UNANSWERABLE_SHARE = 0.2
FALSE_REFUSAL = 0.05
TREES, DEPTH, RATE = 100, 3, 0.1
FOLDS = 4
GAINS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0)


def adjacent(evidence: Any, first: Any, documents: Any) -> Any:
    """The best candidate right before or after ``first`` in its document, if verified."""
    from rag.answer.answering import adjacent as follows
    from rag.answer.answering import verified_citation

    s = first.sentence
    for c in evidence.candidates:
        if c.sentence.source == s.source and follows(c.sentence, s):
            return c if verified_citation(c, documents) is not None else None
    return None


def evidence_for(rows: list[dict[str, Any]], index_dir: str | None) -> Iterator[tuple[dict[str, Any], Any, Any]]:
    """Each row with the evidence ``ask`` gathers for it (hybrid) over the fitting set, and the
    engine; prints progress every 500 questions."""
    from rag.core import get_engine
    from rag.request import Request
    from rag.retrieve.evidence import gather_evidence
    from rag.settings import get_settings

    settings = get_settings(index_dir=index_dir) if index_dir else get_settings()
    engine = get_engine(fit_set() / "corpus.jsonl", settings)
    engine.ensure_indexed()
    engine.encoder.encode_cached([r["question"] for r in rows])
    t0 = time.time()
    for i, row in enumerate(rows):
        request = Request.build(row["question"], settings, (), {"mode": "hybrid"})
        yield row, gather_evidence(engine.retriever, request, request.question), engine
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(rows)} questions, {time.time() - t0:.0f} s", file=sys.stderr)


def collect(rows: list[dict[str, Any]], index_dir: str | None) -> list[dict[str, Any]]:
    from rag.answer.confidence import features
    from rag.evaluation.metrics import contains_answer

    top = CANDIDATES
    out = []
    for row, ev, engine in evidence_for(rows, index_dir):
        if not ev.candidates:
            continue
        head = ev.candidates[:top]
        options: list[tuple[str, list[Any]]] = [("best" if j == 0 else f"c{j}", [c]) for j, c in enumerate(head)]
        for j, c in enumerate(head[:2]):
            other = adjacent(ev, c, engine.documents)
            if other is not None:
                options.append(("pair" if j == 0 else f"pair{j}", [c, other]))
        if len(head) > 1 and adjacent(ev, head[0], engine.documents) is not head[1]:
            options.append(("top2", head[:2]))
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
    return out


def collect_reader(rows: list[dict[str, Any]], index_dir: str | None) -> list[dict[str, Any]]:
    """One row per question for the reading answerer: the features of the sentence it would quote.

    A question the reader finds nothing to quote for gets ``features`` None: it is refused
    whatever the model says, so it counts among the refusals when the bar is chosen.
    """
    from rag.answer.reading import read_evidence
    from rag.answer.refusal import reader_features
    from rag.evaluation.metrics import contains_answer

    out = []
    for row, ev, _ in evidence_for(rows, index_dir):
        reading = read_evidence(ev) if ev.candidates else None
        answerable = bool(row["answers"])
        found = reading is not None and reading.sentence is not None
        text = reading.sentence.sentence.text if reading and reading.sentence else ""
        out.append(
            {
                "qid": row["id"],
                "kind": "best",
                "answerable": answerable,
                "label": answerable and found and contains_answer(text, row["answers"]),
                "features": reader_features(ev, reading.span.margin, reading.sentence) if found else None,  # type: ignore[union-attr,arg-type]
            }
        )
    return out


def fit_reader(args: argparse.Namespace, rows: list[dict[str, Any]], article: dict[str, str]) -> None:
    """The reading answerer's refusal: its bar, over the margin's calibration or over trees.

    With ``--margin-only`` the confidence is the reader's margin calibrated on training windows
    it never trained on (``rag/models/reader/calibration.json``), and only the bar is chosen here:
    the fitting set's questions are the reader's own training questions, so a calibration fitted
    on them would promise what unseen questions do not keep. Without it, trees over the margin and
    the quoted sentence's evidence features (the ablation; rated out of fold).
    """
    import pickle
    import tempfile

    from rag.answer.confidence import FEATURES
    from rag.answer.reader import MODEL
    from rag.answer.refusal import calibration

    every = ("reader_margin", *FEATURES)
    reader_hash = hashlib.sha1(MODEL.read_bytes()).hexdigest()[:12]
    key = hashlib.sha1(json.dumps([args.n, args.seed, every, reader_hash, "reader"]).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"rag-reader-confidence-{key}.pkl"
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
    else:
        data = collect_reader(rows, args.index_dir)
        cache.write_bytes(pickle.dumps(data))
    usable = [d for d in data if d["features"] is not None]
    model = None
    if args.margin_only:
        cal = calibration()
        conf = np.array([cal(d["features"]["reader_margin"]) if d["features"] else 0.0 for d in data])
    else:
        model = fit(usable, every)
        oof = dict(zip((d["qid"] for d in usable), out_of_fold(usable, every, article), strict=True))
        conf = np.array([oof.get(d["qid"], 0.0) for d in data])
    real = np.array([d["answerable"] for d in data])
    label = np.array([d["label"] for d in data])
    bar = float(np.quantile(conf[real], FALSE_REFUSAL))
    refused = conf < bar
    print(f"{len(data)} questions, {len(usable)} with a sentence to quote; containment (real) {label[real].mean():.3f}")
    print(f"bar at {FALSE_REFUSAL:.0%} false refusal: {bar:.4f}")
    print(f"abstention recall on the twins {refused[~real].mean():.3f}; containment of the answered real questions "
          f"{label[real & ~refused].mean():.3f}")  # fmt: skip
    by_kind: dict[str, list[bool]] = {}
    for d, r in zip(data, refused, strict=True):
        if not d["answerable"]:
            by_kind.setdefault(d["qid"].rsplit("-", 1)[-1], []).append(bool(r))
    print("refused by kind:", {k: round(float(np.mean(v)), 3) for k, v in sorted(by_kind.items())})
    for n, v in sorted(model["importance"].items(), key=lambda kv: -kv[1])[:10] if model else []:
        print(f"{n:22s} {v:.3f}")
    if args.write:
        from rag.answer.refusal import REFUSAL as OUT

        only = " --margin-only" if args.margin_only else ""
        command = f"python bench/fit_confidence.py --reader{only} --n {args.n} --seed {args.seed} --write"
        how = (
            "confidence: the reader's margin calibrated on held-out training windows (calibration.json)"
            if model is None
            else f"confidence: gradient-boosted trees, {TREES} of depth {DEPTH}, over the reader's margin and the "
            "quoted sentence's evidence features, out of fold (4 folds by article)"
        )
        out = {
            "fitted_by": f"{command} ({how}; bar: {FALSE_REFUSAL:.0%} false refusal end to end on the fitting set, "
            "48 articles of SQuAD v1.1 train, and its twins)",
            "bar": round(bar, 4),
            "reader_sha1": reader_hash,
            "abstention_recall_fit": round(float(refused[~real].mean()), 4),
            "model": model,
        }
        OUT.write_text(compact(json.dumps(out, indent=2)) + "\n", encoding="utf-8")
        print(f"wrote {OUT}")


def compact(text: str) -> str:
    """Lists of numbers on one line each, so a tree is a few reviewable lines."""
    return re.sub(
        r"\[\s+([-\d.,\se]+?)\s+\]", lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text
    )


def answer_of(options: dict[str, tuple[float, bool, bool]], gain: float) -> tuple[float, bool, bool, bool]:
    """(confidence, contains an answer, two sentences, answerable) of the answer the answerer gives.

    As ``ExtractiveAnswerer.compose``: the best sentence, joined by its neighbour or the runner-up
    when the model rates the two together at least ``gain`` above it alone.
    """
    conf, label, answerable = options["best"]
    out = (conf, label, False, answerable)
    for kind in ("pair", "top2"):
        if kind in options and options[kind][0] >= options["best"][0] + gain and options[kind][0] > out[0]:
            out = (options[kind][0], options[kind][1], True, answerable)
    return out


def matrix(data: list[dict[str, Any]], names: tuple[str, ...]) -> np.ndarray:
    return np.array([[d["features"][n] for n in names] for d in data], dtype=np.float64)


def fit(data: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    """Gradient-boosted trees (TREES of depth DEPTH), exported as node arrays with a shifted init."""
    from sklearn.ensemble import GradientBoostingClassifier

    x = matrix(data, names)
    y = np.array([d["label"] for d in data], dtype=int)
    answerable = np.array([d["answerable"] for d in data])
    n_unans = max(int((~answerable).sum()), 1)
    w_unans = UNANSWERABLE_SHARE / (1 - UNANSWERABLE_SHARE) * answerable.sum() / n_unans
    weights = np.where(answerable, 1.0, w_unans)
    model = GradientBoostingClassifier(n_estimators=TREES, max_depth=DEPTH, learning_rate=RATE, random_state=0)
    model.fit(x, y, sample_weight=weights)
    exported = export_trees(model, x, names)
    # prior shift: on real questions, mean confidence = accuracy
    za = scores(exported, x[answerable])
    target = y[answerable].mean()
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (1 / (1 + np.exp(-(za + mid)))).mean() < target else (lo, mid)
    exported["init"] = round(exported["init"] + (lo + hi) / 2, 6)
    exported["importance"] = {n: round(float(v), 4) for n, v in zip(names, model.feature_importances_, strict=True)}
    return exported


def export_trees(model: Any, x: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """A fitted GradientBoostingClassifier as node arrays (``rag.weights.ConfidenceModel``'s format)."""
    trees = []
    for est in model.estimators_[:, 0]:
        t = est.tree_
        trees.append(
            {
                "feature": [int(f) if f >= 0 else 0 for f in t.feature],
                "threshold": [round(float(v), 6) for v in t.threshold],
                "left": [int(v) for v in t.children_left],
                "right": [int(v) for v in t.children_right],
                "value": [round(float(v), 6) for v in t.value[:, 0, 0]],
            }
        )
    rate = model.learning_rate
    raw = model.decision_function(x[:1])[0] - rate * sum(e.predict(x[:1])[0] for e in model.estimators_[:, 0])
    return {"features": list(names), "init": float(raw), "rate": rate, "trees": trees}


def out_of_fold(data: list[dict[str, Any]], names: tuple[str, ...], article: dict[str, str]) -> np.ndarray:
    """Each row's confidence from a model fitted without its article (FOLDS folds by article).

    The threshold and the second-sentence gain are chosen on these, not on the final model's
    in-sample confidences, which are optimistic.
    """
    fold = np.array([int(hashlib.sha1(article[d["qid"]].encode()).hexdigest(), 16) % FOLDS for d in data])
    out = np.zeros(len(data))
    for k in range(FOLDS):
        train = [d for d, f in zip(data, fold, strict=True) if f != k]
        test = [d for d, f in zip(data, fold, strict=True) if f == k]
        out[fold == k] = predict(fit(train, names), test, names)
    return out


def scores(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """The model's log-odds for each row of ``x``, computed from the exported trees."""
    from rag.weights import ConfidenceModel

    m = ConfidenceModel.from_json(model)
    total = np.array([sum(t(list(row)) for t in m.trees) for row in x])
    return m.init + m.rate * total


def predict(model: dict[str, Any], data: list[dict[str, Any]], names: tuple[str, ...]) -> np.ndarray:
    return 1 / (1 + np.exp(-scores(model, matrix(data, names))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2500, help="real and unanswerable questions each (fitting set)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--index-dir")
    ap.add_argument("--gain", type=float, default=0.05, help="confidence a second sentence must add (policy)")
    ap.add_argument("--write", action="store_true", help="write the fit into rag/weights.json")
    ap.add_argument(
        "--reader", action="store_true", help="fit the reading answerer's confidence instead (rag/models/reader/)"
    )
    ap.add_argument("--margin-only", action="store_true", help="with --reader: the reader's margin alone (ablation)")
    args = ap.parse_args()
    from rag.answer.confidence import FEATURES

    real = [json.loads(line) for line in (fit_set() / "questions.jsonl").open(encoding="utf-8")]
    adv_path = ROOT / "eval" / "datasets" / "squad_adversarial_fit.jsonl"
    adversarial = [json.loads(line) for line in adv_path.open(encoding="utf-8")]
    rng = random.Random(args.seed)
    rows = rng.sample(real, min(args.n, len(real))) + rng.sample(adversarial, min(args.n, len(adversarial)))
    fitting = {article_of(r["evidence"][0]["source"]) for r in real}
    assert all(article_of(r["evidence"][0]["source"]) in fitting for r in rows), (
        "twins of another set: rerun make_adversarial"
    )
    if args.reader:
        fit_reader(args, rows, {r["id"]: article_of(r["evidence"][0]["source"]) for r in rows})
        return
    import pickle
    import tempfile

    from rag.settings import get_settings

    mode = get_settings().sentence_vectors  # the features depend on how sentence vectors are made
    key = hashlib.sha1(json.dumps([args.n, args.seed, FEATURES, mode, "train-fit"]).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"rag-confidence-{key}.pkl"  # features, reused between fits
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
    else:
        data = collect(rows, args.index_dir)
        cache.write_bytes(pickle.dumps(data))
    model = fit(data, FEATURES)
    article = {r["id"]: article_of(r["evidence"][0]["source"]) for r in rows}
    conf = out_of_fold(data, FEATURES, {d["qid"]: article[d["qid"]] for d in data})
    by_q: dict[str, dict[str, tuple[float, bool, bool]]] = {}
    for d, c in zip(data, conf, strict=True):
        by_q.setdefault(d["qid"], {})[d["kind"]] = (float(c), bool(d["label"]), bool(d["answerable"]))
    print(f"rows {len(data)} from {len(rows)} questions")
    print("second-sentence gain | containment (real) | answers with two sentences")
    results = {}
    for gain in GAINS:
        chosen = [answer_of(options, gain) for options in by_q.values() if "best" in options]
        real = [(c, lab, two) for c, lab, two, ans in chosen if ans]
        results[gain] = (float(np.mean([lab for _, lab, _ in real])), float(np.mean([two for *_, two in real])))
        print(f"{gain:20.2f} | {results[gain][0]:18.3f} | {results[gain][1]:.3f}")
    gain = args.gain
    chosen = [answer_of(options, gain) for options in by_q.values() if "best" in options]
    real_conf = np.array([c for c, _, _, a in chosen if a])
    unans_conf = np.array([c for c, _, _, a in chosen if not a])
    threshold = float(np.quantile(real_conf, FALSE_REFUSAL))
    recall = float((unans_conf < threshold).mean())
    print(f"second-sentence gain {gain}: a second quote must raise the chance the answer is right by that much")
    print(
        f"confidence at {FALSE_REFUSAL:.0%} false refusal {threshold:.3f}; abstention recall on the fitting set {recall:.3f}"
    )
    print("feature                importance")
    for n, v in sorted(model["importance"].items(), key=lambda kv: -kv[1]):
        print(f"{n:22s} {v:.3f}")
    if args.write:
        path = ROOT / "rag" / "weights.json"
        weights = json.loads(path.read_text(encoding="utf-8"))
        command = (
            f"RAG_SENTENCE_VECTORS={mode} python bench/fit_confidence.py --n {args.n} --seed {args.seed} "
            f"--gain {args.gain} --write"
        )
        weights["confidence"] = {
            "fitted_by": f"{command} (gradient-boosted trees, {TREES} of depth {DEPTH}, on the fitting set, "
            "48 articles of SQuAD v1.1 train; importance: each feature's share of the trees' gain)",
            **model,
        }
        weights["thresholds"]["min_confidence"] = round(threshold, 4)
        weights["thresholds"]["second_sentence_gain"] = gain
        path.write_text(compact(json.dumps(weights, indent=2)) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
