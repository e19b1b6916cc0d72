"""The Gradio chat: conversation with streamed answers, checkable sources, and a document panel.

Built on the same ``ask`` as the CLI and the API. ``build_app`` returns the Blocks; ``app.py``
and ``rag chat`` launch it on 127.0.0.1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.faces.access import SecurityHeaders, login
from rag.faces.options import call_options, chat_controls
from rag.faces.present import (
    CITATION_LINKS_JS,
    CSS,
    answer_json,
    conversation_markdown,
    plain_markdown,
    render_sources,
    reply_markdown,
    turn_record,
)
from rag.library import MAX_UPLOAD_BYTES, TYPES_TEXT, add_documents, removable, remove_document
from rag.settings import Settings

STREAM_DELAY_S = 0.01


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


class ChatHandlers:
    """What the chat's events run: one turn of the conversation, uploads and removals, and restoring.

    Light to make; the engine (model, index) is the core's, opened on first use.
    """

    def __init__(self, corpus: Path, settings: Settings) -> None:
        self.corpus, self.settings = corpus, settings

    def engine(self) -> Any:
        from rag.core import get_engine

        return get_engine(self.corpus, self.settings)

    def title_of(self, source: str) -> str:
        return str(self.engine().title(source))

    def documents_table(self) -> list[list[Any]]:
        manifest = self.engine().current_manifest()
        return [[src, e.chunks, e.title[:80]] for src, e in sorted(manifest.documents.items())]

    def corpus_line(self) -> str:
        """``**news** · 2 documents · 15 chunks``: which corpus this chat answers from."""
        documents = self.engine().current_manifest().documents
        chunks = sum(e.chunks for e in documents.values())
        return f"**{plain_markdown(self.corpus.name)}** · {len(documents)} documents · {chunks} chunks"

    def respond(  # type: ignore[no-untyped-def]
        self,
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
        import gradio as gr

        from rag.core import ask_stream
        from rag.faces.access import public_message

        chat = [*(chat or []), {"role": "user", "content": plain_markdown(message)}]
        skip = gr.skip()
        yield chat, history, "", skip, skip, skip
        options = {
            "mode": mode,
            "top_k": int(top_k),
            "max_sentences": int(length),
            "answerer": answerer,
            "sources": only,
        }
        try:
            stream = ask_stream(message, corpus=self.corpus, settings=self.settings, history=history,
                                **call_options(options))  # fmt: skip
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
            chat[-1:] = [{"role": "assistant", "content": plain_markdown(f"Error: {public_message(err, self.corpus)}")}]
            yield chat, history, skip, "", skip, skip
            return
        assert answer is not None
        history = [*history, [message, answer.text]]  # the answer may name who "she" is next
        chat[-1] = {"role": "assistant", "content": reply_markdown(answer)}
        panel = render_sources(answer, self.engine().documents.text, self.title_of)
        # each answer keeps its own sources: selecting an earlier reply shows them again
        kept = {**(kept or {}), str(len(chat) - 1): panel}
        turns = [*(turns or []), turn_record(message, answer, self.title_of)]
        yield chat, history, skip, panel, kept, turns

    def upload(self, files: list[Any] | None, replace: bool = False):  # type: ignore[no-untyped-def]
        """Copy uploads into ``corpus/uploads`` and index them (``rag.library``); with ``replace``,
        a document of the same name is replaced (the old file comes back if the new one is unusable)."""
        import gradio as gr

        if not files:
            return gr.skip(), f"Choose one or more files first ({TYPES_TEXT}).", gr.skip()
        paths = [Path(f if isinstance(f, str) else f.name) for f in files]
        try:
            results = add_documents(self.corpus, self.settings, [(p.name, p) for p in paths], replace)
        finally:
            for p in paths:  # the upload route's own copies: the corpus has what it keeps
                p.unlink(missing_ok=True)
        return self.documents_table(), _bullets([r.message for r in results]), None

    def remove(self, source: str | None):  # type: ignore[no-untyped-def]
        import gradio as gr

        from rag.faces.access import public_message

        if not source:
            return gr.skip(), "Pick a document to remove.", gr.skip()
        try:
            done = remove_document(self.corpus, self.settings, source)
        except RagError as err:
            return self.documents_table(), f"Not removed: {public_message(err, self.corpus)}", gr.skip()
        table = self.documents_table()
        return table, done, gr.update(choices=[r[0] for r in table if removable(r[0])], value=None)

    @staticmethod
    def save(chat, history, kept, turns):  # type: ignore[no-untyped-def]
        """What survives a reload, and the download; after each turn, outside the chat API."""
        download = conversation_file(turns) if turns else None
        return {"chat": chat, "history": history, "kept": kept, "turns": turns}, download

    @staticmethod
    def restore(saved: dict[str, Any]):  # type: ignore[no-untyped-def]
        import gradio as gr

        if not saved or not saved.get("chat"):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        kept = saved.get("kept") or {}
        last = kept[max(kept, key=int)] if kept else ""
        turns = saved.get("turns") or []
        download = conversation_file(turns) if turns else None
        return saved["chat"], saved.get("history") or [], kept, last, turns, download

    def refreshed(self):  # type: ignore[no-untyped-def]
        """After a reload (or another client's upload) the list and the remove choice show the index now."""
        import gradio as gr

        table = self.documents_table()
        names = [r[0] for r in table]
        uploads = [n for n in names if removable(n)]
        line = self.corpus_line()
        return table, gr.update(choices=uploads, value=None), gr.update(choices=names), line, line

    def answer_api(self, question: str, mode: str | None = None, top_k: int | None = None) -> dict[str, Any]:
        """The chat's ``/ask`` API: one question, its answer as every face's JSON."""
        import gradio as gr

        from rag.core import ask
        from rag.faces.access import public_message

        try:
            a = ask(
                question, corpus=self.corpus, settings=self.settings, **call_options({"mode": mode, "top_k": top_k})
            )
        except (RagError, ValueError, TypeError) as err:  # a bad question or option reaches the client
            raise gr.Error(public_message(err, self.corpus), print_exception=False) from err
        return answer_json(a, self.title_of)


def _show_sources(kept: dict[str, str], evt):  # type: ignore[no-untyped-def]
    import gradio as gr

    index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    return kept.get(str(index), gr.skip()) if kept else gr.skip()


def build_app(corpus: Path, settings: Settings) -> Any:
    """The chat over ``corpus`` (created if missing; uploads are added to it)."""
    import gradio as gr

    corpus = Path(corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    h = ChatHandlers(corpus, settings)
    # delete_cache: the upload route's copies (kept in the corpus, or refused) do not pile up
    with gr.Blocks(title="rag · cited answers", delete_cache=(600, 600)) as demo:
        gr.Markdown("## Ask your documents\nAnswers quote the corpus verbatim; open a source to see the exact span.")
        if settings.auth:
            gr.HTML('<a href="/logout" id="logout">Log out</a>')
        with gr.Tab("Chat"), gr.Row():
            ui = _chat_tab(h, settings)
        with gr.Tab("Documents"):
            ui.update(_documents_tab(h))
        _wire(demo, h, ui)
        gr.api(h.answer_api, api_name="ask")
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def _chat_tab(h: ChatHandlers, settings: Settings) -> dict[str, Any]:
    """The conversation, the question box and the sources panel, with the ask options' controls."""
    import gradio as gr

    with gr.Column(scale=3):
        about = gr.Markdown(h.corpus_line(), elem_id="corpus")
        # no "share" button: an offline tool shares nothing with any hub
        chatbot = gr.Chatbot(label="Conversation", height=460, elem_id="chat", buttons=["copy", "copy_all"])
        with gr.Row():
            box = gr.Textbox(placeholder="Ask your documents…", show_label=False, scale=5,
                             elem_id="question", max_lines=4)  # fmt: skip
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        titles = [e.title for _, e in sorted(h.engine().current_manifest().documents.items()) if e.title][:3]
        if titles:  # a first question for someone who does not know the corpus yet
            gr.Examples([[f"What is “{t[:80]}” about?"] for t in titles], inputs=[box], label="Try",
                        elem_id="examples")  # fmt: skip
        with gr.Row():
            clear = gr.Button("New conversation", size="sm")
            download = gr.DownloadButton("Download conversation (Markdown)", size="sm", value=None,
                                         elem_id="download")  # fmt: skip
    with gr.Column(scale=2):
        gr.Markdown("### Sources")
        panel = gr.HTML(elem_id="sources")
        with gr.Accordion("Settings", open=False):
            controls = chat_controls(settings, [r[0] for r in h.documents_table()])
    # ``controls`` are named by their options: "sources" is the documents to ask, "panel" the sources shown
    return {"about": about, "chatbot": chatbot, "box": box, "send": send, "clear": clear, "download": download,
            "panel": panel, **controls}  # fmt: skip


def _documents_tab(h: ChatHandlers) -> dict[str, Any]:
    """The corpus's documents, adding files to it and removing uploads."""
    import gradio as gr

    count = gr.Markdown(h.corpus_line(), elem_id="document-count")
    docs = gr.Dataframe(headers=["document", "chunks", "title"], value=h.documents_table, interactive=False,
                        elem_id="documents", show_search="search")  # fmt: skip
    files = gr.File(label=f"Add documents ({TYPES_TEXT})", file_count="multiple", elem_id="upload")
    replace = gr.Checkbox(False, label="Replace documents that have the same name", elem_id="replace")
    add = gr.Button("Add to corpus", elem_id="add")
    status = gr.Markdown(elem_id="status")
    with gr.Row():
        victim = gr.Dropdown(choices=[r[0] for r in h.documents_table() if removable(r[0])], value=None,
                             label="Remove a document",
                             info="uploads only: the corpus's own files stay on disk")  # fmt: skip
        drop = gr.Button("Remove", variant="stop")
    return {"count": count, "docs": docs, "files": files, "replace": replace, "add": add, "status": status,
            "victim": victim, "drop": drop}  # fmt: skip


def _wire(demo: Any, h: ChatHandlers, ui: dict[str, Any]) -> None:
    """Every event of the page: a turn, saving and restoring the conversation, the documents tab."""
    import gradio as gr

    history = gr.State([])
    kept = gr.State({})  # message index of each reply -> its sources panel
    turns = gr.State([])  # each question with its answer and citations, for the download
    saved = gr.BrowserState({}, storage_key="rag-conversation")  # this browser's conversation
    chatbot, sources, download = ui["chatbot"], ui["panel"], ui["download"]
    options = [ui["mode"], ui["top_k"], ui["max_sentences"], ui["answerer"], ui["sources"]]
    inputs = [ui["box"], chatbot, history, *options, kept, turns]
    outputs = [chatbot, history, ui["box"], sources, kept, turns]
    remembered = [chatbot, history, kept, turns]
    # A question sent while the last answer is still finishing waits its turn (Gradio's
    # default drops it, and the text stayed in the box unanswered).
    ui["box"].submit(h.respond, inputs, outputs, api_name="chat", trigger_mode="always_last").then(
        h.save, remembered, [saved, download], api_visibility="private"
    )
    ui["send"].click(h.respond, inputs, outputs, api_visibility="private", trigger_mode="always_last").then(
        h.save, remembered, [saved, download], api_visibility="private"
    )
    ui["clear"].click(
        lambda: ([], [], "", {}, [], {}, None), None, [chatbot, history, sources, kept, turns, saved, download],
        api_visibility="private",
    )  # fmt: skip
    # The chat's own trash icon clears the history too: the next question stands alone again.
    chatbot.clear(lambda: ([], "", {}, [], {}, None), None, [history, sources, kept, turns, saved, download],
                  api_visibility="private")  # fmt: skip
    demo.load(h.restore, [saved], [chatbot, history, kept, sources, turns, download], api_visibility="private")
    # Gradio finds the event argument by its annotation, which must be the class itself
    # (this module's annotations are strings).
    _show_sources.__annotations__["evt"] = gr.SelectData
    chatbot.select(_show_sources, [kept], [sources], api_visibility="private")
    listing = [ui["docs"], ui["victim"], ui["sources"], ui["count"], ui["about"]]
    demo.load(h.refreshed, None, listing, api_visibility="private")
    ui["add"].click(h.upload, [ui["files"], ui["replace"]], [ui["docs"], ui["status"], ui["files"]],
                    api_name="upload").then(h.refreshed, None, listing, api_visibility="private")  # fmt: skip
    ui["drop"].click(h.remove, [ui["victim"]], [ui["docs"], ui["status"], ui["victim"]], api_visibility="private").then(
        h.refreshed, None, listing, api_visibility="private"
    )


def launch(corpus: Path, settings: Settings, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth: tuple[str, str] | None = None, unprotected: bool = False) -> None:  # fmt: skip
    """Index if needed, then serve the chat (blocking).

    With ``auth`` or ``settings.auth`` (``RAG_AUTH=user:password``) the page and its API ask for a
    login; the value is checked before the (possibly long) indexing, and an error never repeats it.
    Every route sits behind ``rag.faces.access.Guard`` (Host allow-list, no cross-site writes, byte
    limits); a chat beyond loopback (or shared) with no login is refused unless ``unprotected``.
    """
    from starlette.middleware import Middleware

    from rag.core import ready_to_serve
    from rag.faces.access import Guard, rules_for

    auth = auth or login(settings)
    open_host = "0.0.0.0" if share else host  # a share link reaches the chat from anywhere
    rules = rules_for(settings, open_host, api=False, chat=True, api_key=settings.api_key or None,
                      unprotected=unprotected or bool(auth), upload_limit=MAX_UPLOAD_BYTES + 1_000_000,
                      json_limit=MAX_UPLOAD_BYTES)  # fmt: skip
    print(f"index: {ready_to_serve(corpus, settings)}")  # the first question answers as fast as the next
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
