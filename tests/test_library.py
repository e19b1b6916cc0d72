"""``rag.library``: the corpus as users add to and remove from it, with real files, a real index,
parallel uploads, a writer lock held by another indexing run, and read-only folders."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import read_only, serving

from rag import ask, build_index
from rag.errors import InputError
from rag.index.chroma import collection_name
from rag.index.store import folder_lock
from rag.library import add_documents, remove_document

pytestmark = pytest.mark.integration
ARTICLE = "001_a1832f6365ab849e.txt"


def test_only_documents_the_index_holds_can_be_removed(private_corpus: tuple[Path, Any]) -> None:
    corpus, settings = private_corpus
    (corpus / ".git").mkdir()
    (corpus / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    (corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a document")
    with serving(corpus, settings, allow_writes=True) as url:
        for source in (".git/config", "photo.jpg", "nothing.txt", "../corpus/photo.jpg"):
            r = httpx.delete(f"{url}/v1/documents/{source}", timeout=60)
            assert r.status_code == 404, (source, r.text)
    assert (corpus / ".git" / "config").is_file() and (corpus / "photo.jpg").is_file()
    with pytest.raises(InputError, match="not a document of this corpus"):
        remove_document(corpus, settings, "photo.jpg")


def test_remove_while_another_run_indexes_keeps_the_file(private_corpus: tuple[Path, Any]) -> None:
    corpus, settings = private_corpus
    held = settings.index_dir / collection_name(corpus.resolve(), settings)
    upload = corpus / "uploads" / "memo.txt"
    with serving(corpus, settings, allow_writes=True) as url:
        files = {"files": ("memo.txt", b"The memo names Ilse Varga.\n", "text/plain")}
        assert httpx.post(f"{url}/v1/documents", files=files, timeout=120).status_code == 200
        with folder_lock(held, str(corpus)):  # another `rag index` holds the writer lock
            busy = httpx.delete(f"{url}/v1/documents/uploads/memo.txt", timeout=60)
            assert busy.status_code == 503 and "index busy" in busy.json()["error"]["message"]
            assert upload.is_file()  # rolled back: the retry can still remove it
            assert not [p for p in upload.parent.iterdir() if p.name.startswith(".")]
        done = httpx.delete(f"{url}/v1/documents/uploads/memo.txt", timeout=60)
        assert done.status_code == 200, done.text
    assert not upload.exists()


def test_the_api_deletes_only_uploads_and_writes_only_when_allowed(private_corpus: tuple[Path, Any]) -> None:
    """`DELETE /v1/documents/<a file of the user's own>` removed the original from disk, with no key."""
    corpus, settings = private_corpus
    files = {"files": ("memo.txt", b"The memo names Ilse Varga.\n", "text/plain")}
    with serving(corpus, settings) as url:  # the default: no key, no opt-in
        off = httpx.post(f"{url}/v1/documents", files=files, timeout=60)
        assert off.status_code == 403 and "uploads and removals are off" in off.json()["error"]["message"]
        assert httpx.delete(f"{url}/v1/documents/{ARTICLE}", timeout=60).status_code == 403
        assert httpx.get(f"{url}/v1/documents", timeout=60).status_code == 200  # reading stays open
    with serving(corpus, settings, api_key="k") as url:
        key = {"Authorization": "Bearer k"}
        assert httpx.post(f"{url}/v1/documents", files=files, headers=key, timeout=120).status_code == 200
        own = httpx.delete(f"{url}/v1/documents/{ARTICLE}", headers=key, timeout=60)
        assert own.status_code == 403 and "not an upload" in own.json()["error"]["message"]
        assert httpx.delete(f"{url}/v1/documents/uploads/memo.txt", headers=key, timeout=120).status_code == 200
    assert (corpus / ARTICLE).is_file() and not (corpus / "uploads" / "memo.txt").exists()


@pytest.mark.timeout(300)
def test_parallel_uploads_of_one_name_add_one_and_lose_nothing_silently(private_corpus: tuple[Path, Any]) -> None:
    corpus, settings = private_corpus
    texts = [f"The vault code of the Skerry archive is {1000 + i}.\n" for i in range(8)]
    with serving(corpus, settings, allow_writes=True) as url, ThreadPoolExecutor(8) as pool:

        def upload(text: str) -> dict[str, Any]:
            r = httpx.post(
                f"{url}/v1/documents", files={"files": ("vault.txt", text.encode(), "text/plain")}, timeout=240
            )
            return {"text": text, **r.json()["results"][0]}

        results = list(pool.map(upload, texts))
    added = [r for r in results if r["status"] == "added"]
    assert len(added) == 1, results
    assert all("already exists" in r["message"] for r in results if r["status"] != "added")
    assert (corpus / "uploads" / "vault.txt").read_text(encoding="utf-8") == added[0]["text"]
    code = added[0]["text"].split()[-1].rstrip(".")
    assert code in ask("What is the vault code of the Skerry archive?", corpus=corpus, settings=settings).text


def test_a_read_only_corpus_refuses_changes_in_one_line(private_corpus: tuple[Path, Any]) -> None:
    corpus, settings = private_corpus
    (corpus / "uploads").mkdir()
    (corpus / "uploads" / "old.txt").write_text("An older upload names Tomas Brandt.\n", encoding="utf-8")
    build_index(corpus, settings=settings)
    with read_only(corpus), serving(corpus, settings, allow_writes=True) as url:
        r = httpx.post(
            f"{url}/v1/documents", files={"files": ("new.txt", b"New text here.\n", "text/plain")}, timeout=60
        )
        assert r.status_code == 422
        message = r.json()["results"][0]["message"]
        assert message.startswith("Not added: new.txt: cannot write to the corpus folder (Read-only file system)")
        gone = httpx.delete(f"{url}/v1/documents/uploads/old.txt", timeout=60)
        assert gone.status_code == 403 and "not writable" in gone.json()["error"]["message"]
        assert httpx.post(f"{url}/v1/ask", json={"question": "Who is Qin Gang?"}, timeout=60).status_code == 200
    assert (corpus / ARTICLE).is_file() and (corpus / "uploads" / "old.txt").is_file()
    staged = corpus.parent / "staged.txt"
    staged.write_text("New text here.\n", encoding="utf-8")
    with read_only(corpus):
        (result,) = add_documents(corpus, settings, [("new.txt", staged)], replace=False)
    assert result.status == "refused" and not (corpus / "uploads" / "new.txt").exists()
