"""The Gradio chat: conversation with streamed answers, checkable sources, and a document panel.

Built on the same ``ask`` as the CLI and the API. ``build_app`` returns the Blocks; ``app.py``
and ``rag chat`` launch it on 127.0.0.1.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Any, cast

from rag.errors import RagError
from rag.library import MAX_UPLOAD_BYTES, TYPES_TEXT, add_documents, removable, remove_document
from rag.request import OPTION_LIMITS
from rag.settings import ANSWERERS, MODES, AnswererName, Mode, Settings

CONTEXT_CHARS = 280
STREAM_DELAY_S = 0.01

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


# Sent with every response: the page may load nothing from elsewhere, so a document's markup can
# never make the browser fetch a remote address (no beacons, no tracking pixels).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
    "connect-src 'self'; worker-src 'self' blob:; frame-src 'self'; frame-ancestors 'self'; "
    "base-uri 'self'; form-action 'self'"
)
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


class SecurityHeaders:
    """ASGI middleware adding the Content-Security-Policy (and no-sniff) to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"content-security-policy"]
                headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


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


def turn_record(question: str, answer: Any) -> dict[str, Any]:
    """One question and its answer with the citations, as the conversation keeps them (JSON)."""
    return {
        "question": question,
        "query": answer.query,
        "answer": answer.text,
        "short": answer.short.to_dict() if getattr(answer, "short", None) else None,
        "part_shorts": [s.to_dict() if s else None for s in getattr(answer, "part_shorts", ())],
        "abstained": answer.abstained,
        "confidence": round(answer.confidence, 4),
        "citations": [c.to_dict() for c in answer.citations],
    }


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
        out += [t["answer"], "", f"Confidence {t['confidence']:.2f}.", ""]
        for i, c in enumerate(t["citations"], start=1):
            page = f", page {c['page']}" if c.get("page") else ""
            out.append(f"[{i}] `{c['source']}`{page}, characters {c['start']}–{c['end']}:")
            out += ["", *(f"> {line}" for line in str(c["quote"]).splitlines()), ""]
    return "\n".join(out)


def conversation_file(turns: list[dict[str, Any]]) -> str:
    """The conversation written to a fresh temporary Markdown file, for the download button."""
    import tempfile

    folder = Path(tempfile.gettempdir()) / "rag-conversations"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("conversation-*.md"):  # Gradio serves its own copy; ours go after an hour
        if time.time() - old.stat().st_mtime > 3600:
            old.unlink(missing_ok=True)
    fd, name = tempfile.mkstemp(prefix="conversation-", suffix=".md", dir=folder)
    with open(fd, "w", encoding="utf-8") as fh:
        fh.write(conversation_markdown(turns))
    return name


def _bullets(messages: list[str]) -> str:
    return "\n".join(f"- {m}" for m in messages)


def build_app(corpus: Path, settings: Settings) -> Any:
    """The chat over ``corpus`` (created if missing; uploads are added to it)."""
    import gradio as gr

    from rag.core import ask, ask_stream, get_engine
    from rag.faces.access import public_message

    corpus = Path(corpus)
    corpus.mkdir(parents=True, exist_ok=True)

    def engine():  # type: ignore[no-untyped-def]
        return get_engine(corpus, settings)

    def title_of(source: str) -> str:
        return engine().title(source)

    def documents_table() -> list[list[Any]]:
        manifest = engine().current_manifest()
        return [[src, e.chunks, e.title[:80]] for src, e in sorted(manifest.documents.items())]

    def corpus_line() -> str:
        """``**news** · 2 documents · 15 chunks``: which corpus this chat answers from."""
        documents = engine().current_manifest().documents
        chunks = sum(e.chunks for e in documents.values())
        return f"**{plain_markdown(corpus.name)}** · {len(documents)} documents · {chunks} chunks"

    def respond(  # type: ignore[no-untyped-def]
        message: str,
        chat: list[dict[str, str]],
        history: list[Any],
        mode: str,
        top_k: int,
        length: int,
        answerer: str,
        only: list[str] | None,
        kept: dict[str, str],
        turns: list[dict[str, Any]],
    ):
        """Stream one turn. The box is cleared once, at once, so text typed meanwhile is kept."""
        chat = [*(chat or []), {"role": "user", "content": plain_markdown(message)}]
        skip = gr.skip()
        yield chat, history, "", skip, skip, skip
        try:
            stream = ask_stream(
                message,
                corpus=corpus,
                mode=cast(Mode, mode),
                top_k=int(top_k),
                history=history,
                settings=settings,
                max_sentences=int(length),
                answerer=cast(AnswererName, answerer),
                sources=only or None,
            )
            chat.append({"role": "assistant", "content": ""})
            written = ""
            answer = None
            for item in stream:
                if isinstance(item, str):
                    written += item
                    chat[-1] = {"role": "assistant", "content": plain_markdown(written)}
                    yield chat, history, skip, skip, skip, skip
                    time.sleep(STREAM_DELAY_S if answerer == "extractive" else 0)
                else:
                    answer = item
        except RagError as err:
            chat[-1:] = [{"role": "assistant", "content": plain_markdown(f"Error: {public_message(err, corpus)}")}]
            yield chat, history, skip, "", skip, skip
            return
        assert answer is not None
        history = [*history, [message, answer.text]]  # the answer may name who "she" is next
        chat[-1] = {"role": "assistant", "content": reply_markdown(answer)}
        panel = render_sources(answer, engine().documents.text, title_of)
        # each answer keeps its own sources: selecting an earlier reply shows them again
        kept = {**(kept or {}), str(len(chat) - 1): panel}
        turns = [*(turns or []), turn_record(message, answer)]
        yield chat, history, skip, panel, kept, turns

    def upload(files: list[Any] | None, replace: bool = False):  # type: ignore[no-untyped-def]
        """Copy uploads into ``corpus/uploads`` and index them (``rag.library``); with ``replace``,
        a document of the same name is replaced (the old file comes back if the new one is unusable)."""
        if not files:
            return gr.skip(), f"Choose one or more files first ({TYPES_TEXT}).", gr.skip()
        paths = [Path(f if isinstance(f, str) else f.name) for f in files]
        try:
            results = add_documents(corpus, settings, [(p.name, p) for p in paths], replace)
        finally:
            for p in paths:  # the upload route's own copies: the corpus has what it keeps
                p.unlink(missing_ok=True)
        return documents_table(), _bullets([r.message for r in results]), None

    def remove(source: str | None):  # type: ignore[no-untyped-def]
        if not source:
            return gr.skip(), "Pick a document to remove.", gr.skip()
        try:
            done = remove_document(corpus, settings, source)
        except RagError as err:
            return documents_table(), f"Not removed: {public_message(err, corpus)}", gr.skip()
        table = documents_table()
        return table, done, gr.update(choices=[r[0] for r in table if removable(r[0])], value=None)

    # delete_cache: the upload route's copies (kept in the corpus, or refused) do not pile up
    with gr.Blocks(title="rag · cited answers", delete_cache=(600, 600)) as demo:
        gr.Markdown("## Ask your documents\nAnswers quote the corpus verbatim; open a source to see the exact span.")
        if settings.auth:
            gr.HTML('<a href="/logout" id="logout">Log out</a>')
        history = gr.State([])
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                about = gr.Markdown(corpus_line(), elem_id="corpus")
                # no "share" button: an offline tool shares nothing with any hub
                chatbot = gr.Chatbot(label="Conversation", height=460, elem_id="chat", buttons=["copy", "copy_all"])
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask your documents…", show_label=False, scale=5,
                                     elem_id="question", max_lines=4)  # fmt: skip
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                titles = [e.title for _, e in sorted(engine().current_manifest().documents.items()) if e.title][:3]
                if titles:  # a first question for someone who does not know the corpus yet
                    gr.Examples([[f"What is “{t[:80]}” about?"] for t in titles], inputs=[box], label="Try",
                                elem_id="examples")  # fmt: skip
                with gr.Row():
                    clear = gr.Button("New conversation", size="sm")
                    download = gr.DownloadButton("Download conversation (Markdown)", size="sm", value=None,
                                                 elem_id="download")  # fmt: skip
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(elem_id="sources")
                with gr.Accordion("Settings", open=False):
                    mode = gr.Radio(list(MODES), value=settings.mode, label="Retrieval mode")
                    top_k = gr.Slider(*OPTION_LIMITS["top_k"], value=settings.top_k, step=1, label="Passages (top-k)")
                    length = gr.Slider(*OPTION_LIMITS["max_sentences"], value=settings.max_sentences, step=1,
                                       label="Answer length (sentences)")  # fmt: skip
                    only = gr.Dropdown(
                        choices=[r[0] for r in documents_table()],
                        multiselect=True,
                        label="Ask only these documents",
                        info="empty: the whole corpus",
                        elem_id="only",
                    )
                    answerer = gr.Radio(
                        list(ANSWERERS),
                        value=settings.answerer,
                        label="Answerer",
                        elem_id="answerer",
                        info="extractive quotes sentences; openai/llamacpp write with an LLM, checked sentence by sentence",
                    )
        with gr.Tab("Documents"):
            count = gr.Markdown(corpus_line(), elem_id="document-count")
            docs = gr.Dataframe(headers=["document", "chunks", "title"], value=documents_table, interactive=False,
                                elem_id="documents", show_search="search")  # fmt: skip
            files = gr.File(label=f"Add documents ({TYPES_TEXT})", file_count="multiple", elem_id="upload")
            replace = gr.Checkbox(False, label="Replace documents that have the same name", elem_id="replace")
            add = gr.Button("Add to corpus", elem_id="add")
            status = gr.Markdown(elem_id="status")
            with gr.Row():
                victim = gr.Dropdown(choices=[r[0] for r in documents_table() if removable(r[0])], value=None,
                                     label="Remove a document",
                                     info="uploads only: the corpus's own files stay on disk")  # fmt: skip
                drop = gr.Button("Remove", variant="stop")

        kept = gr.State({})  # message index of each reply -> its sources panel
        turns = gr.State([])  # each question with its answer and citations, for the download
        saved = gr.BrowserState({}, storage_key="rag-conversation")  # this browser's conversation
        inputs = [box, chatbot, history, mode, top_k, length, answerer, only, kept, turns]
        outputs = [chatbot, history, box, sources, kept, turns]

        def save(chat, history, kept, turns):  # type: ignore[no-untyped-def]
            """What survives a reload, and the download; after each turn, outside the chat API."""
            download = conversation_file(turns) if turns else None
            return {"chat": chat, "history": history, "kept": kept, "turns": turns}, download

        remembered = [chatbot, history, kept, turns]
        # A question sent while the last answer is still finishing waits its turn (Gradio's
        # default drops it, and the text stayed in the box unanswered).
        box.submit(respond, inputs, outputs, api_name="chat", trigger_mode="always_last").then(
            save, remembered, [saved, download], api_visibility="private"
        )
        send.click(respond, inputs, outputs, api_visibility="private", trigger_mode="always_last").then(
            save, remembered, [saved, download], api_visibility="private"
        )
        clear.click(
            lambda: ([], [], "", {}, [], {}, None), None, [chatbot, history, sources, kept, turns, saved, download],
            api_visibility="private",
        )  # fmt: skip
        # The chat's own trash icon clears the history too: the next question stands alone again.
        chatbot.clear(lambda: ([], "", {}, [], {}, None), None, [history, sources, kept, turns, saved, download],
                      api_visibility="private")  # fmt: skip

        def restore(saved: dict[str, Any]):  # type: ignore[no-untyped-def]
            if not saved or not saved.get("chat"):
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            kept = saved.get("kept") or {}
            last = kept[max(kept, key=int)] if kept else ""
            turns = saved.get("turns") or []
            download = conversation_file(turns) if turns else None
            return saved["chat"], saved.get("history") or [], kept, last, turns, download

        demo.load(restore, [saved], [chatbot, history, kept, sources, turns, download], api_visibility="private")

        def show_sources(kept: dict[str, str], evt):  # type: ignore[no-untyped-def]
            index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return kept.get(str(index), gr.skip()) if kept else gr.skip()

        # Gradio finds the event argument by its annotation, which must be the class itself
        # (this module's annotations are strings).
        show_sources.__annotations__["evt"] = gr.SelectData

        chatbot.select(show_sources, [kept], [sources], api_visibility="private")

        # After a reload (or another client's upload) the list and the remove choice show the index now.
        def refreshed():  # type: ignore[no-untyped-def]
            names = [r[0] for r in documents_table()]
            uploads = [n for n in names if removable(n)]
            line = corpus_line()
            return documents_table(), gr.update(choices=uploads, value=None), gr.update(choices=names), line, line

        listing = [docs, victim, only, count, about]
        demo.load(refreshed, None, listing, api_visibility="private")
        add.click(upload, [files, replace], [docs, status, files], api_name="upload").then(
            refreshed, None, listing, api_visibility="private"
        )
        drop.click(remove, [victim], [docs, status, victim], api_visibility="private").then(
            refreshed, None, listing, api_visibility="private"
        )

        def answer_api(question: str, mode: str = settings.mode, top_k: int = settings.top_k) -> dict[str, Any]:
            try:
                a = ask(question, corpus=corpus, mode=mode, top_k=int(top_k), settings=settings)  # type: ignore[arg-type]
            except (RagError, ValueError, TypeError) as err:  # a bad question or option reaches the client
                raise gr.Error(public_message(err, corpus), print_exception=False) from err
            return a.to_dict()

        gr.api(answer_api, api_name="ask")
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def login(settings: Settings) -> tuple[str, str] | None:
    """The chat's login from ``RAG_AUTH=user:password`` (None when unset or empty)."""
    from rag.faces.access import parse_login

    return parse_login(settings.auth)


def launch(corpus: Path, settings: Settings, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth: tuple[str, str] | None = None, unprotected: bool = False) -> None:  # fmt: skip
    """Index if needed, then serve the chat (blocking).

    With ``auth`` or ``settings.auth`` (``RAG_AUTH=user:password``) the page and its API ask for a
    login; the value is checked before the (possibly long) indexing, and an error never repeats it.
    Every route sits behind ``rag.faces.access.Guard`` (Host allow-list, no cross-site writes, byte
    limits); a chat beyond loopback (or shared) with no login is refused unless ``unprotected``.
    """
    from starlette.middleware import Middleware

    from rag.core import index_before_serving, warm_up
    from rag.faces.access import Guard, rules_for

    auth = auth or login(settings)
    open_host = "0.0.0.0" if share else host  # a share link reaches the chat from anywhere
    rules = rules_for(settings, open_host, api=False, chat=True, api_key=settings.api_key or None,
                      unprotected=unprotected or bool(auth), upload_limit=MAX_UPLOAD_BYTES + 1_000_000,
                      json_limit=MAX_UPLOAD_BYTES)  # fmt: skip
    print(f"index: {index_before_serving(corpus, settings)}")
    warm_up(corpus, settings)  # the first question answers as fast as the next
    app = build_app(corpus, settings)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=auth,
        css=CSS,
        head=CITATION_LINKS_JS,
        footer_links=["api"],
        max_file_size=MAX_UPLOAD_BYTES,  # refused by the upload route itself, before it is stored
        app_kwargs={"middleware": [Middleware(SecurityHeaders), Middleware(Guard, rules=rules)]},
    )
