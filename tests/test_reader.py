"""The packaged span reader: the file its card describes, and it reads (real onnxruntime, no mocks)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.answer.reader import LENGTH, MODEL, OVERLAP, SpanReader, reader

PASSAGE = (
    "Commenting on the development, Observer Research Foundation (ORF) Senior Fellow Sushant Sareen said, "
    "\u201cKarma! In 1998, the Vajpayee government told the US that nuke tests were necessary because of "
    "threat from China.\u201d"
)


def test_the_shipped_model_is_the_one_its_card_names() -> None:
    card = (MODEL.parent / "MODEL_CARD.md").read_text(encoding="utf-8")
    named = re.search(r"SHA-256 of reader-int8\.onnx: `([0-9a-f]{64})`", card)
    assert named, "the card names the file's hash"
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == named.group(1)
    assert MODEL.stat().st_size <= 30 * 1024 * 1024


def test_a_known_question_gets_its_span_in_a_fresh_process() -> None:
    code = (
        "from rag.answer.reader import reader; import sys; text = sys.argv[1]; "
        "s = reader().best('In what year did the Vajpayee government tell the US that nuclear tests were "
        "necessary?', text); print(text[s.start:s.end])"
    )
    out = subprocess.run([sys.executable, "-c", code, PASSAGE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1998"


def test_the_span_is_the_person_asked_for_and_its_offsets_are_the_texts() -> None:
    span = reader().best("Who is the Senior Fellow of the Observer Research Foundation?", PASSAGE)
    assert span is not None
    assert "Sushant Sareen" in PASSAGE[span.start : span.end]
    assert span.margin > 0


def test_a_question_the_passage_does_not_answer_scores_below_one_it_does() -> None:
    asked = reader().best("Who is the Senior Fellow of the Observer Research Foundation?", PASSAGE)
    other = reader().best("What is the capital city of Australia?", PASSAGE)
    assert asked is not None and other is not None
    assert other.margin < asked.margin


def test_long_text_is_read_in_overlapping_windows_and_the_answer_found_in_a_late_one() -> None:
    filler = " ".join(f"Sentence number {i} talks about the weather in spring." for i in range(60))
    text = f"{filler} {PASSAGE}"
    windows = SpanReader().windows("Who is the Senior Fellow?", text)
    assert len(windows) > 3
    assert all(len(ids) <= LENGTH for ids, _, _ in windows)
    first, second = (w[2] for w in windows[:2])
    text_first = [o for o in first if o[0] >= 0]
    text_second = [o for o in second if o[0] >= 0]
    assert text_first[-OVERLAP:] == text_second[:OVERLAP]
    span = reader().best("Who is the Senior Fellow of the Observer Research Foundation?", text)
    assert span is not None and "Sareen" in text[span.start : span.end]


def test_empty_texts_are_not_read_and_keep_their_place() -> None:
    spans = reader().read("Who is the Senior Fellow?", ["", PASSAGE, "   "])
    assert spans[0] is None and spans[2] is None
    assert spans[1] is not None and spans[1].text_index == 1


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="reader model is missing"):
        SpanReader(tmp_path / "gone.onnx").best("Who?", PASSAGE)
