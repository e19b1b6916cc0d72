"""``rag.answer.grounding.contradiction``: a sentence that shares its span's words yet says otherwise."""

from __future__ import annotations

import pytest

from rag.answer.grounding import contradiction

pytestmark = pytest.mark.unit
SPAN = "Chinese Embassy spokesman Liu Pengyu said China bases its views of the Ukraine conflict on its merits."
QUESTION = "Who is the Chinese Embassy spokesman quoted about Ukraine?"


@pytest.mark.parametrize(
    "claim",
    [
        "The Chinese Embassy spokesman quoted about Ukraine is Liu Pengyu.",
        "He said China bases its views of the Ukraine conflict on its merits.",
        "Mr. Liu said China judges the conflict on its merits.",
        "According to Liu Pengyu, China's views rest on the merits.",
    ],
)
def test_faithful_paraphrases_pass(claim: str) -> None:
    assert contradiction(claim, SPAN, QUESTION) == ""


@pytest.mark.parametrize(
    ("claim", "why"),
    [
        ("The Chinese Embassy spokesman quoted about Ukraine is Donald Duck.", "a name the passage does not hold"),
        ("He said China does not base its views on the merits.", "a negation on one side only"),
        ("He said China never bases its views on the merits.", "a negation on one side only"),
        ("He said China bases its views on 17 merits.", "a number the passage does not give (17)"),
    ],
)
def test_a_swapped_name_an_added_negation_or_a_new_number_is_caught(claim: str, why: str) -> None:
    assert contradiction(claim, SPAN, QUESTION).startswith(why)


def test_a_dropped_negation_is_caught_and_numbers_match_with_separators() -> None:
    span = "The company did not deliver 1,500 tanks in 2022."
    assert contradiction("The company delivered 1500 tanks in 2022.", span) == "it drops the passage's negation"
    assert contradiction("The company did not deliver 1500 tanks in 2022.", span) == ""
