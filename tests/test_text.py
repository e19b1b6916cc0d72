"""Sentence boundaries with exact offsets, and the stemmed BM25 terms."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.language.text import sentence_spans, term_set, terms

pytestmark = pytest.mark.unit


def sentences(text: str) -> list[str]:
    spans = sentence_spans(text)
    return [text[a:b] for a, b in spans]


# ---------------------------------------------------------------------------------------------
# sentence_spans: examples


def test_offsets_slice_the_text_to_stripped_sentences() -> None:
    text = "  The cat sat.   The dog ran!  Did it? "
    spans = sentence_spans(text)
    assert spans == [(2, 14), (17, 29), (31, 38)]
    assert [text[a:b] for a, b in spans] == ["The cat sat.", "The dog ran!", "Did it?"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith met Ms. Jones yesterday. They talked.",
            ["Mr. Smith met Ms. Jones yesterday.", "They talked."],
        ),
        (
            "Prices in the U.S. Rose again. Analysts were surprised.",
            ["Prices in the U.S. Rose again.", "Analysts were surprised."],
        ),
        (
            "Capt. Hook sailed on Feb. 3 with Dr. Who. The crew cheered.",
            ["Capt. Hook sailed on Feb. 3 with Dr. Who.", "The crew cheered."],
        ),
        (
            "The vote is on Nov. 15 at noon. Polls open early.",
            ["The vote is on Nov. 15 at noon.", "Polls open early."],
        ),
        ("J. R. R. Tolkien wrote it. Everyone read it.", ["J. R. R. Tolkien wrote it.", "Everyone read it."]),
        ("Fruit, e.g. Apples, is good. Eat it.", ["Fruit, e.g. Apples, is good.", "Eat it."]),
    ],
)
def test_abbreviations_do_not_split(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_question_and_exclamation_marks_split() -> None:
    assert sentences("Is it late? Yes! We leave now.") == ["Is it late?", "Yes!", "We leave now."]
    assert sentences("What?! No way... Really.") == ["What?!", "No way...", "Really."]


def test_no_split_when_next_word_is_lower_case() -> None:
    assert sentences("It costs 3 vs. 4 dollars. ok then") == ["It costs 3 vs. 4 dollars. ok then"]
    assert sentences("He shouted wow! and left.") == ["He shouted wow! and left."]


def test_numbers_and_decimals_do_not_split() -> None:
    assert sentences("Growth was 3.5 percent in 2023. Inflation fell.") == [
        "Growth was 3.5 percent in 2023.",
        "Inflation fell.",
    ]


def test_line_breaks_always_split() -> None:
    text = "Heading without period\nfirst item\r\nsecond item\n\n  indented line\nlast"
    assert sentences(text) == ["Heading without period", "first item", "second item", "indented line", "last"]
    # even a lower-case continuation or an abbreviation before the break
    assert sentences("Meet Mr.\nsmith today") == ["Meet Mr.", "smith today"]


def test_closing_quotes_and_brackets_stay_with_their_sentence() -> None:
    assert sentences("He said “yes.” Then he left.") == ["He said “yes.”", "Then he left."]
    assert sentences('She asked "why?" Nobody knew.') == ['She asked "why?"', "Nobody knew."]
    assert sentences("It worked (mostly.) Then it broke.") == ["It worked (mostly.)", "Then it broke."]
    assert sentences("“Stop!” She ran.") == ["“Stop!”", "She ran."]


def test_units_and_lower_case_names_end_sentences_where_initials_do_not() -> None:
    assert sentences("Temperatures hit 40°C. Schools closed.") == ["Temperatures hit 40°C.", "Schools closed."]
    assert sentences("pH fell to 6.5 overnight. iPhones sold out.") == [
        "pH fell to 6.5 overnight.",
        "iPhones sold out.",
    ]
    assert sentences("John F. Kennedy read it.") == ["John F. Kennedy read it."]


def test_hard_cases_against_spacy() -> None:
    """``python -m eval.sentences``: ours on the collected hard cases, no worse than spaCy's parser."""
    from eval.sentences import evaluate

    report = evaluate()
    assert report["ours"]["accuracy"] >= report["spacy en_core_web_sm"]["accuracy"]  # type: ignore[index]


def test_a_short_exclamation_opening_a_quotation_does_not_end_the_sentence() -> None:
    text = "Sareen said, “Karma! In 1998, the government acted. Then it stopped.” He left."
    assert sentences(text) == [
        "Sareen said, “Karma! In 1998, the government acted.",
        "Then it stopped.”",
        "He left.",
    ]
    assert sentences('He shouted "Stop! Now." Then he left.') == ['He shouted "Stop! Now."', "Then he left."]


def test_next_sentence_may_start_with_an_opening_quote_or_digit() -> None:
    assert sentences("It ended. “Good,” he said. 42 people left.") == [
        "It ended.",
        "“Good,” he said.",
        "42 people left.",
    ]


def test_sentence_ending_in_the_word_no_splits() -> None:
    assert sentences("He said “no.” Then he left.") == ["He said “no.”", "Then he left."]


@pytest.mark.parametrize("text", ["", " ", "   \n\t \r\n  ", "\n\n\n", "\u3000\u00a0"])
def test_empty_and_whitespace_only_give_no_spans(text: str) -> None:
    assert sentence_spans(text) == []


def test_start_and_end_restrict_the_window() -> None:
    text = "One two. Three four. Five six."
    start = text.index("Three")
    spans = sentence_spans(text, start, len(text))
    assert [text[a:b] for a, b in spans] == ["Three four.", "Five six."]
    spans = sentence_spans(text, 0, text.index(" Five"))
    assert [text[a:b] for a, b in spans] == ["One two.", "Three four."]


# ---------------------------------------------------------------------------------------------
# sentence_spans: properties

_PIECES = st.sampled_from(
    [
        " ",
        "  ",
        "\n",
        "\r\n",
        "\r",
        "\t",
        "\u200b",
        "\u0301",
        "e\u0301",
        "\u00a0",
        "\u2028",
        "\u3000",
        ".",
        "!",
        "?",
        "…",
        "...",
        "”",
        '"',
        ")",
        "Mr.",
        "U.S.",
        "Nov.",
        "A.",
        "b.",
        "The",
        "cat",
        "42",
        "é",
        "日本語",
        "e.g.",
    ]
)
_LONG_LINE = st.builds(
    lambda word, n: (word + " ") * n, st.sampled_from(["word", "x.", "Ab!", "α"]), st.integers(1, 3000)
)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=120).map("".join),
    st.lists(st.one_of(_PIECES, _LONG_LINE), max_size=8).map("".join),
)

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_spans(text: str, spans: list[tuple[int, int]], lo: int = 0, hi: int | None = None) -> None:
    hi = len(text) if hi is None else hi
    prev_end = lo
    covered = [False] * len(text)
    for a, b in spans:
        assert lo <= a < b <= hi, (a, b)
        assert a >= prev_end, "spans overlap or go backwards"
        prev_end = b
        piece = text[a:b]
        assert piece == piece.strip(), repr(piece)
        for i in range(a, b):
            covered[i] = True
    for i in range(lo, hi):
        assert covered[i] or text[i].isspace(), f"character {text[i]!r} at {i} is in no sentence"


@PROPERTY_SETTINGS
@given(TEXTS)
def test_spans_are_valid_ordered_stripped_and_cover_all_text(text: str) -> None:
    check_spans(text, sentence_spans(text))


@PROPERTY_SETTINGS
@given(TEXTS, st.data())
def test_spans_of_a_window_stay_inside_it(text: str, data: st.DataObject) -> None:
    lo = data.draw(st.integers(0, len(text)))
    hi = data.draw(st.integers(lo, len(text)))
    check_spans(text, sentence_spans(text, lo, hi), lo, hi)


@PROPERTY_SETTINGS
@given(st.lists(st.sampled_from(["The cat sat.", "Dogs bark!", "Why not?", "Mr. Lee came."]), min_size=1, max_size=20))
def test_joined_simple_sentences_split_back(parts: list[str]) -> None:
    text = " ".join(parts)
    assert sentences(text) == parts


# ---------------------------------------------------------------------------------------------
# terms


def test_terms_are_lower_cased_and_stemmed() -> None:
    assert terms("Meetings") == terms("meeting") == terms("MEETING")
    assert len(terms("meetings")) == 1
    assert terms("running runs") == [terms("run")[0]] * 2


def test_terms_drop_stop_words_and_single_letters() -> None:
    assert terms("the and of to a I") == []
    assert terms("The budget of the city") == terms("budget city")
    assert len(terms("budget city")) == 2


def test_terms_keep_order_and_repeats() -> None:
    out = terms("Budget meeting about the budget")
    assert len(out) == 3
    assert out[0] == out[2] != out[1]


def test_terms_split_on_punctuation_and_keep_numbers() -> None:
    out = terms("revenue-growth, 2023: rivers!")
    assert terms("2023") == ["2023"]
    assert out == terms("revenue") + terms("growth") + ["2023"] + terms("rivers")


def test_term_set_matches_terms() -> None:
    text = "Meetings were held; the meeting ended."
    assert term_set(text) == frozenset(terms(text))
    assert len(term_set(text)) == len(set(terms(text))) == 3


@PROPERTY_SETTINGS
@given(st.text(max_size=200))
def test_terms_are_lower_case_and_never_stop_words(text: str) -> None:
    out = terms(text)
    assert all(t and t == t.lower() for t in out)
    assert not {"the", "and", "of", "is"} & set(out)
    assert terms(text.lower()) == out


def _seconds(fn, text: str) -> float:  # type: ignore[no-untyped-def]
    import time

    t0 = time.perf_counter()
    fn(text)
    return time.perf_counter() - t0


ADVERSARIAL = {
    "dot leaders": lambda n: "." * n,
    "table of contents": lambda n: ("Chapter one " + "." * 200 + " 3\n") * (n // 215),
    "one long line": lambda n: "word " * (n // 5),
    "abbreviations": lambda n: "e.g. " * (n // 5),
    "initials": lambda n: "a." * (n // 2),
    "blank lines": lambda n: "\n \n" * (n // 3),
    "ellipses and quotes": lambda n: '..."! ' * (n // 6),
}


@pytest.mark.unit
@pytest.mark.timeout(120)  # quadratic splitting of 1 MB alone would take hours: fail, do not hang
@pytest.mark.parametrize("kind", sorted(ADVERSARIAL))
def test_splitting_grows_linearly_on_adversarial_text(kind: str) -> None:
    """10 MB of hostile text splits in time proportional to its size, not its square.

    Compared with 1 MB in the same process (a ratio, not a wall-clock bound): linear work gives
    about 10x, quadratic work 100x. Both are also checked for valid, ordered spans.
    """
    make = ADVERSARIAL[kind]
    small, big = make(1_000_000), make(10_000_000)
    base = max(min(_seconds(sentence_spans, small) for _ in range(3)), 1e-3)
    ratio = _seconds(sentence_spans, big) / base
    assert ratio < 30, f"{kind}: 10 MB took {ratio:.0f}x the time of 1 MB"
    spans = sentence_spans(big)
    assert all(a < b for a, b in spans) and all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Put modules inside the ``src``\ndirectory. [1]", "Put modules inside the src directory. [1]"),
        (
            "The crate root is *main.rs* and **lib.rs**; `cargo` builds it.",
            "The crate root is main.rs and lib.rs; cargo builds it.",
        ),
        (
            "It is coarse-\ngrained, see `PEP 8 <https://x>`_ and :pep:`257`.",
            "It is coarse-grained, see PEP 8 and 257.",
        ),
        ("| Quince | 42 | 1987 | [2]", "Quince · 42 · 1987 [2]"),
        (
            "See [the book](https://x); snake_case_names and 2*3*4 stay.",
            "See the book; snake_case_names and 2*3*4 stay.",
        ),
        (
            'Keeper ~~Holt~~ Gray <img src="http://x/a.png"> <br/> since <b>2004</b>; 3 < 4 > 2.',
            "Keeper Holt Gray since 2004; 3 < 4 > 2.",
        ),
        (
            "First part. [1]\n\n“Second?” The corpus does not say.",
            "First part. [1]\n\n“Second?” The corpus does not say.",
        ),
    ],
)
def test_readable_shows_the_words_without_line_breaks_and_markup(raw: str, shown: str) -> None:
    from rag.language.text import readable

    assert readable(raw) == shown
