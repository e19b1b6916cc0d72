"""The answer confidence: its features on real evidence, its answer types, and the model's arithmetic."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rag import ask
from rag.answer_types import answer_labels
from rag.confidence import FEATURES, features
from rag.nlp import analyse
from rag.weights import ConfidenceModel, fitted

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
    ],
)
def test_times_durations_money_and_names_are_answer_types(question: str, text: str, kind: str) -> None:
    name, labels = answer_labels(question) or ("", frozenset())
    assert name == kind
    assert any(e.label in labels for e in analyse(text).entities), analyse(text)


@pytest.mark.unit
def test_the_model_is_a_logistic_regression_on_standardised_features() -> None:
    model = ConfidenceModel(("a", "b"), (1.0, 0.0), (2.0, 1.0), (0.5, -1.0), 0.25)
    z = 0.25 + 0.5 * (3.0 - 1.0) / 2.0 - 1.0 * 2.0
    assert model({"a": 3.0, "b": 2.0}) == pytest.approx(1 / (1 + math.exp(-z)))
    assert fitted().confidence.names == FEATURES  # the file and the code agree on the features


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
