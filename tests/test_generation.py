"""The generation engine (align/generation.py): batches sorted by length with answers in the prompts' order,
resumable multi-turn answering, the split across processes, the vLLM refusal, and the mends around it (stripped
exact match, the reward model's own chat template, the CPU device and attention)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import align.generation as generation
from align.errors import AlignError, DataError, EnvironmentProblem
from tests.conftest import cli_env, compose_cfg, run_align

PROMPTS = [
    [{"role": "user", "content": "What is 2 + 3?"}],
    "1 + 1 =",
    [{"role": "user", "content": "What is 23 + 19? Answer with the number, then explain the sum at length."}],
    "x",
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour and a number, please."}],
    "The sum of 40 and 2 is",
]


@pytest.fixture(scope="module")
def tiny():
    """(model, tokenizer) of the embedded tiny model, on the CPU."""
    from align.model.load import load_model, load_tokenizer

    cfg = compose_cfg()
    return load_model(cfg.model, False), load_tokenizer(cfg.model)


def test_sorted_batches_give_the_answers_of_one_by_one_generation_in_order(tiny, monkeypatch):
    model, tokenizer = tiny
    one_by_one = [generation.generate_answers(model, tokenizer, [p], max_new_tokens=6, batch_size=1)[0]
                  for p in PROMPTS]
    assert len(set(one_by_one)) >= 4  # distinct answers, so a shuffled order would show
    widths = []
    generate = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: widths.append(kw["input_ids"].shape[1]) or generate(**kw))
    batched = generation.generate_answers(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=3)
    assert batched == one_by_one
    assert len(widths) == 3 and widths == sorted(widths, reverse=True)  # the longest batch first
    lengths = [len(tokenizer(generation.prompt_text(tokenizer, p), add_special_tokens=False).input_ids)
               for p in PROMPTS]
    assert widths[0] == max(lengths)


def test_samples_stay_next_to_their_prompt(tiny):
    model, tokenizer = tiny
    prompts = ["1 + 1 =", PROMPTS[2], "x"]
    samples = generation.generate_answers(model, tokenizer, prompts, max_new_tokens=4, batch_size=4, num_samples=2,
                                          temperature=1e-4)  # near greedy: each prompt's two samples agree
    greedy = generation.generate_answers(model, tokenizer, prompts, max_new_tokens=4)
    assert samples == [answer for answer in greedy for _ in range(2)]


def test_the_progress_bar_counts_prompts_and_shows_tokens_per_second(tiny, monkeypatch):
    model, tokenizer = tiny
    bars = []

    class Bar:
        def __init__(self, **kwargs):
            self.kwargs, self.done, self.postfix = kwargs, 0, {}
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.done += n

        def set_postfix(self, **postfix):
            self.postfix = postfix

    monkeypatch.setattr(generation, "tqdm", Bar)
    generation.generate_answers(model, tokenizer, PROMPTS, max_new_tokens=4, batch_size=3, desc="test")
    (bar,) = bars
    assert bar.kwargs["total"] == len(PROMPTS) and bar.done == len(PROMPTS) and bar.kwargs["unit"] == "prompt"
    assert float(bar.postfix["tokens_per_s"]) > 0
    assert bar.kwargs["disable"] is False  # the main process shows it


def _fake_generation(monkeypatch) -> list[list]:
    """Replace the model by one that answers "A<turn>:<last question>" and record each call's prompts."""
    calls: list[list] = []

    def fake(model, tokenizer, prompts, max_new_tokens=8, batch_size=64, desc="", backend="transformers", **kw):
        calls.append(prompts)
        return [f"A{sum(m['role'] == 'user' for m in p)}:{p[-1]['content']}" for p in prompts]

    monkeypatch.setattr(generation, "generate_answers", fake)
    return calls


def test_the_second_turn_is_asked_after_the_models_first_answer(monkeypatch):
    calls = _fake_generation(monkeypatch)
    answers = generation.answer_conversations(None, None, [["q1", "q2"], ["only"]], 8, system="Be brief.")
    assert answers == [["A1:q1", "A2:q2"], ["A1:only"]]
    turn1, turn2 = calls
    assert len(turn1) == 2 and len(turn2) == 1  # the one-turn question is not asked again
    assert turn2[0] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "A1:q1"},
        {"role": "user", "content": "q2"},
    ]


def test_the_real_model_sees_its_first_answer_in_the_second_turn(tiny, monkeypatch):
    model, tokenizer = tiny
    rendered = []
    render = generation.prompt_text
    monkeypatch.setattr(generation, "prompt_text", lambda tok, p: rendered.append(p) or render(tok, p))
    ((first, second),) = generation.answer_conversations(model, tokenizer, [["What is 2 + 3?", "And 4 + 4?"]], 6)
    assert rendered[1][1] == {"role": "assistant", "content": first}
    assert isinstance(second, str)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_answers_are_appended_chunk_by_chunk_and_a_rerun_skips_them(tmp_path: Path, monkeypatch):
    calls = _fake_generation(monkeypatch)
    path = tmp_path / "eval" / "answers.jsonl"
    conversations = [[f"q{i}", f"r{i}"] for i in range(5)]
    ids = [f"id{i}" for i in range(5)]
    seen_lines = []
    fake = generation.generate_answers
    monkeypatch.setattr(generation, "generate_answers",
                        lambda *a, **kw: seen_lines.append(len(_lines(path)) if path.exists() else 0) or fake(*a, **kw))
    first = generation.answer_conversations(None, None, conversations[:3], 8, batch_size=2, answers_path=path,
                                            ids=ids[:3])
    assert seen_lines == [0, 0, 2, 2]  # chunk 1 (2 conversations, 2 turns) written before chunk 2 starts
    assert [json.loads(line) for line in _lines(path)] == [
        {"question_id": f"id{i}", "turns": [f"A1:q{i}", f"A2:r{i}"]} for i in range(3)]

    with path.open("a") as handle:  # a run killed while writing its next line
        handle.write('{"question_id": "id3", "tur')
    calls.clear()
    answers = generation.answer_conversations(None, None, conversations, 8, batch_size=2, answers_path=path, ids=ids)
    assert answers[:3] == first and answers[3:] == [["A1:q3", "A2:r3"], ["A1:q4", "A2:r4"]]
    assert [p[-1]["content"] for p in calls[0]] == ["q3", "q4"]  # only the unanswered ids
    rows = [json.loads(line) for line in _lines(path)]  # every line parses: the torn one is gone
    assert [row["question_id"] for row in rows] == ids

    calls.clear()
    assert generation.answer_conversations(None, None, conversations, 8, answers_path=path, ids=ids) == answers
    assert calls == [] and len(_lines(path)) == 5


def test_a_broken_line_before_the_last_is_an_error_naming_the_file(tmp_path: Path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"question_id": "a", "turns": ["x"]}\nnot json\n{"question_id": "b", "turns": ["y"]}\n')
    with pytest.raises(DataError, match=r"answers.jsonl:2"):
        generation.read_answers(path)


def test_ids_must_be_unique(tmp_path: Path):
    with pytest.raises(DataError, match="question_id 'a' appears twice"):
        generation.answer_conversations(None, None, [["q"], ["r"]], 8, answers_path=tmp_path / "a.jsonl",
                                        ids=["a", "a"])


@pytest.mark.slow
def test_two_processes_split_the_prompts_and_each_gets_every_answer(tiny, tmp_path: Path):
    """A real 2-process gloo run (torchrun): rank 0 generates 4 prompts, rank 1 3, both return all 7 in order,
    and only rank 0 writes the answers file."""
    model, tokenizer = tiny
    expected = generation.generate_answers(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=2)
    script = tmp_path / "two.py"
    script.write_text(
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from tests.conftest import compose_cfg\n"
        "from tests.test_generation import PROMPTS\n"
        "import align.generation as g\n"
        "from align.model.load import load_model, load_tokenizer\n"
        "cfg = compose_cfg()\n"
        "model, tokenizer = load_model(cfg.model, False), load_tokenizer(cfg.model)\n"
        "shares = []\n"
        "by_length = g._by_length\n"
        "g._by_length = lambda tok, texts, *a: shares.append(len(texts)) or by_length(tok, texts, *a)\n"
        "answers = g.generate_answers(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=2)\n"
        "turns = g.answer_conversations(model, tokenizer, [['a', 'b']] * 5, 4, batch_size=2,\n"
        "                               answers_path=Path(sys.argv[1]) / 'answers.jsonl', ids=list('abcde'))\n"
        "out = Path(sys.argv[1]) / f\"rank{os.environ['RANK']}.json\"\n"
        "out.write_text(json.dumps({'answers': answers, 'share': shares[0], 'turns': turns}))\n"
    )
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script),
                          str(tmp_path)], env=cli_env(OMP_NUM_THREADS="1"), capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["share"] for r in ranks] == [4, 3]
    assert ranks[0]["answers"] == ranks[1]["answers"] == expected
    assert ranks[0]["turns"] == ranks[1]["turns"] and len(ranks[0]["turns"]) == 5
    assert [json.loads(line)["question_id"] for line in _lines(tmp_path / "answers.jsonl")] == list("abcde")


def test_vllm_is_refused_naming_generation_backend_without_vllm_or_cuda():
    from align.config.machine import check_machine

    with pytest.raises(EnvironmentProblem, match=r"generation\.backend=vllm .* CUDA GPU and the vllm package"):
        check_machine(compose_cfg("generation.backend=vllm"), gpus=0)
    with pytest.raises(AlignError, match=r"generation\.backend"):
        check_machine(compose_cfg("generation.backend=tensorrt"), gpus=0)
    check_machine(compose_cfg(), gpus=0)  # the default generates with transformers


def test_the_command_line_refuses_vllm_before_loading_a_model(tmp_path: Path):
    out = run_align("method=rejection_sampling", "generation.backend=vllm", f"hydra.run.dir={tmp_path / 'run'}",
                    timeout=120)
    assert out.returncode == 2
    assert "generation.backend" in out.stderr + out.stdout
    assert not (tmp_path / "run").exists()


def test_generation_defaults():
    cfg = compose_cfg()
    assert (cfg.generation.backend, cfg.generation.batch_size) == ("transformers", 16)


def test_exact_match_strips_both_sides():
    from align.eval.exact_match import verify

    assert verify("42", " 42").strict and verify("42\n", " 42 ").extracted
    assert not verify("42", " 43").strict


def test_the_reward_model_scores_with_its_own_chat_template(tmp_path: Path, monkeypatch):
    import shutil

    from align.methods import rejection_sampling
    from align.model.load import load_tokenizer, model_path

    own = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    reward_dir = tmp_path / "reward"
    policy = compose_cfg().model
    shutil.copytree(model_path(policy), reward_dir)
    tokenizer = load_tokenizer(policy)
    tokenizer.chat_template = own
    tokenizer.save_pretrained(reward_dir)
    cfg = compose_cfg("method=rejection_sampling", f"method.reward_model={reward_dir}", "model.chat_template=zephyr")
    assert load_tokenizer(cfg.model).chat_template != own  # the policy's override
    seen = {}

    def scores(model, tok, prompts, completions, batch_size=64, desc=""):
        seen.update(template=tok.chat_template, device=str(model.device), head=model.config.num_labels)
        return [0.0] * len(prompts)

    monkeypatch.setattr(generation, "reward_scores", scores)
    got, strict = rejection_sampling._score(cfg, False, [[{"role": "user", "content": "q"}]], ["a"], None)
    assert (got, strict) == ([0.0], None)
    assert seen == {"template": own, "device": "cpu", "head": 1}


def test_a_cpu_model_never_gets_flash_attention(monkeypatch):
    import importlib.util

    from align.model.load import resolve_attn_implementation

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "flash_attn"
                        else find_spec(name, *a))
    assert resolve_attn_implementation("auto", on_cuda=False) == "sdpa"
    assert resolve_attn_implementation("auto", on_cuda=True) == "flash_attention_2"
    with pytest.raises(EnvironmentProblem, match="flash_attention_2"):
        resolve_attn_implementation("flash_attention_2", on_cuda=False)


def test_run_device(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert generation.run_device(False) == "cpu" and generation.run_device(True) == "cuda"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert generation.run_device(True) == "cuda:1" and generation.run_device(False) == "cpu"
