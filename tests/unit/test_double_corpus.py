"""Synthetic tasks: sizes, planted facts, determinism, and a tiny pipeline over them."""

from __future__ import annotations

from pathlib import Path

import pytest
from longcepo.nodes.tokens import count_tokens
from longcepo.prompts import map_chunk, normalize, reduce, summary
from longcepo.prompts.render import (
    FINDING_BODY,
    FINDING_HEADER,
    NO_EARLIER_QUESTIONS,
    NO_FINDINGS,
    NO_SUMMARIES_AFTER,
    NO_SUMMARIES_BEFORE,
    QA_PAIR,
    SUMMARY_LINE,
)

from llm_double import corpus, grammar
from llm_double.reader import reply


def greedy_chunks(text: str, size: int) -> list[str]:
    """A newline chunker like the method's: pack lines greedily up to `size` tokens."""
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for line in text.split("\n"):
        n = count_tokens(line) + 1
        if current and used + n > size:
            chunks.append("\n".join(current))
            current, used = [], 0
        current.append(line)
        used += n
    if current:
        chunks.append("\n".join(current))
    return chunks


def ask(prompt: str) -> str:
    return reply([{"role": "user", "content": prompt}])


def answer_one(
    chunks: list[str], sums: list[str], question: str, qa: list[tuple[str, str]], neighbours: int
) -> str:
    """Map every chunk (with `neighbours` summaries each side), then reduce."""
    history = (
        "\n".join(QA_PAIR.format(n=i, question=q, answer=a) for i, (q, a) in enumerate(qa, 1))
        or NO_EARLIER_QUESTIONS
    )
    findings = []
    for i, chunk in enumerate(chunks):
        before = [
            SUMMARY_LINE.format(index=j, summary=sums[j]) for j in range(max(0, i - neighbours), i)
        ]
        after = [
            SUMMARY_LINE.format(index=j, summary=sums[j])
            for j in range(i + 1, min(len(chunks), i + 1 + neighbours))
        ]
        out = ask(
            map_chunk.TEMPLATE.format(
                summaries_before="\n".join(before) or NO_SUMMARIES_BEFORE,
                chunk=chunk,
                summaries_after="\n".join(after) or NO_SUMMARIES_AFTER,
                qa_history=history,
                question=question,
            )
        )
        if out != map_chunk.NO_INFORMATION:
            fields = dict(line.split(": ", 1) for line in out.splitlines())
            findings.append(
                f"{FINDING_HEADER.format(label=f'Chunk {i}')}\n"
                + FINDING_BODY.format(
                    extracted=fields["Extracted Information"],
                    rationale=fields["Rationale"],
                    answer=fields["Answer"],
                    confidence=fields["Confidence Score"],
                )
            )
    out = ask(
        reduce.TEMPLATE.format(
            findings="\n\n".join(findings) or NO_FINDINGS, qa_history=history, question=question
        )
    )
    return out.rsplit("Answer: ", 1)[1].strip()


def run_pipeline(
    text: str, query: str, *, chunk_size: int, neighbours: int = 1, plan: bool = True
) -> str:
    """The LongCePO loop in miniature, speaking to the reader through the real templates."""
    chunks = greedy_chunks(text, chunk_size)
    sums = [ask(summary.TEMPLATE.format(chunk=c, question=query)) for c in chunks]
    bare = ask(normalize.TEMPLATE.format(query=query))
    subs = [q for q in _plan(bare)] if plan else []
    qa: list[tuple[str, str]] = []
    for sub in subs:
        qa.append((sub, answer_one(chunks, sums, sub, qa, neighbours)))
    return answer_one(chunks, sums, query, qa, neighbours)


def _plan(question: str) -> list[str]:
    from longcepo.prompts import plan as plan_prompt

    out = ask(plan_prompt.TEMPLATE.format(question=question, max_sub_questions=5))
    inner = out.split(plan_prompt.OPEN_TAG)[1].split(plan_prompt.CLOSE_TAG)[0]
    return [line.split(". ", 1)[1] for line in inner.strip().splitlines()]


# -- sizes and facts --------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [1_000, 8_000, 64_000])
@pytest.mark.parametrize("make", [corpus.needle_task, corpus.chain_task, corpus.split_task])
def test_requested_size_is_met(tokens: int, make: object) -> None:
    doc = make(tokens, seed=3)
    assert abs(count_tokens(doc.text) - tokens) <= 0.03 * tokens


def test_256k_document_builds() -> None:
    doc = corpus.chain_task(256_000, hops=3, seed=1)
    assert abs(count_tokens(doc.text) - 256_000) <= 0.01 * 256_000
    assert len(doc.task.facts) == 3


@pytest.mark.parametrize(
    "doc",
    [
        corpus.needle_task(4_000, seed=5, distractors=3),
        corpus.chain_task(6_000, hops=2, seed=5, distractors=2),
        corpus.chain_task(6_000, hops=3, seed=6),
        corpus.split_task(6_000, seed=5, distractors=2),
    ],
    ids=["needle", "chain2", "chain3", "split"],
)
def test_facts_sit_at_their_offsets_as_own_paragraphs(doc: corpus.SyntheticDocument) -> None:
    for fact in (*doc.task.facts, *doc.task.distractors):
        assert doc.text[fact.start : fact.end] == fact.text
        assert fact.start == 0 or doc.text[fact.start - 2 : fact.start] == "\n\n"
        assert doc.text.count(fact.text) == 1
    assert grammar.find_fact_sentences(doc.text) == sorted(
        [f.text for f in (*doc.task.facts, *doc.task.distractors)], key=doc.text.index
    )


def test_chain_task_shape() -> None:
    task = corpus.chain_task(5_000, hops=3, seed=2).task
    assert len(task.sub_questions) == 3 and task.sub_questions[-1] == task.question
    assert task.sub_answers[-1] == task.gold
    chain = grammar.parse_question(task.question)
    assert chain is not None and len(chain.relations) == 3
    for fact, answer in zip(task.facts, task.sub_answers, strict=True):
        assert fact.text.endswith(f" is {answer}.")


def test_generation_is_deterministic_for_a_seed() -> None:
    a, b = corpus.chain_task(5_000, seed=9), corpus.chain_task(5_000, seed=9)
    assert a == b
    assert corpus.chain_task(5_000, seed=10).text != a.text


def test_invented_names_do_not_occur_in_the_essays() -> None:
    essays = " ".join(p.read_text() for p in corpus.essays_dir().glob("*.txt"))
    names = (*corpus.FIRST_NAMES, *corpus.SURNAMES, *corpus.TOWNS, *corpus.WORDS)
    assert [n for n in names if n in essays] == []


@pytest.mark.parametrize("as_spans", [False, True])
def test_split_halves_straddle_the_chunker_boundary(as_spans: bool) -> None:
    def chunker(text: str) -> list[str]:
        return greedy_chunks(text, 512)

    def span_chunker(text: str) -> list[tuple[int, int]]:
        spans, at = [], 0
        for chunk in chunker(text):
            spans.append((at, at + len(chunk)))
            at += len(chunk) + 1
        return spans

    doc = corpus.split_task(6_000, seed=4, chunker=span_chunker if as_spans else chunker)
    a, b = doc.task.facts
    chunks = chunker(doc.text)
    where_a = [i for i, c in enumerate(chunks) if a.text in c]
    where_b = [i for i, c in enumerate(chunks) if b.text in c]
    assert len(where_a) == len(where_b) == 1 and where_b[0] == where_a[0] + 1
    assert doc.task.gold == "-".join(f.text.rstrip(".").rsplit(" ", 1)[1] for f in (a, b))


def test_split_at_a_caller_given_boundary() -> None:
    hay = corpus.split_haystack(3_000, seed=2)
    boundary = hay.index("\n\n", len(hay) // 2) + 2
    doc = corpus.split_task(3_000, seed=2, boundary=boundary)
    a, b = doc.task.facts
    assert doc.text[:boundary] == hay[:boundary]
    assert a.start == boundary and b.start == a.end + 2


def test_multiple_choice_variant() -> None:
    doc = corpus.as_multiple_choice(corpus.chain_task(3_000, seed=1), seed=1)
    assert doc.task.gold in "ABCD" and doc.task.question.count("\n(") == 4
    assert ask(normalize.TEMPLATE.format(query=doc.task.question)) == doc.task.bare_question


def test_shared_data_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "paul_graham_essays").mkdir()
    (tmp_path / "paul_graham_essays" / "x.txt").write_text("Zebras graze quietly. " * 200)
    monkeypatch.setenv("LONGCEPO_SHARED_DATA", str(tmp_path))
    assert "Zebras graze" in corpus.haystack(500)


# -- the tasks through a miniature pipeline --------------------------------------------------------


def test_chain_needs_the_plan_and_history() -> None:
    doc = corpus.chain_task(6_000, hops=3, seed=7, distractors=3)
    assert run_pipeline(doc.text, doc.task.question, chunk_size=1_000) == doc.task.gold
    assert run_pipeline(doc.text, doc.task.question, chunk_size=1_000, plan=False) == (
        "No information"
    )


def test_multiple_choice_final_answer_is_the_letter() -> None:
    doc = corpus.as_multiple_choice(corpus.chain_task(4_000, hops=2, seed=3), seed=3)
    assert run_pipeline(doc.text, doc.task.question, chunk_size=800) == doc.task.gold


def test_split_needs_neighbour_summaries() -> None:
    doc = corpus.split_task(5_000, seed=8, chunker=lambda t: greedy_chunks(t, 600))
    assert run_pipeline(doc.text, doc.task.question, chunk_size=600) == doc.task.gold
    assert run_pipeline(doc.text, doc.task.question, chunk_size=600, neighbours=0) == (
        "No information"
    )
