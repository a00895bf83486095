"""Synthetic long-document tasks: essay haystacks of any token size with planted facts.

Paragraph token counts are computed once per process and summed, so a 10M-token document costs
a join, not a tokenization. Facts are their own paragraphs, written in the grammar of
`llm_double.grammar`, so a newline-based chunker never splits one and the reader can parse them.
"""

from __future__ import annotations

import bisect
import os
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from longcepo.nodes.tokens import count_tokens, get_encoding

from llm_double import grammar

SEPARATOR = "\n\n"
_SEP_TOKENS = 0  # ".\n\n" is one cl100k token, so a blank line between paragraphs is free
_PARAGRAPH_WORDS = 70
_GLUED = re.compile(r"(?<=[a-z0-9)\]\"][.?!])(?=[A-Z])")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z\"(\[])")

TaskKind = Literal["needle", "chain", "split"]
Chunker = Callable[[str], Sequence[Any]]
"""text -> chunks, each a chunk's text, a (start, end) pair, or an object with `.start` and
`.end` character offsets (like the product's `nodes.chunking.Span`)."""

# Invented names and values; a unit test checks that none of them occurs in the essays.
FIRST_NAMES = tuple(
    "Ilvana Teodric Maelis Osvin Brannoc Sefira Kaspian Lunete Dariel Yselle Corvin Anwen "
    "Thessaly Marrick Quenby Orlaith Zephran Idony Rhoswen Belisar Caelum Ysolde Fennick "
    "Oriel".split()
)
SURNAMES = tuple(
    "Varga Quillan Dresko Maunder Thorvik Pellam Ostrava Kestrell Wendimoor Halloran Brisk "
    "Yarrowby Castellane Umberlee Fairwold Grellin Morrowind Tasker Veyron Lindqvar Ashdown "
    "Corrigal".split()
)
TOWNS = tuple(
    "Vellmark Karrowby Felmsted Dunvale Osterholm Quarnby Brindlecombe Tollbrook Skarvik "
    "Ellanmoor Pyrecliff Harrowgate Wendelburg Istenmoor".split()
)
WORDS = tuple(
    "Marigrune Oskelet Tamberlo Quorvane Silvatch Brunmoth Kelidor Pellavine Zorvath "
    "Umbrisk Calloway Drennet".split()
)
FACILITIES = ("Station", "Depot", "Archive", "Observatory", "Lighthouse", "Foundry")
PERSON_RELATIONS = tuple(
    "mentor landlord dentist tutor manager sponsor neighbour accountant".split()
)
ATTRIBUTE_RELATIONS = ("hometown", "badge number", "boat name")
SPLIT_RELATIONS = ("vault code", "gate code", "locker code")


@dataclass(frozen=True)
class PlantedFact:
    """One planted sentence and where it sits: `document[start:end] == text`."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Task:
    """A question about a synthetic document, its gold answer and the facts that support it.

    `facts` are in hop order (for a split fact: first half, second half). `sub_questions` and
    `sub_answers` are what a good plan asks and what each step should find.
    """

    kind: TaskKind
    question: str
    gold: str
    facts: tuple[PlantedFact, ...]
    sub_questions: tuple[str, ...]
    sub_answers: tuple[str, ...]
    bare_question: str
    distractors: tuple[PlantedFact, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class SyntheticDocument:
    """A generated document and the task planted in it.

    `target_tokens` is the size asked for; the text's cl100k count lands within about 0.5%.
    """

    text: str
    task: Task
    target_tokens: int


def essays_dir() -> Path:
    """Where the essays live: `$LONGCEPO_SHARED_DATA[/paul_graham_essays]` or `../shared/data`."""
    override = os.environ.get("LONGCEPO_SHARED_DATA")
    if override:
        base = Path(override)
        nested = base / "paul_graham_essays"
        return nested if nested.is_dir() else base
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "paul_graham_essays"


@lru_cache(maxsize=4)
def _essay_paragraphs(folder: str) -> tuple[tuple[tuple[str, int], ...], ...]:
    """Each essay as reflowed paragraphs with their token counts, tokenized once per process."""
    files = sorted(p for p in Path(folder).glob("*.txt") if "LICENSE" not in p.name.upper())
    if not files:
        raise FileNotFoundError(f"no essays (*.txt) in {folder}; set LONGCEPO_SHARED_DATA")
    enc = get_encoding()
    essays = []
    for path in files:
        flat = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
        sentences = _SENTENCE_END.split(_GLUED.sub(" ", flat))
        paragraphs, current, words = [], [], 0
        for sentence in sentences:
            current.append(sentence)
            words += sentence.count(" ") + 1
            if words >= _PARAGRAPH_WORDS:
                paragraphs.append(" ".join(current))
                current, words = [], 0
        if current:
            paragraphs.append(" ".join(current))
        counted = tuple((p, len(enc.encode_ordinary(p))) for p in paragraphs if p)
        if counted:
            essays.append(counted)
    return tuple(essays)


def _paragraph_stream(rng: random.Random) -> list[tuple[str, int]]:
    """All essay paragraphs once, essays in a seeded order, starting at a seeded paragraph."""
    essays = list(_essay_paragraphs(str(essays_dir())))
    rng.shuffle(essays)
    flat = [p for essay in essays for p in essay]
    start = rng.randrange(len(flat))
    return flat[start:] + flat[:start]


def haystack_paragraphs(target_tokens: int, seed: int = 0) -> list[str]:
    """Essay paragraphs totalling about `target_tokens` cl100k tokens once joined by blank lines.

    The stream of essays repeats as often as needed; the last paragraph is cut at a word so the
    total lands within a few tokens of the target.
    """
    rng = random.Random(f"haystack:{seed}")
    stream = _paragraph_stream(rng)
    out: list[str] = []
    total = 0
    i = 0
    while total < target_tokens:
        text, n = stream[i % len(stream)]
        i += 1
        need = target_tokens - total - (_SEP_TOKENS if out else 0)
        if need <= 0:
            break
        if n > need:
            text = _cut(text, need)
            if not text:
                break
            n = need
        out.append(text)
        total += n + (_SEP_TOKENS if len(out) > 1 else 0)
    return out


def haystack(target_tokens: int, seed: int = 0) -> str:
    """A plain essay document of about `target_tokens` tokens, with no planted facts."""
    return SEPARATOR.join(haystack_paragraphs(target_tokens, seed))


def _cut(text: str, tokens: int) -> str:
    """The first `tokens` tokens of `text`, trimmed back to a whole word."""
    enc = get_encoding()
    head = enc.decode(enc.encode_ordinary(text)[:tokens])
    return head.rsplit(" ", 1)[0] if " " in head else head


def _assemble(
    hay: list[str], inserts: list[tuple[int, str]]
) -> tuple[str, dict[int, tuple[int, int]]]:
    """Insert paragraphs at paragraph indices; return the text and each insert's char span.

    Inserts at the same index keep their given order. Keys of the returned dict are positions
    in `inserts`.
    """
    order = sorted(range(len(inserts)), key=lambda k: (inserts[k][0], k))
    parts: list[str] = []
    spans: dict[int, tuple[int, int]] = {}
    pos = 0
    nxt = 0
    for idx in range(len(hay) + 1):
        while nxt < len(order) and inserts[order[nxt]][0] <= idx:
            text = inserts[order[nxt]][1]
            pos += len(SEPARATOR) if parts else 0
            spans[order[nxt]] = (pos, pos + len(text))
            parts.append(text)
            pos += len(text)
            nxt += 1
        if idx < len(hay):
            pos += len(SEPARATOR) if parts else 0
            parts.append(hay[idx])
            pos += len(hay[idx])
    return SEPARATOR.join(parts), spans


class _Names:
    """Draws distinct invented names and values for one task from a seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _fresh(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("ran out of invented names")

    def person(self) -> str:
        return self._fresh(lambda: f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(SURNAMES)}")

    def place(self) -> str:
        return self._fresh(lambda: f"{self.rng.choice(TOWNS)} {self.rng.choice(FACILITIES)}")

    def value(self, relation: str) -> str:
        if relation == "hometown":
            return self._fresh(lambda: self.rng.choice(TOWNS))
        if relation == "badge number":
            return self._fresh(lambda: str(self.rng.randrange(1000, 10000)))
        return self._fresh(lambda: self.rng.choice(WORDS))


def _distractor_sentences(names: _Names, relations: Sequence[str], count: int) -> list[str]:
    """Facts in the same grammar and relations, about other entities, that answer nothing."""
    out = []
    for _ in range(count):
        rel = names.rng.choice(list(relations))
        val = names.person() if rel in PERSON_RELATIONS else names.value(rel)
        out.append(grammar.fact_sentence(rel, names.person(), val))
    return out


def _spread_depths(rng: random.Random, count: int) -> list[float]:
    """One depth per fact, each in its own slice of the document, slices in a seeded order."""
    slots = list(range(count))
    rng.shuffle(slots)
    return [(slot + rng.uniform(0.15, 0.85)) / count for slot in slots]


def _budget(target_tokens: int, paragraphs: Sequence[str]) -> int:
    """Haystack tokens left once the planted paragraphs are paid for."""
    return max(0, target_tokens - sum(count_tokens(p) + _SEP_TOKENS for p in paragraphs))


def _plant(
    target_tokens: int,
    seed: int,
    sentences: list[str],
    depths: Sequence[float],
    distractors: list[str],
    rng: random.Random,
) -> tuple[str, list[PlantedFact], list[PlantedFact]]:
    """Build a haystack and insert facts at depths and distractors at seeded depths."""
    hay = haystack_paragraphs(_budget(target_tokens, sentences + distractors), seed)
    inserts = [(round(d * len(hay)), s) for d, s in zip(depths, sentences, strict=True)]
    inserts += [(rng.randrange(len(hay) + 1), s) for s in distractors]
    text, spans = _assemble(hay, inserts)
    facts = [PlantedFact(s, *spans[k]) for k, s in enumerate(sentences)]
    planted = [PlantedFact(s, *spans[len(sentences) + k]) for k, s in enumerate(distractors)]
    return text, facts, planted


def needle_task(
    target_tokens: int,
    *,
    seed: int = 0,
    depth: float | None = None,
    distractors: int = 0,
) -> SyntheticDocument:
    """One fact, one question about it ("What is the hometown of Ilvana Varga?")."""
    rng = random.Random(f"needle:{seed}")
    names = _Names(rng)
    rel = rng.choice(ATTRIBUTE_RELATIONS)
    entity, value = names.person(), names.value(rel)
    sentence = grammar.fact_sentence(rel, entity, value)
    where = [rng.uniform(0.1, 0.9) if depth is None else depth]
    noise = _distractor_sentences(names, (rel,), distractors)
    text, facts, planted = _plant(target_tokens, seed, [sentence], where, noise, rng)
    question = grammar.chain_question([rel], entity)
    task = Task(
        "needle",
        question,
        value,
        tuple(facts),
        (question,),
        (value,),
        question,
        tuple(planted),
        seed,
    )
    return SyntheticDocument(text, task, target_tokens)


def chain_task(
    target_tokens: int,
    *,
    hops: int = 2,
    seed: int = 0,
    depths: Sequence[float] | None = None,
    distractors: int = 0,
) -> SyntheticDocument:
    """A multi-hop chain: person relations then an attribute, each fact in its own slice.

    Example (2 hops): "The mentor of Ilvana Varga is Osvin Pellam." and "The hometown of Osvin
    Pellam is Dunvale."; question "What is the hometown of the mentor of Ilvana Varga?".
    """
    if hops < 2:
        raise ValueError("a chain needs at least 2 hops; use needle_task for one")
    rng = random.Random(f"chain:{hops}:{seed}")
    names = _Names(rng)
    relations = [*rng.sample(PERSON_RELATIONS, hops - 1), rng.choice(ATTRIBUTE_RELATIONS)]
    start = names.person()
    entity = start
    sentences, answers = [], []
    for rel in relations:
        value = names.person() if rel in PERSON_RELATIONS else names.value(rel)
        sentences.append(grammar.fact_sentence(rel, entity, value))
        answers.append(value)
        entity = value
    where = list(depths) if depths is not None else _spread_depths(rng, hops)
    if len(where) != hops:
        raise ValueError(f"need {hops} depths, got {len(where)}")
    noise = _distractor_sentences(names, relations, distractors)
    text, facts, planted = _plant(target_tokens, seed, sentences, where, noise, rng)
    subs = tuple(grammar.chain_question(relations[: k + 1], start) for k in range(hops))
    task = Task(
        "chain",
        subs[-1],
        answers[-1],
        tuple(facts),
        subs,
        tuple(answers),
        subs[-1],
        tuple(planted),
        seed,
    )
    return SyntheticDocument(text, task, target_tokens)


def split_task(
    target_tokens: int,
    *,
    seed: int = 0,
    boundary: int | None = None,
    chunker: Chunker | None = None,
    distractors: int = 0,
    pad_tokens: int | None = None,
) -> SyntheticDocument:
    """A fact in two halves on either side of a chunk boundary; neither half answers alone.

    Halves: "The vault code of Dunvale Depot has two parts; its first part is 41." and "The
    second part of the vault code of Dunvale Depot is 77."; gold "41-77".

    Where the boundary falls:
    - `chunker` given (see `Chunker`; e.g. the product's chunker): the halves are placed
      so that chunking the final document puts them in consecutive chunks; this is checked by
      re-chunking, trying insertion points near one boundary after another. The second half's
      paragraph is padded with essay text so a greedy packer cannot pull it back.
    - else `boundary`, a char offset into `split_haystack(...)` with the same arguments: the
      first half becomes the last paragraph before the paragraph start at or after it, the
      second half the first paragraph from there; unchecked.
    - else: a seeded paragraph start in the middle third.
    """
    plan = _SplitFacts(seed, distractors)
    rng, half_a, half_b, noise = plan.rng, plan.half_a, plan.half_b, plan.noise
    hay = haystack_paragraphs(_budget(target_tokens, [half_a, half_b, *noise]), seed)
    noise_at = [rng.randrange(len(hay) + 1) for _ in noise]
    gold = grammar.join_split(plan.first, plan.second)
    question = grammar.chain_question([plan.rel], plan.place)

    def build(at: int, b_paragraph: str) -> tuple[str, dict[int, tuple[int, int]]]:
        inserts = [(at, half_a), (at, b_paragraph), *zip(noise_at, noise, strict=True)]
        return _assemble(hay, inserts)

    if chunker is not None:
        text, spans = _place_across_boundary(hay, build, half_a, half_b, chunker, rng, pad_tokens)
    else:
        if boundary is not None:
            starts = _paragraph_starts(hay)
            at = min(bisect.bisect_left(starts, boundary), len(hay))
        else:
            at = rng.randrange(len(hay) // 3, max(len(hay) // 3 + 1, 2 * len(hay) // 3))
        padding = _padding(rng, pad_tokens or 0)
        text, spans = build(at, f"{half_b} {padding}".strip())
    a_start = spans[0][0]
    b_start = spans[1][0]
    facts = (
        PlantedFact(half_a, a_start, a_start + len(half_a)),
        PlantedFact(half_b, b_start, b_start + len(half_b)),
    )
    planted = tuple(PlantedFact(s, *spans[2 + k]) for k, s in enumerate(noise))
    task = Task("split", question, gold, facts, (question,), (gold,), question, planted, seed)
    return SyntheticDocument(text, task, target_tokens)


def split_haystack(target_tokens: int, *, seed: int = 0, distractors: int = 0) -> str:
    """The haystack `split_task(target_tokens, seed=seed, boundary=...)` plants into.

    Chunk this text with the product's chunker to choose a `boundary` offset.
    """
    plan = _SplitFacts(seed, distractors)
    planted = [plan.half_a, plan.half_b, *plan.noise]
    return SEPARATOR.join(haystack_paragraphs(_budget(target_tokens, planted), seed))


class _SplitFacts:
    """The seeded draws of a split task, shared by `split_task` and `split_haystack`."""

    def __init__(self, seed: int, distractors: int) -> None:
        self.rng = random.Random(f"split:{seed}")
        names = _Names(self.rng)
        self.rel, self.place = self.rng.choice(SPLIT_RELATIONS), names.place()
        self.first = str(self.rng.randrange(10, 100))
        self.second = str(self.rng.randrange(10, 100))
        self.half_a = grammar.first_half_sentence(self.rel, self.place, self.first)
        self.half_b = grammar.second_half_sentence(self.rel, self.place, self.second)
        self.noise = _distractor_sentences(names, PERSON_RELATIONS, distractors)


def _paragraph_starts(paragraphs: Sequence[str]) -> list[int]:
    """Char offset of each paragraph in `SEPARATOR.join(paragraphs)`."""
    starts, pos = [], 0
    for p in paragraphs:
        starts.append(pos)
        pos += len(p) + len(SEPARATOR)
    return starts


def _padding(rng: random.Random, tokens: int) -> str:
    """Essay text of about `tokens` tokens, to lengthen the second half's paragraph."""
    if tokens <= 0:
        return ""
    return " ".join(haystack_paragraphs(tokens, seed=rng.randrange(1 << 30)))


def _chunk_texts(chunker: Chunker, text: str) -> list[str]:
    """Chunk texts from whatever the chunker returns (texts, offset pairs or spans)."""
    out = []
    for chunk in chunker(text):
        if isinstance(chunk, str):
            out.append(chunk)
        elif isinstance(chunk, tuple):
            out.append(text[chunk[0] : chunk[1]])
        else:
            out.append(text[chunk.start : chunk.end])
    return out


def _chunk_of(chunks: Sequence[str], sentence: str) -> int:
    """Index of the chunk holding `sentence` whole, or -1."""
    return next((i for i, c in enumerate(chunks) if sentence in c), -1)


def _place_across_boundary(
    hay: list[str],
    build: Callable[[int, str], tuple[str, dict[int, tuple[int, int]]]],
    half_a: str,
    half_b: str,
    chunker: Chunker,
    rng: random.Random,
    pad_tokens: int | None,
) -> tuple[str, dict[int, tuple[int, int]]]:
    """Try insertion points just before chunk boundaries until the halves land apart."""
    hay_text = SEPARATOR.join(hay)
    chunks = _chunk_texts(chunker, hay_text)
    if len(chunks) < 2:
        raise ValueError("the haystack is a single chunk; ask for more tokens")
    starts = _paragraph_starts(hay)
    first_paragraph, cursor = [], 0
    for chunk in chunks:
        head = chunk.strip()[:64]
        found = hay_text.find(head, cursor)
        if found < 0:
            raise ValueError("chunker returned text that is not in the document")
        first_paragraph.append(bisect.bisect_right(starts, found) - 1)
        cursor = found
    chunk_tokens = max(count_tokens(c) for c in chunks)
    pad = _padding(rng, chunk_tokens // 4 if pad_tokens is None else pad_tokens)
    b_paragraph = f"{half_b} {pad}".strip()
    middle = len(chunks) // 2
    order = sorted(range(1, len(chunks)), key=lambda k: (abs(k - middle), k))
    for k in order:
        lowest = first_paragraph[k - 1] + 1
        for at in range(first_paragraph[k], max(lowest, first_paragraph[k] - 4) - 1, -1):
            text, spans = build(at, b_paragraph)
            new_chunks = _chunk_texts(chunker, text)
            ia, ib = _chunk_of(new_chunks, half_a), _chunk_of(new_chunks, half_b)
            if ia >= 0 and ib == ia + 1:
                return text, spans
    raise ValueError("could not place the split fact across a chunk boundary")


def as_multiple_choice(doc: SyntheticDocument, *, seed: int = 0) -> SyntheticDocument:
    """The same task asked as a four-option question; gold becomes the letter.

    The query carries an answer-format instruction and the options, which normalization must
    drop; the bare question stays in `task.bare_question`.
    """
    rng = random.Random(f"mc:{seed}")
    task = doc.task
    wrong: list[str] = []
    names = _Names(rng)
    names.used.add(task.gold)
    while len(wrong) < 3:
        if task.kind == "split":
            candidate = grammar.join_split(str(rng.randrange(10, 100)), str(rng.randrange(10, 100)))
        elif task.gold.isdigit():
            candidate = str(rng.randrange(1000, 10000))
        else:
            candidate = names.value("hometown" if task.gold in TOWNS else "boat name")
        if candidate != task.gold and candidate not in wrong:
            wrong.append(candidate)
    options = [task.gold, *wrong]
    rng.shuffle(options)
    letters = "ABCD"
    lines = [f"({letters[i]}) {option}" for i, option in enumerate(options)]
    query = "\n".join([task.bare_question, *lines, "Answer with the letter of the correct option."])
    gold = letters[options.index(task.gold)]
    return replace(doc, task=replace(task, question=query, gold=gold))
