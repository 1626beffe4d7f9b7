"""Exact match by greedy generation on held-out prompts with verifiable answers (the arithmetic data)."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


def generate_answers(model: Any, tokenizer: Any, prompts: list[list[dict]], max_new_tokens: int = 8,
                     batch_size: int = 64) -> list[str]:
    """Greedy completions of chat prompts, batched with left padding."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    answers: list[str] = []
    try:
        for start in tqdm(range(0, len(prompts), batch_size), desc="exact match", leave=False):
            texts = [
                tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                for p in prompts[start : start + batch_size]
            ]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = batch.to(model.device)
            with torch.no_grad():
                out = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            new_tokens = out[:, batch["input_ids"].shape[1] :]
            answers += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def exact_match(model: Any, tokenizer: Any, pairs: list[tuple[list[dict], str]]) -> float:
    """Fraction of prompts whose greedy answer equals the reference exactly (after stripping)."""
    if not pairs:
        return 0.0
    predictions = generate_answers(model, tokenizer, [prompt for prompt, _ in pairs])
    return sum(pred == answer for pred, (_, answer) in zip(predictions, pairs, strict=True)) / len(pairs)
