"""judge=reward_model: a sequence-classification reward model (judge.model) rates an answer by its scalar for the
whole conversation up to that answer, and of two answers prefers the higher one (equal scalars tie).

It loads with its own tokenizer and chat template, never the policy's model.chat_template, on the run's device.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from align.eval.judges import Judgment, PairRequest, RateRequest, Turn


class RewardModelJudge:
    def __init__(self, judge: DictConfig, on_cuda: bool) -> None:
        from align.config.schema import ModelConfig
        from align.methods import SEQUENCE_CLASSIFIER
        from align.model.load import load_model, load_tokenizer

        spec = OmegaConf.structured(ModelConfig(name="judge", name_or_path=judge.model))
        self.id = f"reward_model:{judge.model}"
        self.batch_size = judge.batch_size
        self.model = load_model(spec, on_cuda, SEQUENCE_CLASSIFIER, num_labels=1).to("cuda" if on_cuda else "cpu")
        self.tokenizer = load_tokenizer(spec)
        if self.model.config.pad_token_id is None:  # batches are padded: the classifier must find the last token
            self.model.config.pad_token_id = self.tokenizer.pad_token_id

    def rate(self, requests: list[RateRequest]) -> list[Judgment]:
        return [Judgment(score=score, raw=f"reward {score:.6g}") for score in self._scores([r.turns for r in requests])]

    def compare(self, requests: list[PairRequest]) -> list[Judgment]:
        scores = self._scores([r.turns_a for r in requests] + [r.turns_b for r in requests])
        verdicts = []
        for a, b in zip(scores[: len(requests)], scores[len(requests) :], strict=True):
            winner = "A" if a > b else "B" if b > a else "tie"
            verdicts.append(Judgment(winner=winner, raw=f"reward A {a:.6g}, B {b:.6g}"))
        return verdicts

    def _scores(self, conversations: list[tuple[Turn, ...]]) -> list[float]:
        """The scalar of each conversation, its last answer as the completion; each distinct conversation scored
        once (a pair judged in both orders holds the same two)."""
        from align.generation import reward_scores

        unique = list(dict.fromkeys(conversations))
        if not unique:
            return []
        prompts = [_messages(turns[:-1]) + [{"role": "user", "content": turns[-1].question}] for turns in unique]
        scores = reward_scores(self.model, self.tokenizer, prompts, [turns[-1].answer for turns in unique],
                               self.batch_size, desc="reward model judge")
        by_conversation = dict(zip(unique, scores, strict=True))
        return [by_conversation[turns] for turns in conversations]


def _messages(turns: tuple[Turn, ...]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in turns:
        messages += [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer}]
    return messages
