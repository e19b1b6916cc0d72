"""Short answers: candidate phrases from the parse, the fitted choice, offsets inside the quote,
and how every face shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.short_answer import model, question_of, read, short_answer
from rag.evaluation.metrics import exact_match
from rag.faces.present import render_sources, reply_markdown
from rag.types import Answer, Citation, Evidence, ShortAnswer


@pytest.mark.parametrize(
    ("sentence", "wanted"),
    [
        ("Tesla died of heart failure on 7 January 1943.", {"7 January 1943", "1943", "Tesla", "heart failure"}),
        ("Day schools in New York City cost close to $40,000 annually in 2012.", {"$40,000", "New York City", "2012"}),
        ("Phagocytosis probably first evolved as a means of acquiring nutrients.", {"acquiring nutrients"}),
        ("The Broncos beat the Panthers 24–10 at Levi's Stadium in Santa Clara.", {"Levi's Stadium", "Santa Clara"}),
    ],
)
def test_candidates_hold_the_phrases_questions_ask_for(sentence: str, wanted: set[str]) -> None:
    reading = read(sentence)
    texts = {c.text for c in reading.candidates}
    assert wanted <= texts
    for c in reading.candidates:  # offsets are the sentence's own characters, trimmed of punctuation
        assert sentence[c.start : c.end] == c.text and c.text == c.text.strip(" ,.;:")


def test_quoted_words_are_a_phrase_and_quotation_marks_stay_paired() -> None:
    reading = read("In the session, he noted Russia’s “legitimate security concerns” regarding Ukraine.")
    quoted = [c.text for c in reading.candidates if c.quoted]
    assert quoted == ["legitimate security concerns"]
    for c in reading.candidates:  # a phrase never shows an opening mark without its closing one
        assert c.text.count("“") == c.text.count("”"), c.text
    assert "Russia’s “legitimate security concerns”" in {c.text for c in reading.candidates}


def test_brackets_stay_paired() -> None:
    sentence = "Russia launched a military operation in Ukraine on Thursday (February 24)."
    for c in read(sentence).candidates:  # "Thursday (February 24" would show a bracket never closed
        assert c.text.count("(") == c.text.count(")"), c.text


def test_the_confidence_is_a_calibrated_share_that_ranks_as_the_trees_do() -> None:
    from rag.answer.short_answer import align, features, relative

    fitted = model()
    assert fitted is not None
    q = question_of("When did Tesla die?")
    reading = read("Tesla died of heart failure in his hotel room on 7 January 1943 in New York.")
    aligned = align(q, reading)
    rows = relative([features(q, reading, c, 0, aligned) for c in reading.candidates])
    conf = fitted.confidences(rows)
    margins = fitted.trees.margins(rows)
    assert all(0.0 < v < 1.0 for v in conf)
    assert sorted(range(len(conf)), key=conf.__getitem__) == sorted(range(len(margins)), key=margins.__getitem__)
    assert sum(conf) < 1.5  # shares of one answer: at most one candidate can be sure
    assert reading.candidates[max(range(len(conf)), key=conf.__getitem__)].text == "7 January 1943"


def test_a_possessive_ending_is_not_part_of_the_name() -> None:
    texts = {c.text for c in read("Chinese Foreign Minister Wang Yi’s talks with Sergey Lavrov ended.").candidates}
    assert "Wang Yi" in texts
    assert not any(t.endswith(("’s", "'s")) for t in texts), texts


def test_the_question_analysis_finds_its_type_and_focus() -> None:
    q = question_of("Which team won Super Bowl 50?")
    assert q.wh == "which" and q.focus == "team"
    assert question_of("How many troops did Russia mass?").wh == "how many"
    assert question_of("What kind of engine did Watt improve?").focus == "engin"  # stemmed
    assert question_of("In what year did Tesla die?").focus == "year"
    assert "PERSON" in question_of("Who is the spokesman?").labels


def _answer(quote: str, start: int, question: str) -> Answer:
    evidence = Evidence(question=question, query=question, mode="hybrid", top_k=3)
    return Answer(f"{quote} [1]", False, (Citation("doc.txt", start, start + len(quote), quote, 0.9),), evidence)


@pytest.mark.parametrize(
    ("question", "quote", "short"),
    [
        ("When did Tesla die?", "Tesla died of heart failure on 7 January 1943.", "7 January 1943"),
        ("Who founded the company in 1998?", "The company was founded in 1998 by Larry Page and Sergey Brin.", None),
        (
            "Where is Levi's Stadium?",
            "Levi's Stadium is in Santa Clara, California.",
            "Santa Clara|Santa Clara, California",
        ),
        ("How many people live in the city?", "About 870,000 people live in the city.", "870,000|About 870,000"),
    ],
)
def test_the_fitted_model_picks_the_phrase(question: str, quote: str, short: str | None) -> None:
    assert model() is not None, "rag/short_weights.json is missing: run make fit-short"
    start = 100
    found = short_answer(question, _answer(quote, start, question).citations)
    assert found is not None
    assert found.source == "doc.txt" and start <= found.start < found.end <= start + len(quote)
    assert quote[found.start - start : found.end - start] == found.text
    if short is not None:
        assert exact_match(found.text, short.split("|")), found.text
    else:
        assert "Larry Page" in found.text or "Sergey Brin" in found.text


def test_the_chat_puts_it_first_in_bold_and_inside_the_quote_escaped() -> None:
    quote = "The price was *$5* <img src=http://example.com/x.png> in total."
    a = _answer(quote, 10, "What was the price?")
    short = ShortAnswer("*$5* <img src=http://example.com/x.png>", "doc.txt", 24, 24 + 39, 0.8, 0)
    assert quote[14:53] == short.text
    a = Answer(a.text, False, a.citations, a.evidence, short=short)
    reply = reply_markdown(a)
    assert reply.startswith("**\\*$5\\* &lt;img") and "<img" not in reply
    assert reply.endswith("(the phrase in bold: confidence 0.80 that it is exactly the answer)")
    panel = render_sources(a, lambda s: " " * 10 + quote)
    assert '<strong class="src-short">\\*$5\\*' not in panel  # HTML is escaped, not Markdown-escaped
    assert '<strong class="src-short">*$5* &lt;img src=http://example.com/x.png&gt;</strong>' in panel
    assert "<img" not in panel


@pytest.mark.integration
def test_ask_gives_a_verified_short_answer_on_every_face(indexed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rag import ask
    from rag.core import document_text

    corpus, settings = indexed
    a = ask("Who is the Chinese Embassy spokesman quoted about Ukraine?", corpus=corpus, settings=settings)
    assert a.short is not None and a.short.text == "Liu Pengyu"
    cited = a.citations[a.short.citation]
    assert cited.start <= a.short.start < a.short.end <= cited.end
    assert document_text(a.short.source, corpus, settings=settings)[a.short.start : a.short.end] == "Liu Pengyu"
    assert a.to_dict()["short"]["text"] == "Liu Pengyu"
    from click.testing import CliRunner

    from rag.faces.cli import cli

    args = ["ask", a.question, "--corpus", str(corpus), "--index-dir", str(settings.index_dir)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "Liu Pengyu"  # the phrase alone on the first line
    assert json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)["short"]["text"] == "Liu Pengyu"


@pytest.mark.integration
def test_an_abstention_has_no_short_answer(indexed) -> None:  # type: ignore[no-untyped-def]
    from rag import ask

    corpus, settings = indexed
    a = ask("How many tons of wheat will China import from Russia?", corpus=corpus, settings=settings)
    assert a.abstained and a.short is None and a.to_dict()["short"] is None
