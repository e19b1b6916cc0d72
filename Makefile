# Everything this project needs is installed by these targets, into .venv/.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install chat index test lint format bench bench-scale bench-scale-full bench-onnx bench-reader eval eval-squad eval-heldout eval-short eval-public fit-confidence fit-short train-reader eval-reader browser chroma clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first, pinned, so nothing pulls a multi-GB GPU build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

index: install
	$(BIN)/rag index corpus

# app.py indexes corpus/ first (incrementally: a no-op when nothing changed), then serves.
chat: install
	$(BIN)/python app.py

# Debian's headless Chromium for the browser tests (never a browser downloaded by a tool).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: install browser lint
	# Two workers, each taking whole test modules (their fixtures are built once per worker).
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check rag tests eval bench app.py
	$(BIN)/ruff format --check rag tests eval bench app.py
	$(BIN)/mypy rag

format: install
	$(BIN)/ruff format rag tests eval bench app.py
	$(BIN)/ruff check --fix rag tests eval bench app.py

# Each writes its own section of bench/RESULTS.md.
bench: install
	$(BIN)/python bench/bench_batch.py
	$(BIN)/python bench/bench_core.py

# 1k and 10k chunks, embedded and server store (about 15 min).
bench-scale: install
	$(BIN)/python bench/bench_scale.py

# Adds the 100k-chunk corpus (embedded store): about 45 min more on 2 cores.
bench-scale-full: install
	$(BIN)/python bench/bench_scale.py --sizes 1000,10000,100000 --server-sizes 1000,10000

# torch, onnx and onnx-int8 on all of SQuAD dev (about 20 min).
bench-onnx: install
	$(BIN)/python bench/bench_onnx.py

# The reading answerer beside the default: warm ask p50/p95, cold rag ask, peak memory (about 5 min).
bench-reader: install
	$(BIN)/python bench/bench_reader.py

# A local Chroma server for RAG_CHROMA_URL=http://127.0.0.1:8000 (data in index/chroma-server/).
chroma: install
	$(BIN)/chroma run --path index/chroma-server --host 127.0.0.1 --port 8000

eval: install
	$(BIN)/rag eval --corpus corpus --dataset eval/datasets/seed_qa.jsonl --out eval/results/seed

eval-squad: install
	$(BIN)/rag eval --corpus ../shared/benchmarks/squad-v1.1-dev/corpus.jsonl \
	  --dataset ../shared/benchmarks/squad-v1.1-dev/questions.jsonl --out eval/results/squad

# The held-out half of SQuAD dev's articles with their unanswerable twins (all of dev is report-only).
eval-heldout: install
	$(BIN)/rag eval --corpus ../shared/benchmarks/squad-v1.1-dev/corpus.jsonl \
	  --dataset eval/datasets/squad_heldout.jsonl --modes hybrid --limit 1000 --out eval/results/heldout
	$(BIN)/python eval/thresholds.py eval/results/heldout/details.jsonl
	# Topical but not answering: questions whose asked-for thing is swapped out (eval/make_adversarial.py).
	$(BIN)/rag eval --corpus ../shared/benchmarks/squad-v1.1-dev/corpus.jsonl \
	  --dataset eval/datasets/squad_heldout_topical.jsonl --modes hybrid --out eval/results/heldout_topical

# The public mixed corpus (eval/public/build_corpus.py): PEPs, Rust book chapters, WCAG pages and
# PDF papers, read at pinned commits of clones under PUBLIC_SRC (cloned when missing; needs a network).
PUBLIC_SRC ?= build/public-src
eval-public: install
	@mkdir -p $(PUBLIC_SRC)
	@for r in python/peps rust-lang/book w3c/wcag papers-we-love/papers-we-love opengovfoundation/site-policy; do \
	  test -d $(PUBLIC_SRC)/$${r#*/} || git clone --quiet https://github.com/$$r $(PUBLIC_SRC)/$${r#*/}; done
	$(BIN)/python eval/public/build_corpus.py --peps $(PUBLIC_SRC)/peps --book $(PUBLIC_SRC)/book \
	  --wcag $(PUBLIC_SRC)/wcag --papers $(PUBLIC_SRC)/papers-we-love --docx $(PUBLIC_SRC)/site-policy --out build/public-corpus
	$(BIN)/rag eval --corpus build/public-corpus --dataset eval/public/public_qa.jsonl --modes hybrid \
	  --index-dir build/public-index --out eval/results/public
	RAG_READER=0 $(BIN)/rag eval --corpus build/public-corpus --dataset eval/public/public_qa.jsonl --modes hybrid \
	  --index-dir build/public-index --out eval/results/public-sentences

# The fitting set (48 articles of SQuAD v1.1 train, eval/squad_fit.py) and its unanswerable twins,
# then the sentence scorer's confidence model and the reader's refusal bar refitted on it (about 40 min).
fit-confidence: install
	$(BIN)/python eval/squad_fit.py
	$(BIN)/python eval/make_adversarial.py --only fit
	$(BIN)/python bench/fit_confidence.py --n 2500 --seed 0 --write
	$(BIN)/python bench/fit_confidence.py --reader --margin-only --n 2000 --seed 0 --write

# Short answers: the held-out half's real questions, then all of SQuAD dev (hybrid; about 15 min).
eval-short: install
	$(BIN)/python eval/squad_half.py heldout eval/results/short/heldout.jsonl
	$(BIN)/rag eval --corpus ../shared/benchmarks/squad-v1.1-dev/corpus.jsonl \
	  --dataset eval/results/short/heldout.jsonl --modes hybrid --out eval/results/short/heldout
	$(BIN)/rag eval --corpus ../shared/benchmarks/squad-v1.1-dev/corpus.jsonl \
	  --dataset ../shared/benchmarks/squad-v1.1-dev/questions.jsonl --modes hybrid --out eval/results/short/all

# Refit the short-answer model on the fitting set's answers (about 2 min once they are collected; collecting them, the first time, about 15).
fit-short: install
	$(BIN)/python bench/fit_short.py --n 5000 --seed 0 --hold 0.05 --write

# The span reader (bench/train_reader.py): windows of SQuAD v1.1 train, then training that resumes
# from build/reader/checkpoint.pt when run again (HOURS per run), then the ONNX export into rag/models/reader/.
HOURS ?= 1.25
# The shipped model's schedule (9,900 steps of 32); a larger number trains further.
EXAMPLES ?= 316800
train-reader: install
	test -f build/reader/train.npz || $(BIN)/python bench/train_reader.py prepare
	$(BIN)/python bench/train_reader.py train --hours $(HOURS) --examples $(EXAMPLES)
	$(BIN)/python bench/train_reader.py export

# The reader alone, given each SQuAD v1.1 dev question's gold paragraph: EM and F1 (about 10 min).
eval-reader: install
	$(BIN)/python bench/train_reader.py evaluate

clean:
	rm -rf index/chroma index/*-* .pytest_cache tests/artifacts
