"""The chat served by a real Gradio server: API client, concurrency, and a real headless browser."""

from __future__ import annotations

import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ARTIFACTS, DEFAULT_CORPUS, browser_page, running_app

from rag.faces.present import render_sources
from rag.library import safe_filename


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\boot.ini.md", "boot.ini.md"),
        (".hidden.md", "hidden.md"),
        ("rapport d'été.PDF", "rapport d_t.pdf"),
        ("a/b/c.html", "c.html"),
        ("...", "document"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.unit
def test_sources_escape_html_and_mark_the_span() -> None:
    from rag.types import Answer, Citation, Evidence

    text = "Intro. <b>Bold</b> claim & more. Outro."
    quote = "<b>Bold</b> claim & more."
    start = text.index(quote)
    citation = Citation("d.txt", start, start + len(quote), quote, 0.9)
    a = Answer(f"{quote} [1]", False, (citation,), Evidence("q", "q <x>", "hybrid", 5))
    html_out = render_sources(a, lambda s: text)
    assert "<b>" not in html_out and "&lt;b&gt;Bold&lt;/b&gt; claim &amp; more." in html_out
    assert f'data-start="{start}"' in html_out and "q &lt;x&gt;" in html_out


@pytest.mark.unit
def test_source_cards_name_title_section_and_paragraph_and_cut_context_at_words() -> None:
    from rag.types import Answer, Citation, Evidence

    words = " ".join(f"word{i}" for i in range(200))
    text = f"# Memo\n\n## Crew\n\n{words}\n\nThe captain is Ingrid Solvang.\n\n{words}"
    quote = "The captain is Ingrid Solvang."
    start = text.index(quote)
    a = Answer(f"{quote} [1]", False, (Citation("memo.md", start, start + len(quote), quote, 0.9),),
               Evidence("q", "q", "hybrid", 5))  # fmt: skip
    out = render_sources(a, lambda s: text, lambda s: "Zephyr Project memo")
    assert '<summary title="memo.md · characters' in out
    assert "[1] Zephyr Project memo · Memo &gt; Crew · ¶ 4</summary>" in out
    context = re.search(r'<div class="src-passage">…(.*?)<mark', out, re.S).group(1)  # type: ignore[union-attr]
    assert context.split()[0].startswith("word") and context[0] != " "
    assert re.fullmatch(r"word\d+", context.split()[0])  # a whole word, not its tail


@pytest.fixture(scope="module")
def fake_llm():  # type: ignore[no-untyped-def]
    from fake_llm import FakeLLM

    with FakeLLM() as llm:
        yield llm


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_llm):  # type: ignore[no-untyped-def]
    """`python app.py` on a free loopback port, over a private copy of the default corpus.

    Its LLM answerer (off by default, picked in the UI) points at a local scripted
    OpenAI-protocol server whose model adds one invented sentence to a correct answer.
    """
    root = tmp_path_factory.mktemp("chat")
    corpus = root / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    llm_env = {"RAG_LLM_BASE_URL": fake_llm.base_url, "RAG_LLM_MODEL": "hallucinate", "RAG_LLM_TIMEOUT": "10"}
    with running_app(root, corpus, llm_env) as port:
        yield {"url": f"http://127.0.0.1:{port}/", "corpus": corpus, "root": root}


@pytest.mark.integration
def test_api_endpoint_answers_with_citations(server) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    client = Client(server["url"], verbose=False)
    result = client.predict("Who is the Chinese Embassy spokesman quoted about Ukraine?", "hybrid", 5, api_name="/ask")
    assert "Liu Pengyu" in result["text"] and not result["abstained"]
    c = result["citations"][0]
    text = (server["corpus"] / c["source"]).read_text(encoding="utf-8")
    assert text[c["start"] : c["end"]] == c["quote"]


@pytest.mark.integration
def test_ten_parallel_clients_each_get_their_own_answer(server) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    cases = [
        ("Who is the Chinese Embassy spokesman quoted about Ukraine?", "Liu Pengyu"),
        ("How much in arms has the United States supplied to Ukraine?", "$360 million"),
        ("Who is China's ambassador to the United States?", "Qin Gang"),
        ("Which Chinese Foreign Ministry spokesperson accused the US of stoking the conflict?", "Hua Chunying"),
        ("When did Biden and Xi hold a virtual summit?", "15"),
    ] * 2

    def one(case: tuple[str, str]) -> tuple[str, str]:
        client = Client(server["url"], verbose=False)
        return case[1], client.predict(case[0], "hybrid", 5, api_name="/ask")["text"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, cases))
    assert len(results) == 10
    for expected, text in results:
        assert expected in text


@pytest.mark.browser
def test_browser_conversation_sources_and_uploads(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with browser_page(server["url"]) as page:
        box = page.locator("#question textarea")
        box.fill("Who is the Chinese Embassy spokesman quoted about Ukraine?")
        t0 = time.perf_counter()
        box.press("Enter")
        bot = page.locator("#chat [data-testid='bot']").last
        expect(bot).to_contain_text(re.compile(r"\w"), timeout=60_000)  # the first streamed words
        first_token = time.perf_counter() - t0
        card = page.locator("#sources details").first
        expect(card).to_be_visible(timeout=60_000)
        complete = time.perf_counter() - t0
        expect(bot).to_contain_text("Liu Pengyu")
        expect(bot).to_contain_text("[1]")
        card.locator("summary").click()
        mark = card.locator("mark").first
        expect(mark).to_be_visible()
        quote = mark.inner_text()
        start, end = int(mark.get_attribute("data-start")), int(mark.get_attribute("data-end"))
        source = card.get_attribute("data-source")
        text = (server["corpus"] / source).read_text(encoding="utf-8")
        assert text[start:end] == quote and "Liu Pengyu" in quote
        page.screenshot(path=str(ARTIFACTS / "chat-answer.png"), full_page=True)

        bots = page.locator("#chat [data-testid='bot']")
        box.fill("Who is the Chinese ambassador to the United States?")
        t1 = time.perf_counter()
        box.press("Enter")
        expect(bots.nth(1)).to_contain_text(re.compile(r"\w"), timeout=60_000)
        second_first_token = time.perf_counter() - t1
        expect(page.locator("#sources")).to_contain_text(
            "Searched for: Who is the Chinese ambassador to the United States?", timeout=60_000
        )
        second_complete = time.perf_counter() - t1
        expect(bots.nth(1)).to_contain_text("Qin Gang")
        (ARTIFACTS / "timings.txt").write_text(
            f"first question (new server process): first_token_s={first_token:.2f} complete_s={complete:.2f}\n"
            f"second question: first_token_s={second_first_token:.2f} complete_s={second_complete:.2f}\n"
        )
        box.fill("How long was the White House meeting with him?")
        box.press("Enter")
        # the follow-up is rewritten to stand alone ("him" named), and the panel shows the rewrite
        expect(page.locator("#sources")).to_contain_text(
            "Searched for: How long was the White House meeting with Qin Gang?",  # named in the answer
            timeout=60_000,
        )
        expect(bots.nth(2)).to_contain_text("one and half hour", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "chat-followup.png"), full_page=True)
        bots.nth(0).click()  # an earlier answer shows its own sources again
        expect(page.locator("#sources")).to_contain_text(
            "Searched for: Who is the Chinese Embassy spokesman quoted about Ukraine?", timeout=30_000
        )
        expect(page.locator("#sources details").first).to_have_attribute("data-source", "001_a1832f6365ab849e.txt")
        page.screenshot(path=str(ARTIFACTS / "chat-earlier-sources.png"), full_page=True)
        page.locator("#sources details").first.evaluate("card => card.open = false")
        marker = bots.nth(1).locator("a.cite", has_text="[1]")
        marker.click()  # a marker opens its own answer's card
        expect(page.locator("#sources")).to_contain_text("Searched for: Who is the Chinese ambassador", timeout=30_000)
        expect(page.locator("#sources details[data-citation='1']")).to_have_attribute("open", "", timeout=30_000)
        expect(page.locator("#sources details[data-citation='1'] mark")).to_contain_text("Qin Gang")
        page.screenshot(path=str(ARTIFACTS / "chat-marker-opens-source.png"), full_page=True)

        page.reload()  # the conversation is kept in this browser
        expect(bots).to_have_count(3, timeout=30_000)
        expect(bots.nth(2)).to_contain_text("one and half hour")
        with page.expect_download(timeout=30_000) as download:
            page.locator("#download").click()
        markdown = Path(download.value.path()).read_text(encoding="utf-8")
        assert markdown.startswith("# Conversation")
        assert "## Who is the Chinese Embassy spokesman quoted about Ukraine?" in markdown
        assert "*Searched for: How long was the White House meeting with Qin Gang?" in markdown
        assert "[1] `001_a1832f6365ab849e.txt`, characters " in markdown and "> " in markdown
        (ARTIFACTS / "conversation.md").write_text(markdown, encoding="utf-8")

        page.get_by_role("tab", name="Documents").click()
        note = tmp_path / "garden.md"
        note.write_text("# Garden\n\nThe garden of Villa Rosa has exactly 412 rose bushes.\n", encoding="utf-8")
        page.locator("#upload input[type=file]").set_input_files(str(note))
        page.locator("#add").click()
        expect(page.locator("#status")).to_contain_text("Added: garden.md (indexed, answerable now)", timeout=120_000)
        expect(page.locator("#documents")).to_contain_text("uploads/garden.md")
        binary = tmp_path / "image.txt"
        binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
        page.locator("#upload input[type=file]").set_input_files(str(binary))
        page.locator("#add").click()
        expect(page.locator("#status")).to_contain_text("Not added: image.txt: binary file", timeout=120_000)
        assert not (server["corpus"] / "uploads" / "image.txt").exists()
        page.screenshot(path=str(ARTIFACTS / "documents.png"), full_page=True)

        page.get_by_role("tab", name="Chat").click()
        box.fill("How many rose bushes does the garden of Villa Rosa have?")
        box.press("Enter")
        expect(bots.nth(3)).to_contain_text("412 rose bushes", timeout=60_000)

        # the same name again: refused, then replaced when asked to (re-indexed incrementally)
        page.get_by_role("tab", name="Documents").click()
        note.write_text("# Garden\n\nThe garden of Villa Rosa now has exactly 500 rose bushes.\n", encoding="utf-8")
        page.locator("#upload input[type=file]").set_input_files(str(note))
        page.locator("#add").click()
        expect(page.locator("#status")).to_contain_text("a document with this name already exists", timeout=120_000)
        page.locator("#replace input").check()
        page.locator("#upload input[type=file]").set_input_files(str(note))
        page.locator("#add").click()
        expect(page.locator("#status")).to_contain_text("Replaced: garden.md", timeout=120_000)
        assert "500 rose bushes" in (server["corpus"] / "uploads" / "garden.md").read_text(encoding="utf-8")
        assert not list((server["corpus"] / "uploads").glob(".*"))  # the old version is gone
        page.get_by_role("tab", name="Chat").click()
        box.fill("How many rose bushes does the garden of Villa Rosa have?")
        box.press("Enter")
        expect(bots.last).to_contain_text("500 rose bushes", timeout=60_000)

        # the chat's own trash icon clears the history: a pronoun question is no longer rewritten
        page.locator("#chat button[aria-label='Clear']").click()
        expect(bots).to_have_count(0)
        box.fill("What did he say about Ukraine?")
        box.press("Enter")
        expect(page.locator("#sources")).to_contain_text(
            "Searched for: What did he say about Ukraine? ·", timeout=60_000
        )

        page.reload()  # the remove list is read from the index on load, not frozen at server start
        page.get_by_role("tab", name="Documents").click()
        page.get_by_label("Remove a document").click()
        page.get_by_role("option", name="uploads/garden.md").click()
        page.get_by_role("button", name="Remove").click()
        expect(page.locator("#status")).to_contain_text("Removed: uploads/garden.md", timeout=120_000)
        expect(page.locator("#documents")).not_to_contain_text("garden.md")
        assert not (server["corpus"] / "uploads" / "garden.md").exists()


@pytest.mark.browser
def test_browser_llm_answer_streams_and_flags_unsupported(server) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with browser_page(server["url"]) as page:
        page.get_by_text("Settings", exact=True).click()  # the accordion
        page.locator("#answerer").get_by_text("openai", exact=True).click()
        box = page.locator("#question textarea")
        box.fill("Who is the Chinese Embassy spokesman quoted about Ukraine?")
        box.press("Enter")
        bot = page.locator("#chat [data-testid='bot']").last
        expect(bot).to_contain_text("[unsupported]", timeout=60_000)
        expect(bot).to_contain_text("Liu Pengyu. [1]")
        sources = page.locator("#sources")
        expect(sources).to_contain_text("Not supported by the passage they cite")
        expect(sources).to_contain_text("500 tanks to Moscow")
        card = sources.locator("details").first
        card.locator("summary").click()
        mark = card.locator("mark").first
        start, end = int(mark.get_attribute("data-start")), int(mark.get_attribute("data-end"))
        source = card.get_attribute("data-source")
        assert (server["corpus"] / source).read_text(encoding="utf-8")[start:end] == mark.inner_text()
        page.screenshot(path=str(ARTIFACTS / "chat-llm-unsupported.png"), full_page=True)


@pytest.mark.unit
def test_a_refusal_shows_no_confidence_in_the_reply_or_the_sources() -> None:
    """A refusal's number rates a passage it did not quote: shown as "confidence 0.97" beside "The
    corpus does not say", it read as certainty about the refusal."""
    from rag.faces.present import reply_markdown
    from rag.types import Answer, Evidence

    refusal = Answer("The corpus does not say.", True, (), Evidence("q", "q", "hybrid", 5), confidence=0.97)
    assert "confidence" not in render_sources(refusal, lambda s: "")
    assert "confidence" not in reply_markdown(refusal)
    answered = Answer("Yes. [1]", False, (), Evidence("q", "q", "hybrid", 5), confidence=0.8)
    assert 'confidence <span class="src-confidence">0.80</span>' in render_sources(answered, lambda s: "")


@pytest.mark.unit
def test_a_refusal_marks_each_related_passage_at_its_closest_sentence() -> None:
    from rag.types import Answer, CandidateSentence, Chunk, Evidence, Passage, ScoredSentence

    text = "Opening words. The pump <b>house</b> holds three pumps. Closing words."
    chunk = Chunk(id="c1", source="d.txt", index=0, start=100, end=100 + len(text), text=text)
    a = text.index("The pump")
    sentence = ScoredSentence("d.txt", 100 + a, 100 + text.index(" Closing"), text[a : text.index(" Closing")], "c1",
                              0.4, 0.4, 0.4, False)  # fmt: skip
    evidence = Evidence("q", "q", "hybrid", 5, (Passage(chunk, 0.5),), (CandidateSentence(sentence, 0.4, 0),))
    out = render_sources(Answer("The corpus does not say.", True, (), evidence), lambda s: "")
    assert '<mark class="src-closest">The pump &lt;b&gt;house&lt;/b&gt; holds three pumps.</mark>' in out
    assert "Opening words. <mark" in out and "</mark> Closing words." in out


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_browser_the_chat_says_what_it_answers_from_and_fits_a_phone(server) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with browser_page(server["url"]) as page:
        about = page.locator("#corpus")
        expect(about).to_contain_text("corpus · ", timeout=60_000)
        expect(about).to_contain_text(" documents · ")
        n = int(about.inner_text().split(" · ")[1].split()[0])
        assert n >= 2
        assert page.locator("#chat button[aria-label*='hare' i]").count() == 0  # no share to a hub
        expect(page.locator("#examples")).to_contain_text("What is “", timeout=30_000)  # questions to start from
        page.get_by_text("Settings", exact=True).click()
        sliders = page.locator("input[type=range]")
        expect(sliders.first).to_be_visible(timeout=30_000)
        assert sorted(int(sliders.nth(i).get_attribute("max") or 0) for i in range(sliders.count())) == [10, 50]
        page.get_by_role("tab", name="Documents").click()
        expect(page.locator("#document-count")).to_contain_text(f"{n} documents")
        expect(page.locator("#documents input[placeholder*='earch' i]").first).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="Chat").click()
        page.set_viewport_size({"width": 390, "height": 800})
        box = page.locator("#question textarea")
        expect(box).to_be_visible()
        fits = page.evaluate(
            """() => { const t = document.querySelector('#question textarea');
                       const c = document.createElement('canvas').getContext('2d');
                       c.font = getComputedStyle(t).font;
                       return c.measureText(t.placeholder).width <= t.clientWidth; }"""
        )
        assert fits, "the placeholder is cut at phone width"
        page.screenshot(path=str(ARTIFACTS / "phone.png"))


@pytest.mark.unit
def test_the_reply_reads_cleanly_while_the_sources_stay_verbatim() -> None:
    from rag.faces.present import reply_markdown
    from rag.types import Answer, Citation, Evidence

    text = "Cargo expects\nthe crate root inside the ``src`` directory."
    a = Answer(f"{text} [1]", False, (Citation("ch07.md", 0, len(text), text, 0.9),), Evidence("q", "q", "hybrid", 5))
    reply = reply_markdown(a)
    assert "Cargo expects the crate root inside the src directory" in reply.replace("\\", "")
    assert "``" not in reply and "\n" not in reply.split("\n\n")[0]
    assert "the crate root inside the ``src`` directory." in render_sources(a, lambda s: text)
