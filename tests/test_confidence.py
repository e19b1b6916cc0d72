"""The answer confidence: its features on real evidence, its answer types, and the model's arithmetic."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rag import ask
from rag.answer.confidence import FEATURES, _count_unattached, features, focus
from rag.language.answer_types import answer_labels, question_type
from rag.language.nlp import analyse
from rag.weights import ConfidenceModel, Tree, fitted

FERRY = (
    "Harbour notes\n\nThe ferry to Oslo leaves at 7 pm. Tickets for the crossing cost $45 and the trip takes "
    "an hour and a half. The harbour master, Ingrid Dahl, opened the new terminal in 2019.\n\n"
    "The old terminal closed after the storm."
)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("question", "text", "kind"),
    [
        ("When does the ferry to Oslo leave?", "The ferry to Oslo leaves at 7 pm.", "date"),
        ("What time does the ferry leave?", "The ferry to Oslo leaves at 7 pm.", "time"),
        ("How long does the trip take?", "The trip takes an hour and a half.", "duration"),
        ("How much in arms has the US supplied?", "The US has supplied an estimated $360 million in arms.", "money"),
        ("What percentage of the vote did she win?", "She won 52 percent of the vote.", "percent"),
        ("Who opened the new terminal?", "The harbour master, Ingrid Dahl, opened the new terminal.", "person"),
        ("What is the population of Tromsø?", "Tromsø has about 77,000 inhabitants.", "number"),
        ("What was the percentage of votes cast?", "Turnout was 61 percent.", "percent"),
        ("What is the height of the tower?", "The tower is 120 metres tall.", "number"),
    ],
)
def test_times_durations_money_and_names_are_answer_types(question: str, text: str, kind: str) -> None:
    name, labels = answer_labels(question) or ("", frozenset())
    assert name == kind
    assert any(e.label in labels for e in analyse(text).entities), analyse(text)


@pytest.mark.unit
def test_what_is_the_population_of_asks_for_a_number() -> None:
    for question in ("What is the population of Beijing?", "What was the height of the tower?"):
        assert question_type(question) == "number"  # the date/number gate applies to it
    assert question_type("What is the area called where two plates meet?") is None  # "area" names, not measures


@pytest.mark.unit
def test_the_model_is_boosted_trees_read_from_the_file() -> None:
    # one stump on "a" (<= 0.5 goes left) and one on "b": z = init + rate * (leaf_a + leaf_b)
    stump_a = Tree((0, 0, 0), (0.5, 0.0, 0.0), (1, -1, -1), (2, -1, -1), (0.0, -1.0, 2.0))
    stump_b = Tree((1, 0, 0), (3.0, 0.0, 0.0), (1, -1, -1), (2, -1, -1), (0.0, 0.5, -0.5))
    model = ConfidenceModel(("a", "b"), 0.25, 0.1, (stump_a, stump_b))
    z = 0.25 + 0.1 * (2.0 + 0.5)
    assert model({"a": 1.0, "b": 2.0}) == pytest.approx(1 / (1 + math.exp(-z)))
    assert model({"a": 0.0, "b": 9.0}) < model({"a": 1.0, "b": 2.0})
    assert fitted().confidence.names == FEATURES  # the file and the code agree on the features
    assert len(fitted().confidence.trees) == 100


@pytest.mark.unit
@pytest.mark.parametrize(
    ("question", "wh", "head"),
    [
        ("How many troops did Russia mass near the border?", "how many", "troop"),
        ("What tariff did China put on wheat?", "what", "tariff"),
        ("What kind of security concept did Xi advocate?", "what", "secur"),
        ("Which newspaper first reported it?", "which", "newspap"),
    ],
)
def test_focus_is_the_thing_the_question_asks_about(question: str, wh: str, head: str) -> None:
    assert focus(question) == (wh, head)
    assert focus("What is the capital of Australia?") is None


@pytest.mark.unit
def test_a_count_must_sit_next_to_what_is_counted() -> None:
    q = "How many troops did Russia mass near the border?"
    assert _count_unattached(q, "Russian troop movements near the border were reported.") == 1.0
    assert _count_unattached(q, "Russia massed more than 100,000 troops near the border.") == 0.0
    assert _count_unattached(q, "Russia massed several thousand troops there.") == 0.0
    assert _count_unattached("Who massed troops?", "Russian troop movements.") == 0.0


@pytest.fixture(scope="module")
def ferry(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rag.settings import get_settings

    root = tmp_path_factory.mktemp("ferry")
    (root / "corpus").mkdir()
    (root / "corpus" / "harbour.txt").write_text(FERRY, encoding="utf-8")
    return root / "corpus", get_settings(index_dir=root / "index")


@pytest.mark.integration
def test_a_time_answers_a_when_question(ferry) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = ferry
    a = ask("When does the ferry to Oslo leave?", corpus=corpus, settings=settings)
    assert not a.abstained and "7 pm" in a.citations[0].quote
    assert a.confidence > 0.5
    assert (
        Path(corpus, a.citations[0].source).read_text(encoding="utf-8")[a.citations[0].start : a.citations[0].end]
        == a.citations[0].quote
    )


@pytest.mark.integration
def test_features_see_swapped_names_and_missing_types(ferry) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = ferry
    real = ask("Who opened the new terminal in 2019?", corpus=corpus, settings=settings)
    swapped = ask("Who opened the new terminal in 2011?", corpus=corpus, settings=settings)
    f_real = features(real.evidence, real.evidence.candidates[:1])
    f_swapped = features(swapped.evidence, swapped.evidence.candidates[:1])
    assert set(f_real) == set(FEATURES)
    assert f_real["anchors_in_passage"] == 1.0 and f_swapped["anchors_in_passage"] < 1.0
    assert swapped.confidence < real.confidence
    negated = ask("Who did not open the new terminal?", corpus=corpus, settings=settings)
    f_neg = features(negated.evidence, negated.evidence.candidates[:1])
    assert f_neg["negation_mismatch"] == 1.0
    invented = ask("Who opened the new ferry terminal in Bergen?", corpus=corpus, settings=settings)
    f_inv = features(invented.evidence, invented.evidence.candidates[:1])
    assert f_inv["passage_missing"] == 1.0 and f_real["passage_missing"] < 1.0  # "Bergen" is nowhere
    antonym = ask("Who closed the old terminal first?", corpus=corpus, settings=settings)
    assert {"anchors_in_sentence", "type_offered", "type_missing"} <= set(
        features(antonym.evidence, antonym.evidence.candidates[:1])
    )


@pytest.mark.integration
def test_threshold_is_a_setting_and_abstentions_keep_their_confidence(ferry) -> None:  # type: ignore[no-untyped-def]
    corpus, settings = ferry
    a = ask("When does the ferry to Oslo leave?", corpus=corpus, settings=settings)
    strict = ask(
        "When does the ferry to Oslo leave?",
        corpus=corpus,
        settings=settings.model_copy(update={"min_confidence": 1.0}),
    )
    assert strict.abstained and strict.citations == () and strict.confidence == pytest.approx(a.confidence)
    assert strict.passages  # the closest passages are still listed
