"""Reference log-prob cache (align/run/ref_cache.py): the same losses and rewards with and without it, a cache hit
on the second run, no reference model in training, keys that change with what the log-probs depend on but not
with beta, waiting on a job that computes, and partial entries never read."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from align.errors import ConfigError
from align.methods import METHODS
from align.run.ref_cache import _Entry, entry_key, key_parts, model_fingerprint, ref_cache_for, rows_hash
from tests.conftest import compose_valid_cfg as compose_cfg
from tests.conftest import prepared, run_align

SMALL = ("data.num_train=64", "data.num_test=32", "data.num_exact_match=0", "method.logging_steps=1")


def _train(run_dir: Path, *overrides: str) -> tuple[dict, list[dict], str]:
    out = run_align("method=dpo", *SMALL, "method.max_steps=4", *overrides, f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    history = [e for e in json.loads((run_dir / "log_history.json").read_text()) if "loss" in e]
    return json.loads((run_dir / "metrics.json").read_text()), history, (run_dir / "align.log").read_text()


def test_cached_runs_match_an_uncached_run(tmp_path: Path):
    cache = f"cache.dir={tmp_path / 'cache'}"
    plain, plain_steps, plain_log = _train(tmp_path / "off", "cache.ref_logps=false")
    first, first_steps, first_log = _train(tmp_path / "first", "cache.ref_logps=true", cache)
    second, second_steps, second_log = _train(tmp_path / "second", "cache.ref_logps=true", cache)
    assert "reference log-probs" not in plain_log
    assert "computed and cached train, eval" in first_log
    assert "cache hit for train, eval" in second_log and "computed" not in second_log.split("reference log-probs")[1]
    keys = ("train_loss", "eval_loss", "eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/margins")
    for run, steps in ((first, first_steps), (second, second_steps)):
        for key in keys:
            assert run[key] == pytest.approx(plain[key], rel=1e-3, abs=1e-6), key
        assert len(steps) == len(plain_steps) == 4
        for step, expected in zip(steps, plain_steps, strict=True):
            for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins"):
                assert step[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-6), (key, step["step"])


@pytest.mark.parametrize(("method", "trainer", "config", "columns"), [
    ("dpo", "DPOTrainer", "DPOConfig", {"ref_chosen_logps", "ref_rejected_logps"}),
    ("kto", "KTOTrainer", "KTOConfig", {"ref_logps", "ref_KL_logps"}),
])
def test_a_cache_hit_loads_no_reference_model(method: str, trainer: str, config: str, columns: set[str],
                                              tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch):
    from align.run.trainer import build_trainer, trl_args

    def no_reference(*args, **kwargs):
        raise AssertionError("a reference model was loaded")

    monkeypatch.setattr(f"trl.trainer.{method}_trainer.create_model_from_path", no_reference)
    run = prepared(f"method={method}", *SMALL, f"cache.dir={tmp_path / 'cache'}")
    caplog.set_level("INFO", logger="align.run.ref_cache")
    for expected in ("computed and cached train, eval", "cache hit for train, eval"):
        caplog.clear()
        args = trl_args(run.cfg, run.method, tmp_path / "run", on_cuda=False)
        assert type(args).__name__ == config
        built = build_trainer(run, args, on_cuda=False)
        assert type(built).__name__ == trainer and expected in caplog.text
        assert built.ref_model is None
        assert columns <= set(built.train_dataset.column_names) and columns <= set(built.eval_dataset.column_names)


def test_the_cache_is_on_for_reference_methods_unless_the_reference_moves(tmp_path: Path, align_cache: Path):
    dpo = METHODS["dpo"]
    assert ref_cache_for(compose_cfg("method=dpo"), dpo).dir == align_cache / "ref_logps"
    assert ref_cache_for(compose_cfg("method=ipo", f"cache.dir={tmp_path}"), dpo).dir == tmp_path
    assert ref_cache_for(compose_cfg("method=dpo", "cache.ref_logps=false"), dpo) is None
    assert ref_cache_for(compose_cfg("method=dpo", "method.sync_ref_model=true"), dpo) is None
    assert ref_cache_for(compose_cfg("method=orpo"), METHODS["orpo"]) is None  # no reference model to cache
    with pytest.raises(ConfigError, match="cache.ref_logps=true .* method.sync_ref_model=true"):
        compose_cfg("method=dpo", "method.sync_ref_model=true", "cache.ref_logps=true")


def _model_dir(path: Path, weights: bytes) -> Path:
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "llama"}')
    (path / "model.safetensors").write_bytes(weights)
    (path / "tokenizer.json").write_text("{}")  # keyed through the tokenizer, not the weights
    return path


def test_the_key_follows_model_data_length_and_dtype_but_not_beta(tmp_path: Path):
    from datasets import Dataset

    rows = {"prompt": ["1 + 1", "2 + 2"], "chosen": ["2", "4"], "rejected": ["3", "5"]}
    model_a, model_b = _model_dir(tmp_path / "a", b"\x00" * 64), _model_dir(tmp_path / "b", b"\x00" * 63 + b"\x01")

    def key(path: Path = model_a, data: dict = rows, dtype: str = "torch.float32", **settings) -> str:
        args = SimpleNamespace(bf16=False, fp16=False, max_length=64, truncation_mode="keep_start", ld_alpha=None,
                               beta=0.1, loss_type=["sigmoid"], disable_dropout=True)
        vars(args).update(settings)
        model = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"), dtype=dtype)
        parts = key_parts(model_fingerprint(str(path)), model, "tokenizer", args, METHODS["dpo"].ref_settings,
                          "DPOTrainer")
        assert {"trl", "transformers", "torch"} == set(parts["versions"])  # their forward pass makes the numbers
        return entry_key({**parts, "rows": rows_hash(Dataset.from_dict(data))})

    base = key()
    assert key(beta=0.5, loss_type=["ipo"]) == base
    (model_a / "tokenizer.json").write_text('{"changed": true}')
    assert key() == base
    changed = {
        "model weights": key(path=model_b),
        "data": key(data={**rows, "rejected": ["3", "6"]}),
        "max_length": key(max_length=128),
        "dtype": key(dtype="torch.bfloat16"),
        "mixed precision": key(bf16=True),
        "reduction (ld_alpha)": key(ld_alpha=0.5),
        "dropout in the reference": key(disable_dropout=False),
    }
    assert base not in changed.values() and len(set(changed.values())) == len(changed), changed
    assert model_fingerprint("org/not-in-the-local-cache", "v1") == {"hub": "org/not-in-the-local-cache",
                                                                      "commit": "v1"}


# One process: it writes, and the barrier between processes is a no-op.
ONE_PROCESS = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: None)


def _fill(entry: _Entry) -> None:
    """What a job that computes does: stage the tokenized split, add reference columns as TRL does, commit."""
    from datasets import Dataset, concatenate_datasets

    tokenized = entry.stage(Dataset.from_dict({"prompt_ids": [[1, 2]]}))
    refs = entry.staging / "tokenized" / "cache-refs.arrow"
    Dataset.from_dict({"ref_chosen_logps": [-1.5]}).map(lambda row: row, cache_file_name=str(refs))
    entry.commit(concatenate_datasets([tokenized, Dataset.from_file(str(refs))], axis=1), tokenized)


def test_the_main_process_moves_trls_file_only_after_every_process_has_read_it(tmp_path: Path):
    """Two processes (threads here) fill one entry; the other one opens TRL's file late, as a loaded rank does."""
    import time

    from datasets import Dataset, concatenate_datasets

    barrier = threading.Barrier(2, timeout=30)
    loaded: dict[bool, dict] = {}

    def process(main: bool) -> None:
        entry = _Entry(tmp_path, "k", "train", SimpleNamespace(is_main_process=main, wait_for_everyone=barrier.wait))
        if main:
            assert entry.claim() is False
        tokenized = entry.stage(Dataset.from_dict({"prompt_ids": [[1, 2]]}))
        refs = entry.staging / "tokenized" / "cache-refs.arrow"
        if main:  # TRL: the main process writes the reference columns, a barrier, then every process reads them
            Dataset.from_dict({"ref_chosen_logps": [-1.5]}).map(lambda row: row, cache_file_name=str(refs))
        barrier.wait()
        if not main:
            time.sleep(0.5)
        with_refs = concatenate_datasets([tokenized, Dataset.from_file(str(refs))], axis=1)
        loaded[main] = entry.commit(with_refs, tokenized).to_dict()

    def run(main: bool) -> None:
        try:
            process(main)
        except Exception as error:  # e.g. FileNotFoundError: the main process moved the file before it was read
            loaded[main] = {"error": repr(error)}
            barrier.abort()

    processes = [threading.Thread(target=run, args=(main,)) for main in (True, False)]
    for thread in processes:
        thread.start()
    for thread in processes:
        thread.join(60)
    assert loaded == {main: {"prompt_ids": [[1, 2]], "ref_chosen_logps": [-1.5]} for main in (True, False)}


def test_a_partial_entry_is_never_read(tmp_path: Path):
    partial = tmp_path / "k" / "tokenized"
    partial.mkdir(parents=True)  # copied or written without entry.json
    (tmp_path / ".k.staging").mkdir()  # left by a job that died while writing
    entry = _Entry(tmp_path, "k", "train", ONE_PROCESS)
    assert entry.claim() is False
    assert not (tmp_path / ".k.staging").exists()
    _fill(entry)
    again = _Entry(tmp_path, "k", "train", ONE_PROCESS)
    assert again.claim() is True and again.load().to_dict() == {"prompt_ids": [[1, 2]], "ref_chosen_logps": [-1.5]}


def test_a_split_with_no_rows_left_is_staged_and_read_back(tmp_path: Path):
    """TRL can drop every row of a split (prompts longer than max_length); an empty table saves as 0 shards."""
    from datasets import Dataset

    entry = _Entry(tmp_path, "k", "eval", ONE_PROCESS)
    assert entry.claim() is False
    staged = entry.stage(Dataset.from_dict({"prompt_ids": []}))
    assert len(staged) == 0 and staged.column_names == ["prompt_ids"]
    entry.release()


def test_an_entry_missing_files_is_computed_again(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    stale = tmp_path / "k"
    (stale / "dataset").mkdir(parents=True)  # another layout (an older align) or files deleted by hand
    (stale / "entry.json").write_text('{"seconds": 1.0}')
    entry = _Entry(tmp_path, "k", "train", ONE_PROCESS)
    assert entry.claim() is False
    assert not stale.exists() and "incomplete; computing it again" in caplog.text
    _fill(entry)
    assert _Entry(tmp_path, "k", "train", ONE_PROCESS).claim() is True


def test_a_job_waits_for_the_job_computing_the_entry(tmp_path: Path):
    first = _Entry(tmp_path, "k", "train", ONE_PROCESS)
    assert first.claim() is False  # this job computes, holding the lock
    result: dict[str, bool] = {}
    waiter = threading.Thread(target=lambda: result.update(hit=_Entry(tmp_path, "k", "train", ONE_PROCESS).claim()))
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive() and not result
    _fill(first)
    waiter.join(30)
    assert result == {"hit": True}


def test_train_and_eval_splits_with_the_same_rows_do_not_wait_on_each_other(tmp_path: Path):
    """Both splits are open in one job at once: with one key for both it would wait forever on its own lock."""
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": f"What is {i} + 1?", "chosen": str(i + 1), "rejected": str(i)})
                             + "\n" for i in range(16)))
    out = run_align("method=dpo", "data=file", f"data.path={pairs}", "data.test_split=train", "method.max_steps=2",
                    f"cache.dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "computed and cached train, eval" in (tmp_path / "run" / "align.log").read_text()
    assert len([p for p in (tmp_path / "cache").iterdir() if (p / "entry.json").is_file()]) == 2


def test_the_key_follows_the_branch_of_a_hub_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """model.revision (SmolLM3-3B-checkpoints at it-SFT) reaches the cache, which keys the branch's commit."""
    from huggingface_hub import constants

    repo = tmp_path / "models--HuggingFaceTB--SmolLM3-3B-checkpoints"
    for ref, commit in (("main", "a" * 40), ("it-mid-training", "b" * 40), ("it-SFT", "c" * 40)):
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    cache = ref_cache_for(compose_cfg("experiment=smollm3/dpo"), METHODS["dpo"])
    assert cache.revision == "it-SFT"
    keys = {ref: model_fingerprint("HuggingFaceTB/SmolLM3-3B-checkpoints", ref) for ref in
            ("main", "it-mid-training", cache.revision)}
    assert keys["it-SFT"] == {"hub": "HuggingFaceTB/SmolLM3-3B-checkpoints", "commit": "c" * 40}
    assert len({key["commit"] for key in keys.values()}) == 3
