"""Generation from a model: completions of chat or plain prompts, greedy or sampled, in left-padded batches;
multi-turn conversations answered turn by turn (each turn asked after the model's own earlier answers); and the
scores a sequence-classification reward model gives (prompt, completion) pairs."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


def prompt_text(tokenizer: Any, prompt: list[dict] | str) -> str:
    """A chat prompt rendered with the generation prompt; a plain-text prompt as it is."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def generate_answers(model: Any, tokenizer: Any, prompts: list[list[dict] | str], max_new_tokens: int = 8,
                     batch_size: int = 64, num_samples: int = 1, temperature: float | None = None,
                     top_p: float = 1.0, desc: str = "exact match") -> list[str]:
    """Completions of prompts, batched with left padding: greedy, or `num_samples` sampled ones per prompt.

    With sampling (a temperature), `batch_size` counts completions and the result holds each prompt's
    samples next to each other: prompt 0's `num_samples` completions first.
    """
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    answers: list[str] = []
    sampling = {"do_sample": False}
    if temperature is not None:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0,
                    "num_return_sequences": num_samples}
        batch_size = max(1, batch_size // num_samples)
    try:
        for start in tqdm(range(0, len(prompts), batch_size), desc=desc, leave=False):
            texts = [prompt_text(tokenizer, p) for p in prompts[start : start + batch_size]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = batch.to(model.device)
            with torch.no_grad():
                out = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    use_cache=True,  # training with activation checkpointing leaves config.use_cache false
                    **sampling,
                )
            new_tokens = out[:, batch["input_ids"].shape[1] :]
            answers += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def answer_conversations(model: Any, tokenizer: Any, conversations: list[list[str]], max_new_tokens: int,
                         batch_size: int = 16, system: str | None = None, desc: str = "answering") -> list[list[str]]:
    """Greedy answers to multi-turn conversations: `conversations[i]` is question i's user turns; turn k is asked
    with the model's own answers to turns 1..k-1 in the context. Returns each conversation's answers, one per turn."""
    answers: list[list[str]] = [[] for _ in conversations]
    for turn in range(max((len(c) for c in conversations), default=0)):
        pending = [i for i, c in enumerate(conversations) if len(c) > turn]
        prompts = []
        for i in pending:
            messages = [{"role": "system", "content": system}] if system else []
            for question, answer in zip(conversations[i][:turn], answers[i], strict=True):
                messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            prompts.append(messages + [{"role": "user", "content": conversations[i][turn]}])
        for i, text in zip(pending, generate_answers(model, tokenizer, prompts, max_new_tokens, batch_size,
                                                     desc=f"{desc} (turn {turn + 1})"), strict=True):
            answers[i].append(text)
    return answers


def reward_scores(model: Any, tokenizer: Any, prompts: list[list[dict] | str], completions: list[str],
                  batch_size: int = 64, desc: str = "scoring") -> list[float]:
    """One score per (prompt, completion) from a sequence-classification reward model (num_labels=1)."""
    import torch

    texts = [
        p + c if isinstance(p, str) else tokenizer.apply_chat_template(p + [{"role": "assistant", "content": c}],
                                                                     tokenize=False)
        for p, c in zip(prompts, completions, strict=True)
    ]
    was_training = model.training
    model.eval()
    scores: list[float] = []
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, leave=False):
            batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            with torch.no_grad():
                scores += model(**batch).logits[:, 0].float().tolist()
    finally:
        model.train(was_training)
    return scores
