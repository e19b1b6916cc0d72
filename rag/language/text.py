"""Sentence boundaries with character offsets, and the stemmed terms BM25 and the answerer share."""

from __future__ import annotations

import re
from functools import lru_cache

# Abbreviations after which a period does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "capt", "col", "gen", "lt", "sgt",
    "gov", "sen", "rep", "rev", "hon", "pres", "vs", "inc", "ltd", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m", "fig", "vol", "approx", "dept",
}  # fmt: skip

# A candidate end: terminal punctuation, optional closing quotes/brackets, then white space.
# Possessive quantifiers and the look-behind keep this linear: a run of dots with no space
# after it (a table of contents' leaders) is tried once, not from each of its dots.
_END = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s)")
_NEWLINE = re.compile(r"\n\s*")
_CAMEL = re.compile(r"[a-z]{1,2}[A-Z]")  # a word that starts lower-case but is a name: iPhone, eBay
_WORD = re.compile(r"\w\w+")

_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "s",
        "t",
    ]
)


def sentence_spans(
    text: str, start: int = 0, end: int | None = None, lines_end_sentences: bool = True
) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into sentences, returned as stripped ``(start, end)`` offsets.

    Line breaks end a sentence (news paragraphs, headings, list items) unless
    ``lines_end_sentences`` is off (a hard-wrapped paragraph, see ``rag.language.units``); periods after
    common abbreviations and single initials do not.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    lines = _lines(text, start, end) if lines_end_sentences else [(start, end)]
    for line_start, line_end in lines:
        pos = line_start
        for m in _END.finditer(text, line_start, line_end):
            cut = m.end()
            closes = any(q in m.group() for q in "\"'”’")  # the punctuation ends a quotation
            if not _is_boundary(text, m.start(), cut, line_end) or (
                not closes and _inside_quotation(text, pos, m.start(), line_end)
            ):
                continue
            _push(text, spans, pos, cut)
            pos = cut
        _push(text, spans, pos, line_end)
    return spans


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    pos = start
    for m in _NEWLINE.finditer(text, start, end):
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, end))
    return out


def _is_boundary(text: str, punct_start: int, cut: int, limit: int) -> bool:
    if text[punct_start] == ".":
        word_start = punct_start
        while word_start > 0 and (text[word_start - 1].isalnum() or text[word_start - 1] == "."):
            word_start -= 1
        word = text[word_start:punct_start].lower()
        # An initial stands alone ("John F. Kennedy"); "40°C." or "pH 6.5" ends a sentence.
        initial = len(word) == 1 and word.isalpha() and (word_start == 0 or not text[word_start - 1].isalnum())
        initial = initial and (word_start == 0 or text[word_start - 1] not in "°%$€£")
        if word in _ABBREVIATIONS or initial:
            return False
        if word == "no" and text[cut:limit].lstrip()[:1].isdigit():  # "No. 5"
            return False
    # The next non-space character must look like the start of a sentence.
    nxt = cut
    while nxt < limit and text[nxt].isspace():
        nxt += 1
    if nxt >= limit:
        return True
    ch = text[nxt]
    if ch.islower() and _CAMEL.match(text, nxt):
        return True  # "iPhones sold out.", "eBay said"
    return ch.isupper() or ch.isdigit() or ch in "\"'“‘([" or not ch.isalpha()


def _inside_quotation(text: str, sentence_start: int, punct: int, limit: int) -> bool:
    """Is ``punct`` an exclamation or question of at most three words just after a quotation opens?

    'Sareen said, “Karma! In 1998, the government…' is not cut after "Karma!": that left a
    sentence ending in an open quotation and one starting without its speaker. Longer quotations
    are split into their sentences like any text, so a quote stays precise.
    """
    if text[punct] not in "!?":
        return False
    curly = text.rfind("“", sentence_start, punct)
    straight = text.rfind('"', sentence_start, punct) if text.count('"', sentence_start, punct) % 2 else -1
    opening = max(curly if "”" not in text[curly:punct] else -1, straight)
    if opening < 0:
        return False
    return len(text[opening + 1 : punct].split()) <= 3 and punct < limit


def strip_span(text: str, a: int, b: int) -> tuple[int, int]:
    """``(a, b)`` moved inward past white space at both ends."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _push(text: str, spans: list[tuple[int, int]], a: int, b: int) -> None:
    a, b = strip_span(text, a, b)
    if b > a:
        spans.append((a, b))


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, Snowball-stemmed terms (the BM25 vocabulary)."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@lru_cache(maxsize=300_000)
def term_set(text: str) -> frozenset[str]:
    """``terms`` as a set, cached: the answerer scores the same sentences again and again."""
    return frozenset(terms(text))


# What a reader sees of a quote: the same words, without the file's line breaks and markup. The
# quote itself (its offsets, what verification checks) stays the document's own characters.
_HYPHEN_BREAK = re.compile(r"(?<=[A-Za-z])-\n[ \t]*(?=[a-z])")  # "coarse-\ngrained": a PDF's line end
_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)?:`([^`\n]+)`")  # rST :pep:`8`, :func:`open`
_RST_LINK = re.compile(r"`([^`<\n]+?)(?:\s*<[^>\n]*>)?`__?")  # rST `text <url>`_ and `text`_
_LITERAL = re.compile(r"``([^`\n]+)``|`([^`\n]+)`")
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1|(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\3(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")  # GitHub's ~~struck~~ text: the words stay
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>\n]*)?/?>")  # inline <img ...>, <br/>, </b>
_ROW_PIPES = re.compile(r"^\s*\|(.*)\|\s*((?:\[\d+\]\s*)*)$")  # a table row, and its citation marker


def readable(text: str) -> str:
    """``text`` as a reader should see it: hard line breaks joined (a line-end hyphen kept, the
    words joined), Markdown and reStructuredText markup and table pipes left out; paragraphs
    (blank lines) stay apart."""
    return "\n\n".join(_readable(p) for p in re.split(r"\n[ \t]*\n\s*", text.strip()))


def _readable(text: str) -> str:
    text = _HYPHEN_BREAK.sub("-", text)
    lines = []
    for line in text.split("\n"):
        row = _ROW_PIPES.match(line)
        cells = " · ".join(c.strip() for c in row.group(1).split("|")) if row else ""
        lines.append(f"{cells} {row.group(2)}".rstrip() if row else line)
    text = _ROLE.sub(r"\1", "\n".join(lines))
    text = _RST_LINK.sub(r"\1", text)
    text = _LITERAL.sub(lambda m: m.group(1) or m.group(2), text)
    text = _MD_LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(lambda m: m.group(2) or m.group(4), text)
    text = _HTML_TAG.sub("", _STRIKE.sub(r"\1", text))
    text = re.sub(r"[ \t]*\n\s*", " ", text)
    return re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", text).strip()
