"""A deterministic reader that plays every LongCePO stage from the prompt text alone.

It finds the stage from the prompt's tags, parses the sections the templates in `prompts/`
write, and answers only from what those sections contain: a fact the passage does not state,
or a hop the answered questions do not resolve, stays unanswered. That is what lets tests tell
a pipeline that passes context correctly from one that does not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from longcepo.prompts.map_chunk import NO_INFORMATION
from longcepo.prompts.plan import CLOSE_TAG, OPEN_TAG
from longcepo.prompts.reminders import REMINDERS
from longcepo.prompts.render import NO_FINDINGS

from llm_double import grammar

logger = logging.getLogger(__name__)

STAGES = ("normalize", "plan", "summary", "map", "collapse", "reduce", "direct")
UNKNOWN = "unknown"
NO_ANSWER = "No information"

_OPTION_RE = re.compile(r"^\s*(?:\(([A-Ha-h])\)|([A-Ha-h])[.):])\s+(\S.*?)\s*$")
_OPTIONS_HEADER_RE = re.compile(r"^\s*(?:options|choices|answer choices)\s*:?\s*$", re.I)
_INSTRUCTION_RE = re.compile(
    r"^(?:please\s+)?(?:answer|respond|reply|give|write|choose|select|pick|output|return|"
    r"provide|use|only|do not|don't|keep|be|format|think|explain|put|read)\b",
    re.I,
)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.?!])\s+")
_HEADER_RE = re.compile(r"^Information of (?P<label>Chunks? [^:\n]+):[ \t]*$", re.M)
_FIELDS = ("Extracted Information", "Rationale", "Answer", "Confidence Score")
_FIELD_RE = re.compile(rf"^\s*({'|'.join(_FIELDS)})\s*:\s*(.*)$")
_QA_RE = re.compile(r"^([QA])(\d+):[ \t]*(.*)$", re.M)
_MAX_SUBS_RE = re.compile(r"at most (\d+)")


@dataclass(frozen=True)
class Reading:
    """What the reader makes of one request: its stage, the proper reply, and a bad one."""

    stage: str
    text: str
    malformed: str


@dataclass(frozen=True)
class Finding:
    """One parsed four-field finding."""

    label: str
    extracted: str
    rationale: str
    answer: str
    confidence: float


def message_text(message: Mapping[str, Any]) -> str:
    """A chat message's content as text, whether a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _section(text: str, tag: str) -> str | None:
    """The text between `<tag>` and `</tag>`, stripped; None if the tag is absent."""
    start = text.find(f"<{tag}>")
    if start < 0:
        return None
    start += len(tag) + 2
    end = text.find(f"</{tag}>", start)
    return text[start : end if end >= 0 else len(text)].strip()


def _without_reminders(text: str) -> str:
    for reminder in REMINDERS.values():
        text = text.replace(reminder, "")
    return text


def _stage_of(text: str) -> str:
    """The stage a prompt belongs to, from its tags."""
    if "<request>" in text:
        return "normalize"
    if "<document>" in text:
        return "direct"
    if OPEN_TAG in text and "<question>" in text:
        return "plan"
    if "<passage>" in text:
        return "map" if "<summaries_before>" in text else "summary"
    if "<findings>" in text:
        tail = text[text.rfind("</question>") :] if "</question>" in text else text
        return "collapse" if "Confidence Score:" in tail else "reduce"
    return UNKNOWN


def find_prompt(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The (stage, prompt text) of a conversation: the latest user message with stage tags.

    Format reminders (an extra user message, or text appended to the prompt) are ignored, so a
    retry is answered as the original stage.
    """
    users = [m for m in messages if m.get("role") == "user"] or list(messages)
    for message in reversed(users):
        text = _without_reminders(message_text(message))
        stage = _stage_of(text)
        if stage != UNKNOWN:
            return stage, text
    return UNKNOWN, message_text(users[-1]) if users else ""


def detect_stage(messages: Sequence[Mapping[str, Any]]) -> str:
    """The stage of a request, or "unknown"."""
    return find_prompt(messages)[0]


def read(messages: Sequence[Mapping[str, Any]], stage_hint: str | None = None) -> Reading:
    """Answer a chat request as the stage its prompt belongs to.

    `stage_hint` (the `X-Longcepo-Stage` header) is only compared and logged: the reply is
    computed from the prompt text alone, so a product that sends the wrong prompt fails.
    """
    stage, text = find_prompt(messages)
    if stage_hint and stage_hint != stage:
        logger.debug("stage hint %r but the prompt reads as %r", stage_hint, stage)
    handler = _HANDLERS.get(stage)
    if handler is None:
        return Reading(stage, "I am not sure what you are asking.", "???")
    good, bad = handler(text)
    return Reading(stage, good, bad)


def reply(messages: Sequence[Mapping[str, Any]]) -> str:
    """The proper reply text to a chat request."""
    return read(messages).text


# ---------------------------------------------------------------------------------------------
# Stages. Each returns (proper reply, malformed reply).


def _normalize(text: str) -> tuple[str, str]:
    request = _section(text, "request") or ""
    kept: list[str] = []
    for line in request.splitlines():
        if not line.strip() or _OPTION_RE.match(line) or _OPTIONS_HEADER_RE.match(line):
            continue
        kept += [
            s
            for s in _SENTENCE_SPLIT_RE.split(line.strip())
            if s and not (_INSTRUCTION_RE.match(s) and not s.endswith("?"))
        ]
    questions = [s for s in kept if s.endswith("?")]
    bare = " ".join(questions or kept) or " ".join(request.split())
    bad = f"Sure! Here is what the user wants to know:\n\n**{bare}**\n\nI hope this helps."
    return bare, bad


def plan_questions(question: str, max_sub_questions: int | None = None) -> list[str]:
    """One sub-question per hop, innermost first; a simple question stays one."""
    chain = grammar.parse_question(question)
    if chain is None:
        return [" ".join(question.split())]
    subs = [chain.prefix(k).question() for k in range(1, len(chain.relations) + 1)]
    if max_sub_questions and len(subs) > max_sub_questions:
        subs = subs[: max_sub_questions - 1] + subs[-1:]
    return subs


def _plan(text: str) -> tuple[str, str]:
    question = _section(text, "question") or ""
    cap = _MAX_SUBS_RE.search(text[: text.find("<question>")])
    subs = plan_questions(question, int(cap.group(1)) if cap else None)
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(subs, 1))
    bad = "Here is how I would approach it:\n" + "\n".join(f"- {s}" for s in subs)
    return f"{OPEN_TAG}\n{numbered}\n{CLOSE_TAG}", bad


def _summary(text: str) -> tuple[str, str]:
    passage = _section(text, "passage") or ""
    facts = grammar.find_fact_sentences(passage)
    rest = passage
    for sentence in facts:
        rest = rest.replace(sentence, " ")
    gist = " ".join(rest.split()[:8])
    if facts:
        tail = f' The rest of the passage is essay text beginning "{gist}".' if gist else ""
        good = " ".join(facts) + tail
    else:
        good = (
            f'The passage is essay text beginning "{gist}". '
            "It says nothing specific about the question."
        )
    bad = "The passage discusses many things. " * 200
    return good, bad.strip()


def parse_qa_history(text: str) -> dict[tuple[tuple[str, ...], str], str]:
    """Answered questions keyed by their parsed chain; unanswered ones are left out."""
    questions: dict[str, str] = {}
    answers: dict[str, str] = {}
    for kind, n, value in _QA_RE.findall(text):
        (questions if kind == "Q" else answers)[n] = value.strip()
    out = {}
    for n, question in questions.items():
        answer = answers.get(n, "")
        chain = grammar.parse_question(question)
        if chain and answer and NO_ANSWER.lower() not in answer.lower():
            out[(chain.relations, chain.entity)] = answer
    return out


def _resolve_from_qa(
    qa: Mapping[tuple[tuple[str, ...], str], str], chain: grammar.Chain, hop: int, current: str
) -> str | None:
    """The value of hop `hop` (0-based) from the answered questions, either phrasing."""
    prefix = chain.prefix(hop + 1)
    return qa.get((prefix.relations, prefix.entity)) or qa.get(((chain.relations[hop],), current))


def _map(text: str) -> tuple[str, str]:
    passage = grammar.index_facts(_section(text, "passage") or "")
    around = [_section(text, tag) or "" for tag in ("summaries_before", "summaries_after")]
    neighbours = grammar.index_facts("\n".join(around))
    qa = parse_qa_history(_section(text, "answered_questions") or "")
    chain = grammar.parse_question(_section(text, "question") or "")
    found = _answer_from_passage(chain, passage, neighbours, qa) if chain else None
    if found is None:
        return NO_INFORMATION, (
            "This chunk talks about other things, so I cannot say much about the question."
        )
    evidence, rationale, answer, confidence = found
    good = _four_fields(" ".join(evidence), rationale, answer, confidence)
    bad = f"[YES INFORMATION] The passage seems relevant. I think it is probably {answer}."
    return good, bad


def _answer_from_passage(
    chain: grammar.Chain,
    passage: grammar.FactIndex,
    neighbours: grammar.FactIndex,
    qa: Mapping[tuple[tuple[str, ...], str], str],
) -> tuple[list[str], str, str, int] | None:
    """Walk the chain: inner hops from the passage or the QA history, the last from the passage.

    Returns (evidence sentences, rationale, answer, confidence), or None when the passage
    does not state what the question needs.
    """
    current = chain.entity
    evidence: list[str] = []
    steps: list[str] = []
    for hop, rel in enumerate(chain.relations[:-1]):
        if (rel, current) in passage.whole:
            value, sentence = passage.whole[(rel, current)]
            evidence.append(sentence)
            steps.append(f"the passage says the {rel} of {current} is {value}")
        else:
            from_qa = _resolve_from_qa(qa, chain, hop, current)
            if from_qa is None:
                return None
            value = from_qa
            steps.append(f"an answered question gives {value} as the {rel} of {current}")
        current = value
    key = (chain.relations[-1], current)
    if key in passage.whole:
        value, sentence = passage.whole[key]
        steps.append(f"the passage states the {key[0]} of {current} is {value}")
        return [*evidence, sentence], "; ".join(steps) + ".", value, 5
    first = passage.first.get(key) or neighbours.first.get(key)
    second = passage.second.get(key) or neighbours.second.get(key)
    in_passage = [h for h in (passage.first.get(key), passage.second.get(key)) if h]
    if not (first and second and in_passage):
        return None
    both_here = len(in_passage) == 2
    steps.append(
        f"the {key[0]} of {current} has two parts, {first[0]} and {second[0]}"
        + ("" if both_here else ", one of them from a neighbouring chunk's summary")
    )
    answer = grammar.join_split(first[0], second[0])
    quoted = [h[1] for h in in_passage] + (
        []
        if both_here
        else [f"(neighbour summary: {(second if first in in_passage else first)[1]})"]
    )
    return [*evidence, *quoted], "; ".join(steps) + ".", answer, 5 if both_here else 4


def _four_fields(extracted: str, rationale: str, answer: str, confidence: float) -> str:
    score = int(confidence) if float(confidence).is_integer() else confidence
    return (
        f"Extracted Information: {extracted}\nRationale: {rationale}\nAnswer: {answer}\n"
        f"Confidence Score: {score}"
    )


def parse_findings(text: str) -> list[Finding]:
    """Findings as `prompts/render.py` writes them: a header line, then the four fields."""
    if not text or NO_FINDINGS in text:
        return []
    headers = list(_HEADER_RE.finditer(text))
    blocks = (
        [
            (h["label"], text[h.end() : nxt.start() if nxt else len(text)])
            for h, nxt in zip(headers, [*headers[1:], None], strict=True)
        ]
        if headers
        else [("findings", text)]
    )
    out = []
    for label, block in blocks:
        fields: dict[str, list[str]] = {}
        current = None
        for line in block.splitlines():
            m = _FIELD_RE.match(line)
            if m:
                current = m.group(1)
                fields[current] = [m.group(2)]
            elif current:
                fields[current].append(line)
        if "Answer" not in fields:
            continue
        joined = {k: "\n".join(v).strip() for k, v in fields.items()}
        score = re.search(r"\d+(?:\.\d+)?", joined.get("Confidence Score", ""))
        out.append(
            Finding(
                label.strip(),
                joined.get("Extracted Information", ""),
                joined.get("Rationale", ""),
                joined["Answer"],
                float(score.group(0)) if score else 0.0,
            )
        )
    return out


def _best(findings: Sequence[Finding]) -> Finding:
    """The most confident finding; the earliest wins a tie."""
    return max(reversed(findings), key=lambda f: f.confidence)


def _collapse(text: str) -> tuple[str, str]:
    findings = parse_findings(_section(text, "findings") or "")
    if not findings:
        good = _four_fields("", "No finding was given.", NO_ANSWER, 0)
        return good, "Nothing to merge here, really."
    best = _best(findings)
    rationale = (
        f"Merged {len(findings)} findings; the most confident one ({best.label}, score "
        f"{best.confidence:g}) answers {best.answer}."
    )
    extracted = " ".join(f.extracted for f in findings if f.extracted)
    good = _four_fields(extracted, rationale, best.answer, best.confidence)
    return good, f"**Merged finding**: the chunks agree that it is {best.answer}, mostly."


def _options(question: str) -> dict[str, str]:
    """Multiple-choice options in the question, answer text (lower case) -> letter."""
    out = {}
    for line in question.splitlines():
        m = _OPTION_RE.match(line)
        if m:
            out[m.group(3).strip().lower()] = (m.group(1) or m.group(2)).upper()
    return out


def _reduce(text: str) -> tuple[str, str]:
    question = _section(text, "question") or ""
    findings = parse_findings(_section(text, "findings") or "")
    if findings:
        best = _best(findings)
        answer = best.answer
        rationale = f"The most confident finding ({best.label}, {best.confidence:g}) says so."
    else:
        answer, rationale = _answer_from_history(question, text)
    letter = _options(question).get(answer.lower())
    if letter:
        rationale += f" That is option {letter}."
        answer = letter
    return f"Rationale: {rationale}\nAnswer: {answer}", f"Based on the findings, I think {answer}."


def _answer_from_history(question: str, text: str) -> tuple[str, str]:
    """With no findings, answer only if the answered questions resolve every hop."""
    chain = grammar.parse_question(question)
    qa = parse_qa_history(_section(text, "answered_questions") or "")
    if chain is None:
        return NO_ANSWER, "No chunk held information and the question could not be parsed."
    current = chain.entity
    for hop in range(len(chain.relations)):
        value = _resolve_from_qa(qa, chain, hop, current)
        if value is None:
            return NO_ANSWER, "No chunk held information on this question."
        current = value
    return current, "No chunk held new information; the answered questions resolve it."


def _direct(text: str) -> tuple[str, str]:
    """A one-call baseline: every hop must be stated in the document it was shown."""
    question = _section(text, "question") or ""
    chain = grammar.parse_question(question)
    found = _answer_from_passage(chain, grammar.index_facts(_section(text, "document") or ""),
                                 grammar.index_facts(""), {}) if chain else None
    answer, rationale = (found[2], found[1]) if found else (NO_ANSWER, "The document is silent.")
    letter = _options(question).get(answer.lower())
    answer = letter or answer
    return f"Rationale: {rationale}\nAnswer: {answer}", f"I believe it is {answer}."


_HANDLERS = {
    "normalize": _normalize,
    "plan": _plan,
    "summary": _summary,
    "map": _map,
    "collapse": _collapse,
    "reduce": _reduce,
    "direct": _direct,
}
