"""The one sentence grammar of planted facts and questions, shared by the corpus and the reader.

Facts are written and parsed here only, so the generator and the fake model can never drift
apart. Relations are lower-case words without "of"; entities and values are capitalized words
or numbers, which keeps essay sentences from ever parsing as facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REL = r"[a-z]+(?: (?!of\b|is\b|has\b)[a-z]+)*"
ENT = r"[A-Z][\w'’-]*(?: [A-Z][\w'’-]*)*"
VAL = r"[A-Z0-9][\w'’-]*(?: [A-Z0-9][\w'’-]*)*"

# Patterns open with the literal "The " so the regex engine can skip ahead to it (a leading \b
# made a 16 KB passage cost 0.5 ms per pattern); the lookbehind restores the word boundary.
_START = r"The (?<!\wThe )"
FACT_RE = re.compile(rf"{_START}(?P<rel>{REL}) of (?P<ent>{ENT}) is (?P<val>{VAL})\.")
FIRST_HALF_RE = re.compile(
    rf"{_START}(?P<rel>{REL}) of (?P<ent>{ENT}) has two parts; its first part is (?P<val>{VAL})\."
)
SECOND_HALF_RE = re.compile(
    rf"{_START}second part of the (?P<rel>{REL}) of (?P<ent>{ENT}) is (?P<val>{VAL})\."
)
QUESTION_RE = re.compile(r"\b[Ww]hat(?: is|'s|’s| was) the (?P<body>[^?\n]+?)\s*\?")
_LAST_HOP_RE = re.compile(rf"(?P<rel>{REL}) of (?P<ent>{ENT})")
_REL_RE = re.compile(REL)

SPLIT_JOINER = "-"
"""A split fact's answer is its two parts joined by this, first part first: "41-77"."""


def fact_sentence(rel: str, ent: str, val: str) -> str:
    """A whole fact: "The mentor of Alice Varga is Boris Klein."."""
    return f"The {rel} of {ent} is {val}."


def first_half_sentence(rel: str, ent: str, val: str) -> str:
    """First half of a split fact; alone it does not answer the question."""
    return f"The {rel} of {ent} has two parts; its first part is {val}."


def second_half_sentence(rel: str, ent: str, val: str) -> str:
    """Second half of a split fact; alone it does not answer the question."""
    return f"The second part of the {rel} of {ent} is {val}."


def join_split(first: str, second: str) -> str:
    """The answer to a split fact's question."""
    return f"{first}{SPLIT_JOINER}{second}"


@dataclass(frozen=True)
class Chain:
    """A parsed question "What is the r_k of ... the r_1 of E?": relations innermost first."""

    relations: tuple[str, ...]
    entity: str

    def question(self) -> str:
        """The question in canonical form."""
        body = " of the ".join(reversed(self.relations))
        return f"What is the {body} of {self.entity}?"

    def prefix(self, hops: int) -> Chain:
        """The chain of the first `hops` relations (the question of an earlier plan step)."""
        return Chain(self.relations[:hops], self.entity)


def chain_question(relations: list[str] | tuple[str, ...], entity: str) -> str:
    """Render a chain question, relations innermost first."""
    return Chain(tuple(relations), entity).question()


def parse_question(text: str) -> Chain | None:
    """Find the first "What is the ... of ...?" question in `text` and split it into hops."""
    for match in QUESTION_RE.finditer(text):
        parts = match.group("body").split(" of the ")
        last = _LAST_HOP_RE.fullmatch(parts[-1])
        if last is None or not all(_REL_RE.fullmatch(p) for p in parts[:-1]):
            continue
        outer_first = [*parts[:-1], last.group("rel")]
        return Chain(tuple(reversed(outer_first)), last.group("ent"))
    return None


@dataclass(frozen=True)
class FactIndex:
    """Facts found in some text, keyed by (relation, entity); values are (value, sentence)."""

    whole: dict[tuple[str, str], tuple[str, str]]
    first: dict[tuple[str, str], tuple[str, str]]
    second: dict[tuple[str, str], tuple[str, str]]
    sentences: list[str]

    @property
    def empty(self) -> bool:
        """True when the text holds no fact at all."""
        return not self.sentences


def index_facts(text: str) -> FactIndex:
    """Parse every fact sentence (whole or half) in `text`, in order of appearance."""
    found: list[tuple[int, str]] = []
    tables: list[dict[tuple[str, str], tuple[str, str]]] = [{}, {}, {}]
    for table, pattern in zip(tables, (FACT_RE, FIRST_HALF_RE, SECOND_HALF_RE), strict=True):
        for m in pattern.finditer(text):
            table.setdefault((m["rel"], m["ent"]), (m["val"], m.group(0)))
            found.append((m.start(), m.group(0)))
    found.sort()
    return FactIndex(tables[0], tables[1], tables[2], [s for _, s in found])


def find_fact_sentences(text: str) -> list[str]:
    """Every fact sentence in `text`, in order; used by summaries to carry facts to neighbours."""
    return index_facts(text).sentences
