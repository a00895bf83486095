"""A small rule-based reader for graph unit tests: codes planted as 'The code of X is N.'

It answers each stage only from its prompt, so the tests see real information flow.
"""

from __future__ import annotations

import re

CODE = re.compile(r"The code of (\w+) is (\d+)\.")


def section(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", text, re.S)
    return m.group(1) if m else ""


def reader(stage, messages, kwargs):
    text = str(messages[-1].content)
    if stage == "normalize":
        return section(text, "request").splitlines()[0]
    if stage == "plan":
        q = section(text, "question")
        names = re.findall(r"\b([A-Z][a-z]+)\b", q.split("code of", 1)[-1])
        subs = "\n".join(f"{i}. What is the code of {n}?" for i, n in enumerate(names, 1))
        return f"<SUB-QUESTIONS>\n{subs}\n</SUB-QUESTIONS>"
    if stage == "summary":
        facts = CODE.findall(section(text, "passage"))
        return " ".join(f"The code of {n} is {c}." for n, c in facts) or "Filler."
    if stage == "map":
        q, p = section(text, "question"), section(text, "passage")
        wanted = re.findall(r"\b([A-Z][a-z]+)\b", q.split("code of", 1)[-1])
        hits = [(n, c) for n, c in CODE.findall(p) if n in wanted]
        if not hits:
            return "[NO INFORMATION]"
        facts = " ".join(f"The code of {n} is {c}." for n, c in hits)
        return (f"Extracted Information: {facts}\nRationale: stated\n"
                f"Answer: {' '.join(c for _, c in hits)}\nConfidence Score: 5")
    if stage == "collapse":
        answers = re.findall(r"^Answer: (.*)$", section(text, "findings"), re.M)
        return (f"Extracted Information: merged\nRationale: kept\nAnswer: {' '.join(answers)}\n"
                "Confidence Score: 5")
    if stage == "reduce":
        answers = re.findall(r"^Answer: (.*)$", section(text, "findings"), re.M)
        history = re.findall(r"^A\d+: (.*)$", section(text, "answered_questions"), re.M)
        return f"Rationale: combined\nAnswer: {' '.join(answers or history) or 'No information'}"
    raise AssertionError(f"unexpected stage {stage}")


FILLER = "This line is filler about gardens, rivers and the weather in spring.\n"


def document(n_lines: int, plants: dict[int, str]) -> str:
    return "".join(plants.get(i, FILLER) for i in range(n_lines))
