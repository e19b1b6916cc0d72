"""The fitting set: 48 articles of SQuAD v1.1 *train*, laid out like the dev benchmark.

    python eval/squad_fit.py            # writes build/squad-train-fit/{corpus,questions}.jsonl

Everything the answer path fits (the confidence trees, the short-answer trees, the refusal bar,
the LLM support bar, the reranking weights) is fitted here, so all of SQuAD v1.1 dev, its
twins included, is report-only. 48 articles, as many as the dev set has, keep the retrieval
corpus the fitters search about as large as the one we report on. They are the 48 whose titles'
SHA-1 comes first (stable, no list to keep). SQuAD train gives one answer per question, where
dev gives up to three, so "contains an acceptable answer" is a little stricter here.

Derived from SQuAD v1.1 (CC BY-SA 4.0, Rajpurkar et al., 2016).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-train" / "train-v1.1.json"
FIT = ROOT / "build" / "squad-train-fit"
ARTICLES = 48


def chosen(titles: list[str], n: int = ARTICLES) -> list[str]:
    """The ``n`` titles whose SHA-1 sorts first."""
    return sorted(titles, key=lambda t: hashlib.sha1(t.encode("utf-8")).hexdigest())[:n]


def build(train: Path = TRAIN, out: Path = FIT, n: int = ARTICLES) -> Path:
    """Write the fitting set's corpus and questions (the dev benchmark's layout); returns ``out``."""
    if not train.is_file():
        raise SystemExit(f"SQuAD v1.1 train is missing: {train} (see README, 'Evaluation')")
    data = json.loads(train.read_text(encoding="utf-8"))["data"]
    keep = set(chosen([a["title"] for a in data], n))
    corpus, questions = [], []
    for article in data:
        if article["title"] not in keep:
            continue
        for p, para in enumerate(article["paragraphs"]):
            source = f"{article['title']}_{p}"
            corpus.append({"id": source, "title": article["title"], "text": para["context"]})
            for qa in para["qas"]:
                answers = list(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(
                    {"id": qa["id"], "question": qa["question"], "answers": answers, "evidence": [{"source": source}]}
                )
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("corpus.jsonl", corpus), ("questions.jsonl", questions)):
        tmp = out / f"{name}.tmp"
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        tmp.replace(out / name)
    print(f"{out}: {len(keep)} articles, {len(corpus)} paragraphs, {len(questions)} questions")
    return out


def fit_set() -> Path:
    """The fitting set's folder, built on first use."""
    if not (FIT / "questions.jsonl").is_file():
        build()
    return FIT


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=TRAIN)
    ap.add_argument("--out", type=Path, default=FIT)
    ap.add_argument("--articles", type=int, default=ARTICLES)
    args = ap.parse_args()
    build(args.train, args.out, args.articles)


if __name__ == "__main__":
    main()
