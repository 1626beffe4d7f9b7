"""The one generation engine: completions of chat or plain prompts (greedy or sampled), multi-turn conversations
answered turn by turn (each turn asked after the model's own earlier answers, resumable from an answers file), and
the scores a sequence-classification reward model gives (prompt, completion) pairs.

Batches are sorted by length, longest first (little padding, and an out-of-memory batch fails at once); results come
back in the prompts' order. Under several processes (accelerate, torchrun) the prompts are split between them and
every process gets the whole list back. `backend="vllm"` hands generation to vLLM instead (docs/generation.md).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from align.errors import DataError
from align.hardware.devices import is_main_process

BACKENDS = ("transformers", "vllm")


def prompt_text(tokenizer: Any, prompt: list[dict] | str) -> str:
    """A chat prompt rendered with the generation prompt; a plain-text prompt as it is."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def run_device(on_cuda: bool) -> str:
    """Where this process puts a model it generates or scores with: its own GPU under several processes."""
    if not on_cuda:
        return "cpu"
    return f"cuda:{os.environ['LOCAL_RANK']}" if world_size() > 1 and "LOCAL_RANK" in os.environ else "cuda"


def world_size() -> int:
    """How many processes share the work: torch.distributed's world once initialised, else the launcher's."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def generate_answers(model: Any, tokenizer: Any, prompts: list[list[dict] | str], max_new_tokens: int = 8,
                     batch_size: int = 64, num_samples: int = 1, temperature: float | None = None,
                     top_p: float = 1.0, desc: str = "exact match", backend: str = "transformers") -> list[str]:
    """Completions of prompts, batched with left padding: greedy, or `num_samples` sampled ones per prompt.

    With sampling (a temperature), `batch_size` counts completions and the result holds each prompt's
    samples next to each other: prompt 0's `num_samples` completions first. `backend="vllm"`: vLLM generates from
    the model's directory (`model` may then be the path itself).
    """
    texts = [prompt_text(tokenizer, p) for p in prompts]
    if backend == "vllm":
        return _vllm_answers(model, tokenizer, texts, max_new_tokens, num_samples, temperature, top_p)
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature is not None:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0,
                    "num_return_sequences": num_samples}
        batch_size = max(1, batch_size // num_samples)
    else:
        num_samples = 1

    def generate(batch_texts: list[str]) -> tuple[list[list[str]], int]:
        import torch

        batch = tokenizer(batch_texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
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
        decoded = [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
        grouped = [decoded[i : i + num_samples] for i in range(0, len(decoded), num_samples)]
        return grouped, int((new_tokens != tokenizer.pad_token_id).sum())

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    try:
        grouped = _across_processes(texts, lambda part: _by_length(tokenizer, part, batch_size, generate, desc),
                                    split=not weights_sharded(model), cpu=model.device.type == "cpu")
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return [answer for samples in grouped for answer in samples]


def answer_conversations(model: Any, tokenizer: Any, conversations: list[list[str]], max_new_tokens: int,
                         batch_size: int = 16, system: str | None = None, desc: str = "answering",
                         answers_path: Path | None = None, ids: list[str] | None = None,
                         backend: str = "transformers") -> list[list[str]]:
    """Greedy answers to multi-turn conversations: `conversations[i]` is question i's user turns; turn k is asked
    with the model's own answers to turns 1..k-1 in the context. Returns each conversation's answers, one per turn.

    With `answers_path` (and one id per conversation in `ids`), conversations are answered a chunk at a time and
    each finished chunk is appended to that jsonl as {"question_id", "turns"} lines; a rerun reads it back and
    answers only the ids it lacks.
    """
    if answers_path is None:
        return _answer_turns(model, tokenizer, conversations, max_new_tokens, batch_size, system, desc, backend)
    ids = _check_ids(ids, len(conversations))
    done = read_answers(answers_path)
    todo = [i for i, qid in enumerate(ids) if qid not in done]
    chunk = batch_size * world_size()  # each process answers batch_size of a chunk
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        answers = _answer_turns(model, tokenizer, [conversations[i] for i in part], max_new_tokens, batch_size,
                                system, f"{desc} [{start + len(part)}/{len(todo)}]", backend)
        if is_main_process():
            _append(answers_path, [{"question_id": ids[i], "turns": turns} for i, turns in zip(part, answers,
                                                                                              strict=True)])
        done.update({ids[i]: turns for i, turns in zip(part, answers, strict=True)})
    return [done[qid] for qid in ids]


def read_answers(path: Path) -> dict[str, list[str]]:
    """The answers already in an answers jsonl, by question id ({} when there is no file). A torn last line (a run
    killed mid-write) is dropped, and the main process rewrites the file without it."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    rows, torn = [], False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append((str(row["question_id"]), list(row["turns"])))
        except (json.JSONDecodeError, KeyError, TypeError):
            if number < len(lines):
                raise DataError(f"{path}:{number} is not an answers line {{\"question_id\": ..., \"turns\": [...]}}"
                                f": {line[:80]!r}. Delete the file to answer every question again.") from None
            torn = True
    if (torn or not text.endswith("\n")) and text and is_main_process():  # later lines are appended after a newline
        from align.outputs import write_jsonl

        write_jsonl(path, [{"question_id": qid, "turns": turns} for qid, turns in rows])
    return dict(rows)


def reward_scores(model: Any, tokenizer: Any, prompts: list[list[dict] | str], completions: list[str],
                  batch_size: int = 64, desc: str = "scoring") -> list[float]:
    """One score per (prompt, completion) from a sequence-classification reward model (num_labels=1), which scores
    with its own tokenizer's chat template."""
    texts = [
        p + c if isinstance(p, str) else tokenizer.apply_chat_template(p + [{"role": "assistant", "content": c}],
                                                                     tokenize=False)
        for p, c in zip(prompts, completions, strict=True)
    ]

    def score(batch_texts: list[str]) -> tuple[list[float], int]:
        import torch

        batch = tokenizer(batch_texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            return model(**batch).logits[:, 0].float().tolist(), 0

    was_training = model.training
    model.eval()
    try:
        return _across_processes(texts, lambda part: _by_length(tokenizer, part, batch_size, score, desc),
                                    split=not weights_sharded(model), cpu=model.device.type == "cpu")
    finally:
        model.train(was_training)


def _answer_turns(model: Any, tokenizer: Any, conversations: list[list[str]], max_new_tokens: int,
                  batch_size: int, system: str | None, desc: str, backend: str) -> list[list[str]]:
    """Every turn of `conversations`, turn 1 of all of them first, then turn 2 with the first answers in context."""
    answers: list[list[str]] = [[] for _ in conversations]
    for turn in range(max((len(c) for c in conversations), default=0)):
        pending = [i for i, c in enumerate(conversations) if len(c) > turn]
        prompts = []
        for i in pending:
            messages = [{"role": "system", "content": system}] if system else []
            for question, answer in zip(conversations[i][:turn], answers[i], strict=True):
                messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            prompts.append(messages + [{"role": "user", "content": conversations[i][turn]}])
        texts = generate_answers(model, tokenizer, prompts, max_new_tokens, batch_size,
                                 desc=f"{desc} (turn {turn + 1})", backend=backend)
        for i, text in zip(pending, texts, strict=True):
            answers[i].append(text)
    return answers


def _by_length(tokenizer: Any, texts: list[str], batch_size: int,
               run: Callable[[list[str]], tuple[list[Any], int]], desc: str) -> list[Any]:
    """`run` on batches of `texts` taken longest first; its results (one per text) in the texts' order.

    `run` returns a batch's results and how many tokens it generated, shown as tokens/s beside prompts/s on the
    main process's progress bar.
    """
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    results: list[Any] = [None] * len(texts)
    generated, started = 0, time.perf_counter()
    with tqdm(total=len(texts), desc=desc, unit="prompt", leave=False, disable=not is_main_process()) as bar:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            outputs, tokens = run([texts[i] for i in batch])
            for i, output in zip(batch, outputs, strict=True):
                results[i] = output
            generated += tokens
            bar.update(len(batch))
            if generated:
                bar.set_postfix(tokens_per_s=f"{generated / (time.perf_counter() - started):.0f}")
    return results


def weights_sharded(model: Any) -> bool:
    """The model's weights are sharded across processes (ZeRO-3, FSDP): every forward pass is a collective, so every
    process must run the same batches."""
    param = next(model.parameters(), None)
    if param is None or hasattr(param, "ds_id"):  # DeepSpeed ZeRO-3 marks the parameters it partitions
        return param is not None
    from torch.distributed.tensor import DTensor

    return isinstance(param, DTensor) or type(model).__name__ == "FullyShardedDataParallel"


def _across_processes(items: list[Any], work: Callable[[list[Any]], list[Any]], split: bool,
                      cpu: bool) -> list[Any]:
    """`work` on this process's share of `items` under several processes, gathered so that every process returns
    the results of all items in their order; `work(items)` in a single process, or in each process when `split` is
    false (sharded weights: the processes run the same batches in step). `cpu`: a model on the CPU, whose processes
    talk through gloo when no trainer has set the processes up already."""
    if world_size() == 1 or not split:
        return work(items)
    from accelerate import PartialState
    from accelerate.utils import gather_object

    with PartialState(cpu=cpu).split_between_processes(items) as share:
        done = work(list(share))
    return gather_object(done)


def _check_ids(ids: list[str] | None, count: int) -> list[str]:
    if ids is None or len(ids) != count:
        raise ValueError(f"answers_path needs one id per conversation: {count} conversations, "
                         f"{'no ids' if ids is None else f'{len(ids)} ids'}")
    ids = [str(qid) for qid in ids]
    seen: set[str] = set()
    for qid in ids:
        if qid in seen:
            raise DataError(f"question_id {qid!r} appears twice in the questions; each question needs its own id, "
                            "which names its answers in the answers file.")
        seen.add(qid)
    return ids


def _append(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append answer lines and flush them to disk, so a run killed later keeps them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        handle.flush()
        os.fsync(handle.fileno())


def _vllm_answers(model: Any, tokenizer: Any, texts: list[str], max_new_tokens: int, num_samples: int,
                  temperature: float | None, top_p: float) -> list[str]:
    """The vLLM backend: one engine per model directory, kept for the process's later calls, given the token ids
    the transformers backend would generate from; every process generates all prompts (config/machine.py refuses it
    without vllm and a CUDA GPU)."""
    from vllm import SamplingParams

    path = model if isinstance(model, str) else model.name_or_path
    params = (SamplingParams(max_tokens=max_new_tokens, temperature=0.0) if temperature is None
              else SamplingParams(max_tokens=max_new_tokens, temperature=temperature, top_p=top_p, n=num_samples))
    token_ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    outputs = _vllm_engine(str(path)).generate([{"prompt_token_ids": ids} for ids in token_ids], params)
    return [sample.text.strip() for output in outputs for sample in output.outputs]


_ENGINES: dict[str, Any] = {}


def _vllm_engine(path: str) -> Any:
    if path not in _ENGINES:
        from vllm import LLM

        _ENGINES[path] = LLM(model=path)
    return _ENGINES[path]
