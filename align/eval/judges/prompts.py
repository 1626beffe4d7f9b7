"""MT-Bench's grading prompts for an LLM judge, and the reading of its verdicts.

The layouts follow FastChat's `judge_prompts.jsonl` (single-answer and pairwise grading, each with a multi-turn and
a reference-guided variant, which MT-Bench uses for math, reasoning and coding); the instructions are our own
words. The verdict formats are FastChat's, exactly: `Rating: [[5]]` for a rating from 1 to 10, and `[[A]]`,
`[[B]]` or `[[C]]` (a tie) for a comparison. Bump VERSION whenever a prompt changes: it is part of the judge's id,
so cached judgments made with other prompts are not reused.
"""

from __future__ import annotations

import re

from align.eval.judges import Judgment, PairRequest, RateRequest, Turn

VERSION = "mt-bench-v1"

_IMPARTIAL = "Act as an impartial judge."
_GENERAL = "Weigh how helpful, relevant, accurate, deep, creative and detailed the response is."
_GUIDED = (
    "Weigh above all whether the response is correct, then how helpful it is. A reference answer is given: compare "
    "the response with it, pointing out and correcting any mistakes."
)
_RATING = (
    "Start with a short explanation and stay as objective as possible. After the explanation, rate the response "
    'on a scale of 1 to 10, writing the rating strictly in this format: "[[rating]]", for example: "Rating: [[5]]".'
)
_PAIR_GENERAL = (
    "Choose the assistant that follows the user's instructions and answers the user's question better, weighing "
    "how helpful, relevant, accurate, deep, creative and detailed each response is."
)
_PAIR_GUIDED = (
    "Choose the assistant whose answer is better, weighing above all correctness, then helpfulness. A reference "
    "answer is given: compare both responses with it, pointing out and correcting any mistakes."
)
_VERDICT = (
    "Start by comparing the two responses and explain your choice briefly. The order in which the responses are "
    "shown, their length and the assistants' names must not sway you; stay as objective as possible. After the "
    'explanation, give your final verdict strictly in this format: "[[A]]" if assistant A is better, "[[B]]" if '
    'assistant B is better, and "[[C]]" for a tie.'
)


def rating_messages(request: RateRequest) -> list[dict[str, str]]:
    """The chat messages that ask for a rating of the last turn's answer, with the earlier turns as context and
    the reference answers when the last turn has one."""
    turns = request.turns
    guided = turns[-1].reference is not None
    if len(turns) == 1:
        turn = turns[0]
        instruction = " ".join([
            _IMPARTIAL, "Evaluate the response of an AI assistant to the user question shown below.",
            _GUIDED if guided else _GENERAL, _RATING,
        ])
        parts = [f"[Instruction]\n{instruction}", f"[Question]\n{turn.question}"]
        if guided:
            parts.append(f"[The Start of Reference Answer]\n{turn.reference}\n[The End of Reference Answer]")
        parts.append(f"[The Start of Assistant's Answer]\n{turn.answer}\n[The End of Assistant's Answer]")
        return _messages("You are a helpful assistant.", "\n\n".join(parts))
    system = " ".join([
        _IMPARTIAL, "Evaluate the responses of an AI assistant in the conversation shown below, judging only its "
        "answer to the last user question.", _GUIDED if guided else _GENERAL, _RATING,
    ])
    parts = [_reference_block(turns)] if guided else []
    parts.append(_conversation(turns, "Assistant A"))
    return _messages(system, "\n\n\n".join(parts))


def pair_messages(request: PairRequest) -> list[dict[str, str]]:
    """The chat messages that ask which of two last-turn answers to the same questions is better (A is
    `turns_a`), with the reference answers when the last turn has one."""
    turns_a, turns_b = request.turns_a, request.turns_b
    guided = turns_a[-1].reference is not None
    if len(turns_a) == 1:
        turn = turns_a[0]
        system = " ".join([
            _IMPARTIAL, "Evaluate the responses of two AI assistants to the user question shown below.",
            _PAIR_GUIDED if guided else _PAIR_GENERAL, _VERDICT,
        ])
        parts = [f"[User Question]\n{turn.question}"]
        if guided:
            parts.append(f"[The Start of Reference Answer]\n{turn.reference}\n[The End of Reference Answer]")
        for name, answer in (("A", turn.answer), ("B", turns_b[0].answer)):
            parts.append(f"[The Start of Assistant {name}'s Answer]\n{answer}\n[The End of Assistant {name}'s Answer]")
        return _messages(system, "\n\n".join(parts))
    system = " ".join([
        _IMPARTIAL, "Evaluate the responses of two AI assistants in the conversations shown below, judging only "
        "their answers to the last user question.", _PAIR_GUIDED if guided else _PAIR_GENERAL, _VERDICT,
    ])
    parts = [_reference_block(turns_a)] if guided else []
    parts += [_conversation(turns_a, "Assistant A"), _conversation(turns_b, "Assistant B")]
    return _messages(system, "\n\n\n".join(parts))


def _messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _conversation(turns: tuple[Turn, ...], assistant: str) -> str:
    body = "".join(f"### User:\n{t.question}\n\n### {assistant}:\n{t.answer}\n\n" for t in turns)
    title = f"{assistant}'s Conversation with User"
    return f"<|The Start of {title}|>\n\n{body}<|The End of {title}|>"


def _reference_block(turns: tuple[Turn, ...]) -> str:
    body = "".join(f"### User:\n{t.question}\n\n### Reference answer:\n{t.reference or '(none given)'}\n\n"
                   for t in turns)
    return f"<|The Start of Reference Answer|>\n\n{body}<|The End of Reference Answer|>"


# FastChat reads the first `[[x]]`, then a single-bracket `[x]` when the judge dropped a bracket; we read the
# last one, since the format asks for the verdict after the explanation (which may quote the format).
_RATING_DOUBLE = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]")
_RATING_SINGLE = re.compile(r"\[(\d+(?:\.\d+)?)\]")
_WINNER = re.compile(r"\[\[([ABC])\]\]")
_WINNERS = {"A": "A", "B": "B", "C": "tie"}


def parse_rating(text: str) -> Judgment:
    """The rating in a judge's answer (`[[7]]`, or `[7]` as a fallback), from 1 to 10; else an unrated Judgment
    that says why."""
    found = _RATING_DOUBLE.findall(text) or _RATING_SINGLE.findall(text)
    if not found:
        return Judgment(raw=f"no rating in the format [[rating]] in the judge's answer: {text}")
    score = float(found[-1])
    if not 1 <= score <= 10:
        return Judgment(raw=f"rating {found[-1]} is outside 1-10 in the judge's answer: {text}")
    return Judgment(score=score, raw=text)


def parse_winner(text: str) -> Judgment:
    """The verdict in a judge's answer (`[[A]]`, `[[B]]`, `[[C]]` for a tie); else a Judgment without a winner
    that says why."""
    found = _WINNER.findall(text)
    if not found:
        return Judgment(raw=f"no verdict [[A]], [[B]] or [[C]] in the judge's answer: {text}")
    return Judgment(winner=_WINNERS[found[-1]], raw=text)
