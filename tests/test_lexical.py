"""BM25 over chunk texts: ranking, stemming, idf, persistence and its failure modes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.index.lexical import META_FILE, BM25Index, top_indices
from rag.language.text import terms

pytestmark = pytest.mark.unit

IDS = ["c-paris", "c-river", "c-weather", "c-mixed", "c-garden"]
TEXTS = [
    "The quarterly budget meeting was held in Paris with the auditors.",
    "A long report about the river and its meeting with the sea.",
    "The weather was cold at the meeting; the river froze.",
    "Weather, rivers and budgets were all discussed at the meeting.",
    "Tomatoes and roses grow in the community garden next to the meeting hall.",
]
QUERIES = [
    "Paris auditors",
    "river",
    "river river meeting",
    "weather meeting",
    "meetings",
    "budget",
    "zebra",
    "roses garden Paris",
]


def best(index: BM25Index, query_terms: list[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` best chunk ids with their scores, as retrieval picks them."""
    s = index.scores(query_terms)
    return [(index.ids[i], float(s[i])) for i in top_indices(s, k)]


@pytest.fixture
def index() -> BM25Index:
    return BM25Index.build(IDS, TEXTS, "fp-1")


def test_rare_terms_rank_their_document_first(index: BM25Index) -> None:
    top = best(index, terms("Who were the auditors in Paris?"), 3)
    assert top[0][0] == "c-paris"
    assert [cid for cid, _ in top] == ["c-paris"]  # only chunks sharing a term are returned
    top = best(index, terms("tomatoes"), 5)
    assert [cid for cid, _ in top] == ["c-garden"]


def test_scores_are_descending_and_positive(index: BM25Index) -> None:
    top = best(index, terms("weather river meeting"), 5)
    scores = [s for _, s in top]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)
    assert {cid for cid, _ in top[:2]} == {"c-weather", "c-mixed"}  # they share both rare terms


def test_top_respects_k(index: BM25Index) -> None:
    assert len(best(index, terms("meeting"), 2)) == 2
    assert len(best(index, terms("meeting"), 100)) == len(IDS)  # every text mentions a meeting
    assert best(index, terms("meeting"), 0) == []


def test_scores_align_with_ids(index: BM25Index) -> None:
    s = index.scores(terms("garden"))
    assert s.shape == (len(IDS),)
    assert int(np.argmax(s)) == IDS.index("c-garden")
    assert index.position["c-garden"] == IDS.index("c-garden")
    assert index.scores([]).tolist() == [0.0] * len(IDS)


def test_stemming_makes_meetings_find_meeting() -> None:
    index = BM25Index.build(["a", "b"], ["The board meeting ran late.", "Lunch was served outside."], "fp")
    assert [cid for cid, _ in best(index, terms("meetings"), 2)] == ["a"]
    index = BM25Index.build(["a", "b"], ["Three meetings were cancelled.", "Lunch was served."], "fp")
    assert [cid for cid, _ in best(index, terms("meeting"), 2)] == ["a"]


def test_unknown_and_stop_word_queries_give_nothing(index: BM25Index) -> None:
    assert best(index, terms("zebra"), 5) == []
    assert best(index, terms("the and of"), 5) == []
    assert best(index, [], 5) == []


def test_idf_of_rare_term_exceeds_common_term(index: BM25Index) -> None:
    (rare,) = terms("auditors")
    (common,) = terms("meeting")
    (middle,) = terms("river")
    assert index.idf(rare) > index.idf(middle) > index.idf(common) > 0
    # an unseen term counts as the rarest possible
    assert index.idf("zzzunseen") >= index.idf(rare)


def test_save_then_load_gives_identical_scores(index: BM25Index, tmp_path: Path) -> None:
    folder = tmp_path / "bm25"
    index.save(folder)
    loaded = BM25Index.load(folder)
    assert loaded is not None
    assert loaded.fingerprint == "fp-1"
    assert loaded.ids == IDS
    for q in QUERIES:
        qt = terms(q)
        assert np.array_equal(loaded.scores(qt), index.scores(qt)), q
        assert best(loaded, qt, 5) == best(index, qt, 5), q
        for t in qt:
            assert loaded.idf(t) == index.idf(t)


def test_save_replaces_an_existing_index(index: BM25Index, tmp_path: Path) -> None:
    folder = tmp_path / "bm25"
    index.save(folder)
    BM25Index.build(["only"], ["A single garden text."], "fp-2").save(folder)
    loaded = BM25Index.load(folder)
    assert loaded is not None
    assert loaded.fingerprint == "fp-2"
    assert loaded.ids == ["only"]
    assert [cid for cid, _ in best(loaded, terms("garden"), 5)] == ["only"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25"]  # no .tmp or .old left behind


def test_load_missing_folder_returns_none(tmp_path: Path) -> None:
    assert BM25Index.load(tmp_path / "does-not-exist") is None
    (tmp_path / "empty").mkdir()
    assert BM25Index.load(tmp_path / "empty") is None


@pytest.mark.parametrize(
    "damage",
    ["garbage_meta", "meta_without_fingerprint", "missing_vocab", "truncated_arrays", "ids_cut_short", "ids_repeated"],
)
def test_load_corrupted_folder_returns_none(index: BM25Index, tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "bm25"
    index.save(folder)
    assert BM25Index.load(folder) is not None
    if damage == "garbage_meta":
        (folder / META_FILE).write_text("{not json")
    elif damage == "meta_without_fingerprint":
        (folder / META_FILE).write_text(json.dumps({"ids": IDS}))
    elif damage == "ids_cut_short":  # valid JSON, right fingerprint, fewer rows than the matrix
        meta = json.loads((folder / META_FILE).read_text())
        (folder / META_FILE).write_text(json.dumps({**meta, "ids": meta["ids"][:-1]}))
    elif damage == "ids_repeated":
        meta = json.loads((folder / META_FILE).read_text())
        (folder / META_FILE).write_text(json.dumps({**meta, "ids": [meta["ids"][0]] * len(meta["ids"])}))
    elif damage == "missing_vocab":
        for p in folder.glob("vocab*"):
            p.unlink()
    else:
        for p in folder.glob("*.npy"):
            p.write_bytes(p.read_bytes()[:20])
    assert BM25Index.load(folder) is None


def test_load_of_a_file_instead_of_folder_returns_none(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    path.write_text("not a folder")
    assert BM25Index.load(path) is None


def test_empty_index(tmp_path: Path) -> None:
    empty = BM25Index.build([], [], "fp-empty")
    assert empty.ids == []
    assert best(empty, terms("anything at all"), 5) == []
    assert len(empty.scores(terms("anything"))) == 0
    empty.save(tmp_path / "e")
    loaded = BM25Index.load(tmp_path / "e")
    assert loaded is not None
    assert loaded.ids == [] and loaded.fingerprint == "fp-empty"
    assert best(loaded, terms("anything"), 5) == []
    shutil.rmtree(tmp_path / "e")


def test_chunk_without_terms_among_others() -> None:
    index = BM25Index.build(["stop", "real"], ["It is what it is.", "The river bank flooded."], "fp")
    assert [cid for cid, _ in best(index, terms("river"), 5)] == ["real"]
    assert best(index, terms("what is it"), 5) == []


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_index_of_only_stop_words_builds() -> None:
    index = BM25Index.build(["hamlet"], ["To be, or not to be."], "fp")
    assert best(index, terms("be"), 5) == []
