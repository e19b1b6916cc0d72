"""Every view of an ``Answer`` a face shows: its JSON, the CLI's text, the chat's Markdown and HTML.

One producer of the answer's JSON (``answer_json``): the CLI's ``--json``, ``/v1/ask``, the MCP
``ask`` tool and the chat's saved conversation all carry its fields, so no face can drift.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.types import Answer, Passage

CONTEXT_CHARS = 280


CSS = """
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 6px 10px; margin: 6px 0; }
.src-card summary { cursor: pointer; font-weight: 600; }
.src-passage { white-space: pre-wrap; font-size: 0.92em; line-height: 1.45; margin-top: 6px; }
.src-passage mark { background: #ffe58a; color: #111; padding: 0 1px; }
.src-query { font-size: 0.85em; opacity: 0.8; margin-bottom: 6px; }
.src-abstain { font-weight: 600; margin: 4px 0; }
.src-notice { border-left: 3px solid #d97706; padding: 2px 8px; margin: 4px 0; font-size: 0.9em; }
.src-card.src-focus { outline: 2px solid #f59e0b; }
.src-unsupported { border-left: 3px solid #dc2626; padding: 2px 8px; margin: 4px 0; font-size: 0.9em; }
"""


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


# Clicking an [n] marker in a reply opens its source card and scrolls to it. The reply is
# selected by the same click, which puts its own sources in the panel, so the card is looked for
# again for a moment while the panel updates.
CITATION_LINKS_JS = r"""<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.cite");
  if (!link) return;
  event.preventDefault();  // the click still selects the reply, which shows its own sources
  const n = (link.textContent || "").replace(/\D/g, "");  // sanitizers may drop data- attributes
  const open = () => {
    const card = document.querySelector(`#sources details[data-citation="${n}"]`);
    if (!card) return;
    card.open = true;
    card.classList.add("src-focus");
    card.scrollIntoView({block: "center"});
  };
  for (const ms of [300, 900, 1800]) setTimeout(open, ms);
}, true);
</script>"""


_MARKER_ESCAPED = re.compile(r"\\\[(\d+)\\\]")


def linked_markers(escaped: str) -> str:
    """``\\[n\\]`` markers of an escaped reply made links that open source card ``n``."""
    return _MARKER_ESCAPED.sub(lambda m: f'<a class="cite" href="#cite-{m.group(1)}">[{m.group(1)}]</a>', escaped)


def plain_markdown(text: str) -> str:
    """``text`` escaped so a Markdown renderer shows it verbatim: no images, links, emphasis or HTML.

    Quotes are the document's own characters; ``*Jon*`` must read as ``*Jon*``, and
    ``![x](http://…)`` or ``<img src=…>`` must never become an element the browser loads.
    """
    return _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(text, quote=False))


def render_sources(answer: Any, text_of: Any, title_of: Any = None) -> str:
    """HTML for the sources panel: each citation expands to its passage with the span highlighted.

    A card is named by what a reader recognises: the document's title, the section the quote
    sits under and its paragraph; the file and the character offsets are on hover.
    """
    sure = "" if answer.abstained else f' · confidence <span class="src-confidence">{answer.confidence:.2f}</span>'
    parts = [f'<div class="src-query">Searched for: <code>{html.escape(answer.query)}</code>{sure}</div>']
    if answer.notice:
        parts.append(f'<div class="src-notice">Note: {html.escape(answer.notice)}</div>')
    if answer.unsupported_sentences:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in answer.unsupported_sentences)
        parts.append(
            '<div class="src-unsupported">Not supported by the passage they cite '
            f"(marked [unsupported] in the answer, dropped in strict mode):<ul>{items}</ul></div>"
        )
    if answer.abstained:
        parts.append('<div class="src-abstain">No passage answers this. Related, but not an answer:</div>')
        for p, closest in answer.related():
            c = p.chunk
            name = _card_name(c.source, text_of(c.source) or "", c.start, title_of)
            body = html.escape(c.text)
            if closest is not None:  # the passage's sentence nearest an answer, marked where it is
                a, b = closest.start - c.start, closest.end - c.start
                body = (
                    f'{html.escape(c.text[:a])}<mark class="src-closest">{html.escape(c.text[a:b])}</mark>'
                    f"{html.escape(c.text[b:])}"
                )
            parts.append(
                f'<details class="src-card" data-source="{html.escape(c.source)}"><summary '
                f'title="{html.escape(c.source)} · characters {c.start}–{c.end}">{name}</summary>'
                f'<div class="src-passage">{body}</div></details>'
            )
        return "\n".join(parts)
    bold = {s.citation: s for s in reversed(getattr(answer, "phrases", ())) if s is not None}  # first wins
    for i, c in enumerate(answer.citations, start=1):
        text = text_of(c.source) or ""
        a, b = _word_bounds(text, c.start - CONTEXT_CHARS, c.end + CONTEXT_CHARS)
        before = ("…" if a > 0 else "") + html.escape(text[a : c.start])
        after = html.escape(text[c.end : b]) + ("…" if b < len(text) else "")
        name = _card_name(c.source, text, c.start, title_of) + (f" · page {c.page}" if c.page is not None else "")
        parts.append(
            f'<details class="src-card" data-citation="{i}" data-source="{html.escape(c.source)}">'
            f'<summary title="{html.escape(c.source)} · characters {c.start}–{c.end}">[{i}] {name}</summary>'
            f'<div class="src-passage">{before}<mark data-start="{c.start}" data-end="{c.end}">'
            f"{_quote_html(c.quote, c.start, bold.get(i - 1))}"
            f"</mark>{after}</div></details>"
        )
    return "\n".join(parts)


def _card_name(source: str, text: str, offset: int, title_of: Any) -> str:
    """``Title · Section · ¶ 12`` (escaped): where the quote is, in words a reader knows."""
    from rag.language.units import section_at

    title = (title_of(source) if title_of else "") or source
    paragraph = text.count("\n\n", 0, offset) + 1
    bits = [title, section_at(text, offset), f"¶ {paragraph}"]
    return " · ".join(html.escape(b) for b in bits if b)


def _word_bounds(text: str, a: int, b: int) -> tuple[int, int]:
    """``(a, b)`` clamped to the text and moved inward to white space, so context never cuts a word."""
    a, b = max(0, a), min(len(text), b)
    if a > 0 and not text[a - 1].isspace():
        space = text.find(" ", a, a + 40)
        a = space + 1 if space >= 0 else a
    if b < len(text) and not text[b].isspace():
        space = text.rfind(" ", b - 40, b)
        b = space if space >= 0 else b
    return a, b


def reply_text(answer: Any) -> str:
    """The chat reply: the answer, then what the reader must know about it, in the reply itself.

    Quotes read cleanly (``rag.language.text.readable``); the sources panel shows them verbatim."""
    from rag.language.text import readable

    lines = [readable(answer.text)]
    if answer.notice:
        lines.append(f"Note: {answer.notice}")
    if not answer.abstained:
        lines.append(f"(confidence {answer.confidence:.2f}: the estimated chance this answer is right)")
    return "\n\n".join(lines)


def reply_markdown(answer: Any) -> str:
    """The reply as the chat shows it: the short answer first, in bold, then the quotes, escaped.

    The bold phrase's own confidence closes the reply: a phrase rated 0.2 looks as sure as one
    rated 0.9 otherwise.
    """
    body = linked_markers(plain_markdown(reply_text(answer)))
    phrases = [s for s in getattr(answer, "phrases", ()) if s is not None]
    if not phrases:
        return body
    lead = " · ".join(f"**{plain_markdown(s.text)}**" for s in phrases)
    if len(phrases) == 1:
        sure = f"(the phrase in bold: confidence {phrases[0].confidence:.2f} that it is exactly the answer)"
    else:
        each = ", ".join(f"{s.confidence:.2f}" for s in phrases)
        sure = f"(the phrases in bold, one per part of the question: confidence {each} that each is exactly its answer)"
    return f"{lead} — {body}\n\n{sure}"


def _quote_html(quote: str, start: int, short: Any) -> str:
    """The escaped quote, with the short answer inside it in bold when it is in this quote."""
    if short is None:
        return html.escape(quote)
    a, b = short.start - start, short.end - start
    return (
        f'{html.escape(quote[:a])}<strong class="src-short">{html.escape(quote[a:b])}</strong>{html.escape(quote[b:])}'
    )


def answer_json(answer: Answer, title_of: Callable[[str], str]) -> dict[str, Any]:
    """The answer as every face returns it: ``Answer.to_dict()`` with each citation's document title."""
    out: dict[str, Any] = answer.to_dict()
    out["citations"] = [{**c.to_dict(), "title": title_of(c.source)} for c in answer.citations]
    return out


def passage_json(passage: Passage, title_of: Callable[[str], str]) -> dict[str, Any]:
    """One retrieved passage as the MCP ``search`` tool returns it: its exact span and its score."""
    c = passage.chunk
    return {"source": c.source, "title": title_of(c.source), "start": c.start, "end": c.end,
            "text": c.text, "score": round(passage.score, 4)}  # fmt: skip


def turn_record(question: str, answer: Answer, title_of: Callable[[str], str]) -> dict[str, Any]:
    """One question and its answer, as the chat keeps and saves the conversation (JSON): the answer's
    JSON, with the question as asked and as searched (a follow-up rewritten)."""
    return {"question": question, "query": answer.query, **answer_json(answer, title_of)}


def conversation_markdown(turns: list[dict[str, Any]]) -> str:
    """The conversation as Markdown: each question, its answer, and each citation with its place."""
    out = ["# Conversation", ""]
    for t in turns:
        out += [f"## {t['question']}", ""]
        if t["query"] != t["question"]:
            out += [f"*Searched for: {t['query']}*", ""]
        phrases = [t["short"]] if t.get("short") else [s for s in t.get("part_shorts") or [] if s]
        if phrases:
            out += [" · ".join(f"**{s['text']}**" for s in phrases), ""]
        text = t["text"] if "text" in t else t["answer"]  # "answer": saved by an earlier version
        out += [text, "", f"Confidence {t['confidence']:.2f}.", ""]
        for i, c in enumerate(t["citations"], start=1):
            page = f", page {c['page']}" if c.get("page") else ""
            out.append(f"[{i}] `{c['source']}`{page}, characters {c['start']}–{c['end']}:")
            out += ["", *(f"> {line}" for line in str(c["quote"]).splitlines()), ""]
    return "\n".join(out)


def answer_text(answer: Answer) -> str:
    """The answer as ``rag ask`` prints it: the short answer alone on the first line, the quotes
    (read cleanly; ``--json`` keeps the document's own characters), the confidence, each citation's
    place, and for a refusal the passages that came closest."""
    from rag.language.text import readable

    lines = []
    if answer.phrases:  # the phrase that answers (one per part of the question), alone on the first line
        lines.append(" · ".join(s.text if s else "—" for s in answer.phrases))
    lines.append(readable(answer.text))
    if not answer.abstained:  # a refusal's number rates the passage it did not quote: no answer to rate
        lines.append(f"\nconfidence {answer.confidence:.2f} (estimated probability that the answer is right)")
    for s in answer.phrases:
        if s is not None:
            lines.append(f"short answer [{s.citation + 1}] [{s.start}:{s.end}] confidence {s.confidence:.2f}")
    if answer.citations:
        lines.append("")
    for i, c in enumerate(answer.citations, start=1):
        page = f" page {c.page}" if c.page is not None else ""
        lines.append(f"[{i}] {c.source}{page} [{c.start}:{c.end}] score {c.score:.2f}")
    lines += [f"unsupported by its citation: {sentence}" for sentence in answer.unsupported_sentences]
    if answer.abstained and answer.passages:
        lines.append("\nRelated, but not an answer:")
        for p, closest in answer.related():
            start, text = (closest.start, closest.text) if closest else (p.chunk.start, p.chunk.text)
            snippet = " ".join(text.split())
            cut = snippet[:240] + ("…" if len(snippet) > 240 else "")
            lines.append(f"- {p.chunk.source} [{start}:{closest.end if closest else p.chunk.end}] {cut}")
    return "\n".join(lines)
