"""Units of structured text: headings, table rows, list items, wrapped paragraphs, code."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from rag.text import sentence_spans as plain_spans
from rag.units import readings, sentence_spans, text_units

MEMO = """# Zephyr Project memo

The Zephyr Project was approved on 3 March 2031 by the board, with the
project director Mara Quillfeather, who set the budget at 4.2 million
euros. Work starts in May.

## Crew

| role | name | hours flown |
|------|------|-------------|
| captain | Ingrid Solvang | 1,240 |

- The envelope is made of a laminated polyester film and holds
  20,000 cubic metres of helium.
- Top speed: 130 kilometres per hour.
Short line
Next line.

```
zephyr-sim --route TOS-BOO
```
"""


def test_memo_units() -> None:
    got = [(u.kind, MEMO[u.start : u.end]) for u in text_units(MEMO)]
    assert got == [
        ("heading", "# Zephyr Project memo"),
        (
            "sentence",
            "The Zephyr Project was approved on 3 March 2031 by the board, with the\n"
            "project director Mara Quillfeather, who set the budget at 4.2 million\neuros.",
        ),
        ("sentence", "Work starts in May."),
        ("heading", "## Crew"),
        ("header", "| role | name | hours flown |"),
        ("row", "| captain | Ingrid Solvang | 1,240 |"),
        (
            "sentence",
            "The envelope is made of a laminated polyester film and holds\n  20,000 cubic metres of helium.",
        ),
        ("sentence", "Top speed: 130 kilometres per hour."),
        ("sentence", "Short line"),  # a short line is not a wrapped one
        ("sentence", "Next line."),
        ("code", "zephyr-sim --route TOS-BOO"),
    ]


def test_readings_put_rows_and_sentences_under_their_headings() -> None:
    read = {MEMO[r.start : r.end]: r.text for r in readings(MEMO)}
    assert read["| captain | Ingrid Solvang | 1,240 |"] == (
        "Zephyr Project memo > Crew: role: captain; name: Ingrid Solvang; hours flown: 1,240"
    )
    assert read["Work starts in May."] == "Zephyr Project memo: Work starts in May."
    assert not any(text.startswith("#") or text.startswith("| role") for text in read)  # never quoted
    # A chunk that starts under a heading gets it from the chunk's own heading path.
    part = MEMO[MEMO.index("| captain") :]
    [first, *_] = readings(part, ((1, "Zephyr Project memo"), (2, "Crew")))
    assert part[first.start : first.end].startswith("| captain")
    assert first.text.startswith("Zephyr Project memo > Crew: captain Ingrid") and first.own.startswith("captain")


NEWS = "China shared U.S. intelligence\n\nMr. Liu said so on Monday. He left.\nAnother paragraph."


def test_plain_text_splits_as_before() -> None:
    assert sentence_spans(NEWS) == plain_spans(NEWS)


@given(st.text(alphabet=st.sampled_from(list("ab #|-*.\n 1)`")), max_size=300))
def test_units_are_stripped_ordered_slices_and_work_on_any_chunk(text: str) -> None:
    units = text_units(text)
    for u in units:
        piece = text[u.start : u.end]
        assert piece and piece == piece.strip()
    assert all(x.end <= y.start for x, y in itertools.pairwise(units))
    # every non-space character outside a unit is markup: a fence line (with its info string,
    # "```python"), a table separator or a list marker
    covered = {k for u in units for k in range(u.start, u.end)}
    for k, ch in enumerate(text):
        if k not in covered and not ch.isspace():
            line = text[text.rfind("\n", 0, k) + 1 : (text.find("\n", k) + 1 or len(text) + 1) - 1].strip()
            fence = line.startswith(("```", "~~~"))
            assert fence or set(line) <= set("|-: `~") or line[:1] in "-*+1", (text, k)


def test_a_fence_line_with_an_info_string_is_markup() -> None:
    text = "```1\nprint(1)\n```"
    assert [text[u.start : u.end] for u in text_units(text)] == ["print(1)"]
