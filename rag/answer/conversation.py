"""Follow-up questions rewritten to stand alone: "What did he say about it?" names who and what.

A question depends on the conversation when it holds a pronoun that nothing before it in the
question can refer to ("he", "its", "them", "that" as a pronoun), or when it is an ellipsis
("And in 2020?", "What about China?"). Then:

- a pronoun is replaced by its antecedent from the last question (spaCy's parse and entities):
  he/she/him/her by the person asked about (a named person, else the role the question names:
  "the Chinese ambassador to the United States"; after "Who…?", the person its answer named); it/its/this by the last thing named; they/them/
  their by a group or a plural; possessives keep their "'s";
- "that"/"this" standing for an event ("When did that happen?"), and ellipses, cannot be named
  by a word: the last question is put before the new one instead.

A question whose pronouns all refer inside it ("When did Washington start passing its intel?")
is never changed. The rewrite is deterministic and model-free, so it can be shown as is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rag.language.answer_types import ROLES

_PERSONAL = {"he", "him", "his", "she", "her", "hers"}
_THING = {"it", "its"}
_GROUP = {"they", "them", "their", "theirs"}
_POSSESSIVE = {"his", "its", "their", "theirs", "hers"}
_DEMONSTRATIVE = {"that", "this", "those", "these"}
_CONTINUATION = re.compile(r"^\s*(and|also|but|so|what about|how about)\b", re.IGNORECASE)
_WH = {"who", "whom", "whose", "what", "which", "when", "where", "why", "how"}
_ROLE_DEPS = {"attr", "nsubj", "nsubjpass", "dobj"}
_NOT_PEOPLE = {"ORG", "GPE", "NORP", "LOC", "FAC", "PRODUCT", "EVENT", "DATE", "LAW", "WORK_OF_ART"}


def is_followup(question: str) -> bool:
    """Does ``question`` need the conversation to be understood?"""
    return _plan(question) is not None


def standalone_query(question: str, history: Sequence[str] = (), last_answer: str = "") -> str:
    """The query to retrieve with: ``question`` with its references to the last turn resolved.

    A person the last question does not name ("Who dredged the harbour?") is looked for in
    ``last_answer``, the answer to it ("…by the engineer Ottilie Brandt").
    """
    earlier = [h.strip() for h in history if h and h.strip()]
    if not earlier:
        return question
    plan = _plan(question)
    if plan is None:
        return question
    if isinstance(plan, str):  # "glue"
        return f"{earlier[-1]} {question}"
    return _substitute(question, plan, earlier[-1], last_answer) or f"{earlier[-1]} {question}"


def _plan(question: str) -> list[Any] | str | None:
    """None (stands alone), ``"glue"`` (an ellipsis or an event "that"), or the tokens to replace."""
    from rag.language.nlp import parse

    doc = parse(question)
    short = len(re.findall(r"\w+", question)) <= 3
    if (short or _CONTINUATION.match(question)) and not any(t.lower_ in _PERSONAL | _THING | _GROUP for t in doc):
        return "glue"  # an ellipsis: "And Russia?"
    unresolved = []
    for tok in doc:
        low = tok.lower_
        if low in _PERSONAL | _THING | _GROUP and tok.tag_ in ("PRP", "PRP$"):
            if _expletive(tok):
                continue  # "How long did it take ...?": "it" stands for nothing
            if not _refers_inside(doc, tok):
                unresolved.append(tok)
        elif low in _DEMONSTRATIVE and tok.dep_ in ("nsubj", "dobj", "pobj", "nsubjpass") and tok.head.pos_ != "NOUN":
            return "glue"  # "When did that happen?": an event, not a noun to put in its place
    if not unresolved:
        return "glue" if _CONTINUATION.match(question) else None
    return unresolved


_EXPLETIVE_VERBS = {"take", "takes", "took", "taken", "seem", "seems", "seemed", "appear", "appears", "appeared"}


def _expletive(tok: Any) -> bool:
    return tok.dep_ == "expl" or (tok.lower_ == "it" and tok.dep_ == "nsubj" and tok.head.lower_ in _EXPLETIVE_VERBS)


def _refers_inside(doc: Any, pronoun: Any) -> bool:
    """Is there something before ``pronoun`` in its own question that it can stand for?"""
    low = pronoun.lower_
    # An object pronoun never stands for the subject of its own verb ("Who did China give it to?").
    verb = pronoun.head.head if pronoun.dep_ == "pobj" else pronoun.head
    for chunk in doc.noun_chunks:
        if chunk.end > pronoun.i or chunk.root.lower_ in _WH or chunk.root.tag_ in ("PRP", "PRP$", "WP", "WDT"):
            continue
        if pronoun.tag_ == "PRP" and chunk.root.dep_.startswith("nsubj") and chunk.root.head == verb:
            continue
        person = any(e.label_ == "PERSON" for e in chunk.ents) or chunk.root.ent_type_ == "PERSON"
        person = person or (chunk.root.pos_ == "PROPN" and chunk.root.ent_type_ not in _NOT_PEOPLE)
        if low in _PERSONAL and (person or _is_role(chunk)):
            return True
        if low in _THING and not person:
            return True
        if low in _GROUP and (chunk.root.tag_ in ("NNS", "NNPS") or chunk.root.ent_type_ in ("ORG", "NORP", "GPE")):
            return True
    return False


_MORE_ROLES = "captain|analyst|fellow|diplomat|envoy|correspondent|colonel|admiral|lieutenant|sergeant|expert"
_PERSON_NOUN = re.compile(rf"^(?:{ROLES}|{_MORE_ROLES})$|(?:man|woman|person|ist|ian)$|(?<!t)(?:er|or)$")


def _is_role(chunk: Any) -> bool:
    """A singular common noun for a person: spokesman, ambassador, journalist, director."""
    root = chunk.root
    return root.pos_ == "NOUN" and root.tag_ == "NN" and bool(_PERSON_NOUN.search(root.lower_))


def _named(chunk: Any) -> str:
    """The chunk without a leading question word ("Which countries" -> "countries")."""
    start = chunk.start
    while start < chunk.end - 1 and chunk.doc[start].tag_ in ("WDT", "WP", "WP$"):
        start += 1
    return str(chunk.doc[start : chunk.end].text)


def _antecedent(previous: str, kind: set[str], current: str, last_answer: str = "") -> str | None:
    """What a pronoun of ``kind`` in the next question stands for, found in ``previous``.

    A person the last question named or asked about comes first; then, after a "who"
    question, the person its answer named ("Who said…?" "Liu Pengyu said…" "What did he…?"); then a proper name or
    a role in the question.
    """
    from rag.language.nlp import parse

    doc = parse(previous)
    chunks = [c for c in doc.noun_chunks if c.root.lower_ not in _WH and c.root.tag_ not in ("PRP", "PRP$", "WP")]
    if kind is _PERSONAL:
        people = [e.text for e in doc.ents if e.label_ == "PERSON"]
        asked_who = doc[0].lower_ == "who"  # "Who is Sushant Sareen?": a person, whatever NER says
        names = [
            c
            for c in chunks
            if c.root.pos_ == "PROPN"
            and (c.root.ent_type_ not in _NOT_PEOPLE or (asked_who and c.root.dep_ in ("nsubj", "attr")))
        ]
        roles = [c for c in chunks if _is_role(c) and c.root.dep_ in _ROLE_DEPS]
        if people:
            return people[-1]
        asked_about = [c for c in names if c.root.head.dep_ == "ROOT" and c.root.dep_ in ("nsubj", "attr")]
        if asked_about:  # "Who is Sushant Sareen?"
            return _named(asked_about[-1])
        answered = _person_in(last_answer, previous) if last_answer else None
        if answered:
            return answered
        if names:
            return _named(names[-1])
        return _span_with_modifiers(roles[0]) if roles else None
    if kind is _GROUP:
        groups = [c for c in chunks if c.root.tag_ in ("NNS", "NNPS") or c.root.ent_type_ in ("ORG", "NORP", "GPE")]
        return _named(groups[-1]) if groups else None
    # "it" is what the last question was about, not its subject, and not a thing named again now
    things = [
        c
        for c in chunks
        if c.root.ent_type_ != "PERSON"
        and not _is_role(c)
        and not c.root.dep_.startswith("nsubj")
        and c.text.lower() not in current.lower()
    ]
    return _named(things[-1]) if things else None


def _person_in(answer: str, previous: str) -> str | None:
    """The first person ``answer`` names that ``previous``, the "who" question it answers, did not.

    A proper name the small NER model calls an organisation counts too ("councillor Ines
    Marlow" is tagged ORG): the question asked for a person.
    """
    from rag.language.nlp import parse

    asked = previous.lower()
    if not asked.lstrip().startswith("who"):
        return None
    doc = parse(answer[:2000])
    for ent in doc.ents:
        if ent.label_ == "PERSON" and ent.text.lower() not in asked:
            return str(ent.text)
    for chunk in doc.noun_chunks:
        names = [t for t in chunk if t.pos_ == "PROPN"]
        if chunk.root.pos_ != "PROPN" or chunk.root.ent_type_ in _NOT_PEOPLE - {"ORG"} or not names:
            continue
        name = str(doc[names[0].i : names[-1].i + 1].text)
        if name.lower() not in asked:
            return name
    return None


def _span_with_modifiers(chunk: Any) -> str:
    """A role with what follows it in its phrase: "the Chinese ambassador to the United States"."""
    end = chunk.end
    for tok in chunk.root.rights:
        if tok.dep_ == "prep":
            end = max(end, tok.right_edge.i + 1)
    start = chunk.start
    while start < end - 1 and chunk.doc[start].tag_ in ("WDT", "WP", "WP$"):
        start += 1
    return str(chunk.doc[start:end].text)


def _substitute(question: str, tokens: list[Any], previous: str, last_answer: str = "") -> str | None:
    """``question`` with each pronoun replaced by its antecedent; None when one has none."""
    pieces: list[str] = []
    pos = 0
    for tok in tokens:
        low = tok.lower_
        kind = _PERSONAL if low in _PERSONAL else _GROUP if low in _GROUP else _THING
        name = _antecedent(previous, kind, question, last_answer)
        if name is None:
            return None
        if low in _POSSESSIVE or (low == "her" and tok.tag_ == "PRP$"):
            name = f"{name}'s"
        elif tok.i == 0:
            name = name[:1].upper() + name[1:]
        pieces.append(question[pos : tok.idx])
        pieces.append(name)
        pos = tok.idx + len(tok.text)
    pieces.append(question[pos:])
    return "".join(pieces)
