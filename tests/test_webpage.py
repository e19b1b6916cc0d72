"""Saved web pages: our Markdown shapes, trafilatura's decision on what is content."""

from __future__ import annotations

import pytest
from conftest import ROOT

from eval import web_extract
from rag.ingest import webpage
from rag.ingest.webpage import html_text

pytestmark = pytest.mark.unit


def test_saved_pages_keep_the_content_and_drop_the_boilerplate() -> None:
    report = web_extract.evaluate(ROOT / "eval" / "datasets" / "web_pages.jsonl")
    shipped = report["shipped: our lines that trafilatura keeps"]
    tags = report["tags only (ours)"]
    assert shipped["content_recall"] == 1.0, shipped["missed"]
    assert shipped["boilerplate_leaked"] <= 0.1, shipped["leaked"]
    assert tags["boilerplate_leaked"] > 0.5  # the set holds boilerplate a tag parser cannot see


def test_structure_comes_from_the_tags_and_sidebars_go() -> None:
    page = (ROOT / "eval" / "datasets" / "web_pages" / "council_news.html").read_text(encoding="utf-8")
    text, title = html_text(page)
    blocks = text.split("\n\n")
    assert title == "Orlen council approves night buses | Orlen Daily"
    assert blocks[0] == "# Orlen council approves night buses"
    assert "| Route | From | To |\n|---|---|---|\n| N1 | Central Station | Harbour Gate |" in text
    assert "Related articles" not in text  # a heading over boilerplate only goes with it
    assert "Spring sale" not in text and "Morning Briefing" not in text


def test_a_heading_trafilatura_drops_stays_over_its_content() -> None:
    body = "Fish and chips with extra salt, served every day from noon until the kitchen closes. " * 3
    page = f"<html><body><h1>Our Menu</h1><p>{body.strip()}</p><div class='share'>Share on Facebook</div></body></html>"
    assert "OurMenu" not in webpage._main_text(page)  # trafilatura alone loses the heading
    assert html_text(page)[0] == f"# Our Menu\n\n{body.strip()}"


def test_a_fragment_trafilatura_misreads_is_read_by_tags() -> None:
    # trafilatura keeps only the nested item of this list
    assert html_text("<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>")[0] == "- a\n\n- b\n\n- c"


def test_a_page_over_the_size_limit_is_read_by_tags_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    page = (ROOT / "eval" / "datasets" / "web_pages" / "garden_blog.html").read_text(encoding="utf-8")
    assert "We use cookies" not in html_text(page)[0]
    monkeypatch.setattr(webpage, "MAX_MAIN_CHARS", len(page) - 1)
    text = html_text(page)[0]
    assert "We use cookies" in text and "Kale is the most forgiving vegetable" in text


def test_headings_lose_their_permalink_and_edit_markers() -> None:
    """Documentation pages end headings with "¶" links, wikis with "[edit]": neither is the heading."""
    body = "<p>" + "The pump is primed before the valve opens, every morning of the season. " * 4 + "</p>"
    page = (
        f"<html><body><main><h1>Pumps<a class='headerlink' href='#pumps'>¶</a></h1>{body}"
        "<h2>History<span class='mw-editsection'><span class='mw-editsection-bracket'>[</span>"
        f"<a href='/edit'>edit</a><span class='mw-editsection-bracket'>]</span></span></h2>{body}"
        f"<h2 id='use'>Use <a href='#use'>¶</a></h2>{body}<h2>Origins [edit]</h2>{body}"
        "<h2>Left open<a class='headerlink' href='#o'>¶</h2><p>Text after a marker nobody closed.</p>"
        "<h2>Icon<img class='headerlink' src='link.png'></h2><p>Text after an image marker.</p>"
        "<h2>Runs on<a class='headerlink'>¶</h2></a><p>Text after a marker closed too late.</p>"
        "<h3>Rule § 4 of the code</h3><p>A section sign inside a heading stays.</p></main></body></html>"
    )
    text = html_text(page)[0]
    headings = [line for line in text.split("\n") if line.startswith("#")]
    assert headings == [
        "# Pumps", "## History", "## Use", "## Origins", "## Left open", "## Icon", "## Runs on",
        "### Rule § 4 of the code",
    ]  # fmt: skip
    for kept in ("Text after a marker nobody closed.", "Text after an image marker.", "closed too late."):
        assert kept in text


IN_BRIEF = """<html><head><title>Understanding Bypass Blocks</title></head><body><main>
<h1>Understanding Bypass Blocks</h1>
<section><h2>In brief</h2>
<dl><dt>Goal</dt>
  <dd>Users can more easily navigate by keyboard.</dd>
  <dt>Why it's important:</dt><dd>Users reliant on the keyboard can move around pages efficiently.</dd>
  <dd>Screen reader users benefit too.</dd></dl></section>
<section><h2>Intent</h2><p>The intent of this success criterion is to allow people who navigate
sequentially through content more direct access to the primary content of the web page. Web pages
often have content that appears on other pages, such as navigation links and advertising frames.</p>
</section></main></body></html>"""


@pytest.mark.parametrize("size", ["whole page", "fragment"])
def test_a_definition_term_labels_its_definition_on_one_line(size: str) -> None:
    # WCAG's "In brief" box: each <dt> was a sentence of its own ("Goal"), quoted as an answer.
    page = IN_BRIEF if size == "whole page" else IN_BRIEF.split("<section><h2>Intent")[0]
    text, _ = html_text(page)
    blocks = text.split("\n\n")
    assert "Goal: Users can more easily navigate by keyboard." in blocks
    assert "Why it's important: Users reliant on the keyboard can move around pages efficiently." in blocks
    assert "Screen reader users benefit too." in blocks  # a second definition is a line of its own
    assert "Goal" not in blocks and "\x00" not in text


def test_an_empty_definition_term_leaves_the_definition_a_block_of_its_own() -> None:
    text, _ = html_text("<p>First paragraph here.</p><dl><dt><span> </span></dt> <dd>A definition.</dd></dl>")
    assert text.split("\n\n") == ["First paragraph here.", "A definition."]
