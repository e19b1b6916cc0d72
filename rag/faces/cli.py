"""The ``rag`` command: index a corpus, ask it questions, evaluate, chat."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from rag.errors import RagError
from rag.faces.options import call_options, click_options
from rag.settings import ANSWERERS, MODES, Mode

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn any failure into one line on stderr and exit code 1 (``RAG_DEBUG=1`` shows tracebacks)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # the reader went away (`rag ask … | head -3`): nothing to say
            _quiet_stdout()
            sys.exit(141)  # as tools killed by SIGPIPE
        except RagError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except Exception as err:
            if os.environ.get("RAG_DEBUG"):
                raise
            first = (str(err).splitlines() or [""])[0]
            click.echo(f"error: {type(err).__name__}: {first}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail on a closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _settings(**overrides: Any):  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    from rag.settings import get_settings

    try:
        return get_settings(**overrides)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise click.UsageError(f"invalid setting {where}: {first.get('msg')}") from None


def store_options(func: F) -> F:
    """``--index-dir`` and ``--chroma-url``: where the index lives, for every command that uses one."""
    func = click.option(
        "--chroma-url", metavar="URL", help="Use the Chroma server at URL instead of the embedded store."
    )(func)
    return click.option(
        "--index-dir",
        type=click.Path(path_type=Path),
        help="Where the index lives (default: index/ in a project folder, else the user data folder).",
    )(func)


@click.group()
@click.version_option(package_name="rag")
def cli() -> None:
    """Offline question answering over your documents, with span-exact citations.

    \b
    Examples:
      rag index corpus/
      rag ask "Who is the Chinese Embassy spokesman?" --corpus corpus/
      rag ask "What did the US supply to Ukraine?" --mode bm25 --json
    """


@cli.command("index")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@store_options
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary line (no bar, no skipped files).")
@click.option("--verbose", "-v", is_flag=True, help="Also print a line per added, updated and removed document.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (every list in full).")
@click.option("--rehash", is_flag=True, help="Read and hash every file, even those whose size and times match.")
@click.option("--rebuild", is_flag=True, help="Move the index folder aside (kept, not deleted) and build a new one.")
@friendly_errors
def index_cmd(
    path: Path | None,
    index_dir: Path | None,
    chroma_url: str | None,
    quiet: bool,
    verbose: bool,
    as_json: bool,
    rehash: bool,
    rebuild: bool,
) -> None:
    """Index PATH (a folder or a .jsonl file; default: corpus/) incrementally.

    On a terminal a progress bar shows documents/s, chunks/s and the time left; then one summary
    line, and each skipped file with its reason.

    \b
    Examples:
      rag index                 # the default corpus/
      rag index ~/notes         # a folder of .txt/.md/.html/.pdf/.docx
      rag index docs.jsonl      # one {"id", "title", "text"} per line
      rag index --verbose       # also a line per added, updated or removed document
      rag index --json > report.json
      rag index --chroma-url http://127.0.0.1:8000   # into a Chroma server
      rag index --rehash        # also catch edits that kept size and modification time
      rag index --rebuild       # after "the index … is damaged": start over, keeping the old folder
    """
    from rag.core import build_index, rebuild_index
    from rag.types import printable

    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    show = not quiet and not as_json
    if rebuild:
        moved, report = rebuild_index(path, settings=settings, progress=show)
        if moved is not None:
            click.echo(f"moved the old index to {moved}", err=True)
    else:
        report = build_index(path, settings=settings, progress=show, rehash=rehash)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    if verbose and not quiet:
        for label, items in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
            for source in items:
                click.echo(f"{label}: {printable(source)}")
    if not quiet:
        for skipped in report.skipped:
            click.echo(str(skipped), err=True)
    click.echo(report.summary())


@cli.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@store_options
@click.option("--repair", is_flag=True, help="Re-index from the documents (reusing good vectors), then check again.")
@friendly_errors
def check_cmd(path: Path | None, index_dir: Path | None, chroma_url: str | None, repair: bool) -> None:
    """Check that the index of PATH agrees with itself and its documents; exit 1 on any problem.

    \b
    Examples:
      rag check                 # one line per problem, like git fsck
      rag check --repair        # fix what the documents can fix, then check again
    """
    from rag.check import check_index, repair_index

    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    report = check_index(path, settings)
    for problem in report.problems:
        click.echo(problem)
    if repair and report.problems:
        report = repair_index(path, settings)
        for problem in report.problems:
            click.echo(f"still: {problem}")
        if not report.problems:
            click.echo("repaired")
    if report.problems:
        raise SystemExit(1)
    click.echo(f"index ok: {report.documents} documents, {report.chunks} chunks")


@cli.command("ask")
@click.argument("question")
@click.option("--corpus", type=click.Path(path_type=Path), help="Corpus folder or .jsonl (default: corpus/).")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click_options
@friendly_errors
def ask_cmd(
    question: str, corpus: Path | None, index_dir: Path | None, chroma_url: str | None, as_json: bool, **options: Any
) -> None:
    """Answer QUESTION from the corpus, quoting the passages it rests on.

    \b
    Examples:
      rag ask "Who is the Chinese Embassy spokesman quoted about Ukraine?"
      rag ask "When did Biden and Xi meet?" --mode dense --top-k 3 --json
      RAG_LLM_MODEL=llama3.2 rag ask "Who is Qin Gang?" --answerer openai --strict
      rag ask "Who is quoted?" --source 000_3090de67739d6d38.txt
      rag ask "How long was the meeting with him?" --history "Who is China's ambassador to the US?"
    """
    from rag.language.nlp import preload

    preload()  # spaCy loads while the index and the model do
    from rag.core import ask

    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    answer = ask(question, corpus=corpus, settings=settings, **call_options(options))
    if answer.notice:
        click.echo(f"note: {answer.notice}", err=True)
    if as_json:
        from rag.core import get_engine
        from rag.faces.present import answer_json

        titles = get_engine(corpus, settings).title
        click.echo(json.dumps(answer_json(answer, titles), ensure_ascii=False, indent=2))
        return
    from rag.faces.present import answer_text

    click.echo(answer_text(answer))


@cli.command("eval")
@click.option("--corpus", type=click.Path(path_type=Path), help="Corpus folder or .jsonl (default: corpus/).")
@click.option("--dataset", type=click.Path(path_type=Path), required=True, help="JSONL dataset of questions.")
@click.option("--modes", default=",".join(MODES), show_default=True, help="Comma-separated retrieval modes.")
@click.option("--limit", type=int, help="Evaluate a random sample of this many questions.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --limit sample.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("eval/results/latest"), show_default=True)
@store_options
@click.option("--answerer", type=click.Choice(ANSWERERS), help="Who writes the answers (default: extractive).")
@click.option("--strict", is_flag=True, help="With an LLM: drop sentences their citation does not support.")
@friendly_errors
def eval_cmd(
    corpus: Path | None,
    dataset: Path,
    modes: str,
    limit: int | None,
    seed: int,
    out: Path,
    index_dir: Path | None,
    chroma_url: str | None,
    answerer: str | None,
    strict: bool,
) -> None:
    """Measure retrieval, answers, citations and abstention on a dataset; write a report to OUT.

    \b
    Examples:
      rag eval --dataset eval/datasets/seed_qa.jsonl
      rag eval --corpus squad/corpus.jsonl --dataset squad/questions.jsonl --limit 500 --modes hybrid
    """
    from rag.errors import InputError
    from rag.evaluation.runner import render_markdown, run_eval

    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in MODES]
    if unknown or not chosen:
        raise InputError(f"unknown mode(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(MODES)}")
    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1")
    settings = _settings(index_dir=index_dir, chroma_url=chroma_url, answerer=answerer, strict=strict or None)
    report = run_eval(
        corpus or settings.corpus,
        dataset,
        cast("list[Mode]", chosen),
        limit=limit,
        seed=seed,
        out=out,
        settings=settings,
    )
    click.echo(render_markdown(report))
    click.echo(f"report written to {out}/report.json, report.md, metrics.png, latency.png")


@cli.command("serve")
@click.option("--corpus", type=click.Path(path_type=Path), help="Corpus folder or .jsonl (default: corpus/).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--chat", "with_chat", is_flag=True, help="Also serve the browser chat at / on the same port.")
@click.option("--unprotected", is_flag=True, help="Serve beyond loopback with no key or login (refused otherwise).")
@click.option(
    "--allow-writes", is_flag=True, help="Allow uploads and removals over /v1/documents without a key or login."
)
@store_options
@friendly_errors
def serve_cmd(
    corpus: Path | None,
    host: str,
    port: int,
    with_chat: bool,
    unprotected: bool,
    allow_writes: bool,
    index_dir: Path | None,
    chroma_url: str | None,
) -> None:
    """Serve the HTTP API: /v1/ask, OpenAI /v1/chat/completions, /v1/documents (docs at /docs).

    Set RAG_API_KEY to require 'Authorization: Bearer <key>' (and RAG_AUTH=user:password for the
    chat's login with --chat: one login covers every route, or the server does not start).
    Beyond 127.0.0.1 a key or login is required unless --unprotected. Uploads and removals over
    /v1/documents need the key or login, or --allow-writes.

    \b
    Examples:
      rag serve
      rag serve --corpus ~/notes --port 8080 --chat
      rag serve --allow-writes   # curl -F files=@notes.txt …/v1/documents, no key
      RAG_API_KEY=s3cret rag serve --host 0.0.0.0
      RAG_API_KEY=s3cret RAG_AUTH=alice:pw rag serve --chat --host 0.0.0.0
    """
    from rag.faces.serve import serve_http

    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    corpus = corpus or settings.corpus
    serve_http(corpus, settings, host, port, lambda line: click.echo(line, err=True), api_key=settings.api_key or None,
               chat=with_chat, unprotected=unprotected, allow_writes=allow_writes)  # fmt: skip


@cli.command("mcp")
@click.option("--corpus", type=click.Path(path_type=Path), help="Corpus folder or .jsonl (default: corpus/).")
@store_options
@friendly_errors
def mcp_cmd(corpus: Path | None, index_dir: Path | None, chroma_url: str | None) -> None:
    """Serve the corpus to AI assistants over the Model Context Protocol (stdio).

    Tools: ask (answer with citations), search (passages with spans), read (a span in context).

    \b
    Examples:
      rag mcp --corpus ~/notes
      (in an assistant's MCP config: command "rag", args ["mcp", "--corpus", "/path/to/docs"])
    """
    from rag.faces.serve import serve_mcp

    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    serve_mcp(corpus or settings.corpus, settings)


@cli.command("chat")
@click.option("--corpus", type=click.Path(path_type=Path), help="Corpus folder (default: corpus/).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=int, default=7860, show_default=True)
@click.option("--share", is_flag=True, help="Also open a public share link (off by default).")
@click.option("--unprotected", is_flag=True, help="Serve beyond loopback with no login (refused otherwise).")
@store_options
@friendly_errors
def chat_cmd(
    corpus: Path | None,
    host: str,
    port: int,
    share: bool,
    unprotected: bool,
    index_dir: Path | None,
    chroma_url: str | None,
) -> None:
    """Serve the chat in the browser (http://127.0.0.1:7860 by default).

    Set RAG_AUTH=user:password to require a login for the page and its API.

    \b
    Examples:
      rag chat
      rag chat --corpus ~/notes --port 8080
      RAG_AUTH=alice:s3cret rag chat --host 0.0.0.0
    """
    from rag.faces.chat import launch

    settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
    launch(corpus or settings.corpus, settings, host=host, port=port, share=share, unprotected=unprotected)


def main() -> None:
    """The ``rag`` command. After ``rag ask`` has printed its answer, the process ends at once.

    Tearing down an interpreter that loaded Chroma, spaCy and onnxruntime takes 0.3-0.5 s, a
    fifth of a cold question. Everything an ask writes (an index update on first use) is on
    disk before it returns, so skipping the teardown loses nothing a kill would not.
    """
    code = 0
    try:
        cli(standalone_mode=False)
    except click.exceptions.Exit as done:
        code = done.exit_code
    except click.ClickException as err:
        err.show()
        code = err.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        code = 1
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    if sys.argv[1:2] != ["ask"]:
        sys.exit(code)
    if "rag.index.chroma" in sys.modules:  # os._exit skips atexit: the copy of a read-only index goes now
        sys.modules["rag.index.chroma"].remove_snapshots()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe (``rag ask … | head -1``)
        pass
    os._exit(code)


if __name__ == "__main__":
    main()
