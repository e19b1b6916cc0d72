"""Request.build: a call's options checked once, defaults from Settings."""

from __future__ import annotations

import pytest

from rag.errors import InputError
from rag.request import Request
from rag.settings import get_settings

pytestmark = pytest.mark.unit


def test_defaults_come_from_settings_and_options_override_them() -> None:
    settings = get_settings(mode="bm25", top_k=7, max_sentences=3, answerer="extractive", strict=True)
    r = Request.build("  Who?  ", settings)
    assert (r.question, r.history, r.mode, r.top_k, r.max_sentences, r.answerer, r.strict) == (
        "Who?",
        (),
        "bm25",
        7,
        3,
        "extractive",
        True,
    )
    r = Request.build("Who?", settings, ["Before?"], {"mode": "dense", "top_k": 2, "strict": None})
    assert (r.mode, r.top_k, r.strict, r.history) == ("dense", 2, True, ("Before?",))
    r = Request.build("Who?", settings, ["First?", ["Before?", "An answer."]])
    assert (r.history, r.last_answer) == (("First?", "Before?"), "An answer.")
    assert Request.build("Who?", settings, [["Before?", "An answer."], "Then?"]).last_answer == ""
    with pytest.raises(InputError, match="history must be a list of questions or of"):
        Request.build("Who?", settings, [["only a question"]])


@pytest.mark.parametrize(
    ("question", "options", "message"),
    [
        ("", {}, "question is empty"),
        ("   ", {}, "question is empty"),
        (42, {}, "question must be a string"),
        ("x" * 3000, {}, "question is too long (3000 characters; the limit is 2000)"),
        ("Who?", {"mode": "semantic"}, "unknown mode 'semantic'"),
        ("Who?", {"answerer": "gpt"}, "unknown answerer 'gpt'"),
        ("Who?", {"top_k": 0}, "top_k must be between 1 and 50, not 0"),
        ("Who?", {"top_k": 51}, "top_k must be between 1 and 50, not 51"),
        ("Who?", {"max_sentences": 11}, "max_sentences must be between 1 and 10, not 11"),
        ("Who?", {"topk": 3}, "unknown option 'topk'"),
    ],
)
def test_bad_calls_name_the_problem(question: object, options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as info:
        Request.build(question, get_settings(), (), options)
    assert message in str(info.value)


def test_ask_rejects_bad_options_before_any_work(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rag import ask

    missing = tmp_path / "no-corpus"  # opening it would raise CorpusError: the options are checked first
    with pytest.raises(InputError, match="unknown option 'topk'"):
        ask("Who?", corpus=missing, topk=3)  # type: ignore[call-arg]


def test_history_items_are_held_to_the_question_limit() -> None:
    """One 990 KB history item cost 43 s and 400 MB a request (spaCy parsed it); now refused at once."""
    settings = get_settings()
    huge = "x " * 495_000
    with pytest.raises(InputError, match=r"history item 2 is too long \(990000 characters; the limit is 2000\)"):
        Request.build("What did he say?", settings, ["Who is Qin Gang?", huge])
    with pytest.raises(InputError, match=r"history item 1's answer is too long"):
        Request.build("What did he say?", settings, [["Who is Qin Gang?", "y" * 20_001]])
    with pytest.raises(InputError, match="history has 201 items"):
        Request.build("What did he say?", settings, ["Who?"] * 201)
    with pytest.raises(InputError, match="history must be a list"):
        Request.build("What did he say?", settings, "Who is Qin Gang?")  # type: ignore[arg-type]
    ok = Request.build("What did he say?", settings, [["Who is Qin Gang?", "Qin Gang is the ambassador."]])
    assert ok.history == ("Who is Qin Gang?",) and ok.last_answer == "Qin Gang is the ambassador."


def test_ask_with_a_huge_history_item_is_an_input_error_not_a_crash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import DEFAULT_CORPUS

    from rag import ask

    settings = get_settings(index_dir=tmp_path / "index")
    with pytest.raises(InputError, match="history item 1 is too long"):
        ask("What did he say?", corpus=DEFAULT_CORPUS, settings=settings, history=["a" * 1_000_001])
