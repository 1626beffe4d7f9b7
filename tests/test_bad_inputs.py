"""The bad-input catalogue: every entry is a real `python -m align` run into a run directory that already holds
an earlier run's files. Each must exit 2 with one `align: error:` paragraph naming what is wrong, show no
traceback, and leave the earlier files byte-identical (and add none)."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import cli_env

PAIR = {"prompt": "What is 1 + 1?", "chosen": "2", "rejected": "3"}

# Found once training has begun: the run directory gets this run's .hydra/, run_info.json and align.log (and a
# torn checkpoint), but every earlier file stays as it was. Everything found before (even after the model and
# tokenizer loaded) leaves the directory exactly as it was.
LATE = {"disk-full-during-checkpoint"}

# file name -> content (bytes), written once into the catalogue's data directory
FILES = {
    "pairs.jsonl": (json.dumps(PAIR) + "\n") * 8,
    "empty.jsonl": "",
    "malformed.jsonl": json.dumps(PAIR) + '\n{"prompt": "a", bad\n',
    "no_rejected.jsonl": (json.dumps(PAIR) + "\n") * 2 + json.dumps({"prompt": "a", "chosen": "b"}) + "\n",
    "sft.jsonl": json.dumps({"prompt": "a", "completion": "b"}) + "\n",
    "text.jsonl": json.dumps({"text": "plain text"}) + "\n",
    "latin1.jsonl": b'{"text": "caf\xe9"}\n',
    "empty_prompt.jsonl": json.dumps({**PAIR, "prompt": ""}) + "\n" + json.dumps(PAIR) + "\n",
    "too_long.jsonl": (json.dumps({**PAIR, "prompt": "one two three " * 400}) + "\n") * 3,
    "no_config/weights.bin": "",
    "unknown_arch/config.json": json.dumps({"model_type": "nonsense"}),
    "torn/checkpoint-10/trainer_state.json": json.dumps({"global_step": 10}),
    # `import wandb` fails and find_spec("wandb") is None, as if the package were not installed
    "no_wandb/sitecustomize.py": "import sys\nsys.modules['wandb'] = None\n",
}

CATALOGUE = [
    # ---- config values: wrong type, out of range, unknown key, unknown option, incompatible combination
    ("beta-negative", ["method=dpo", "method.beta=-1"], "method.beta: -1.0. Expected a positive number"),
    ("lr-not-a-number", ["method.learning_rate=abc"], "method.learning_rate: 'abc'"),
    ("max-steps-float", ["method.max_steps=1.5"], "method.max_steps: 1.5"),
    ("unknown-method-key", ["+method.no_such_field=1"], "Unknown config key 'method.no_such_field'"),
    ("misspelt-method-key", ["+method.lerning_rate=1e-5"], "Did you mean method.learning_rate"),
    ("unknown-method", ["method=nonexistent"], "Unknown option 'nonexistent' for config group 'method'"),
    ("unknown-model", ["model=nonexistent"], "Unknown option 'nonexistent' for config group 'model'"),
    ("unknown-data", ["data=nonexistent"], "Unknown option 'nonexistent' for config group 'data'"),
    ("unknown-hardware", ["hardware=nonexistent"], "Unknown option 'nonexistent' for config group 'hardware'"),
    ("unknown-peft", ["peft=nonexistent"], "Unknown option 'nonexistent' for config group 'peft'"),
    ("unknown-tracking", ["tracking=nonexistent"], "Unknown option 'nonexistent' for config group 'tracking'"),
    ("bad-loss-type", ["method=dpo", "method.loss_type=nope"], "method.loss_type: 'nope'. Expected one of sigmoid"),
    ("lora-rank-zero", ["peft=lora", "peft.r=0"], "peft.r: 0. Expected a positive integer"),
    ("lora-dropout-range", ["peft=lora", "peft.lora_dropout=1.5"], "peft.lora_dropout: 1.5"),
    ("processes-zero", ["hardware.num_processes=0"], "hardware.num_processes: 0"),
    ("zero-stage-5", ["hardware.zero_stage=5"], "hardware.zero_stage: 5"),
    ("num-train-zero", ["data.num_train=0"], "data.num_train: 0"),
    ("too-few-problems-to-evaluate", ["method=evaluate", "data.max_operand=9"],
     "data.num_train + data.num_test = 3000 but only 100 distinct problems exist for data.max_operand=9"),
    ("wandb-project-slash", ["tracking=wandb", "tracking.project=a/b"], "tracking.project: 'a/b'"),
    ("qlora-merge", ["peft=qlora", "peft.merge=true"], "peft.merge: True. Expected false with peft=qlora"),
    ("fsdp-qlora-without-qlora", ["hardware=fsdp_qlora"], "choose peft=qlora with it"),
    ("cache-with-moving-reference", ["method=dpo", "cache.ref_logps=true", "method.sync_ref_model=true"],
     "method.sync_ref_model=true updates the reference"),
    ("dry-run-not-bool", ["dry_run=maybe"], "dry_run: 'maybe'"),
    ("push-without-token", ["method.push_to_hub=true", "method.hub_model_id=me/x"], "needs a Hugging Face token"),
    ("chat-template-typo", ["model.chat_template=zepyhr"], "model.chat_template: 'zepyhr'"),
    ("unparsable-override", ["method.beta=0.1)"], "Could not parse the command-line override"),
    # ---- data
    ("missing-file", ["method=dpo", "data=file", "data.path=missing.jsonl"], "data.path: 'missing.jsonl'"),
    ("empty-file", ["method=dpo", "data=file", "data.path=empty.jsonl"], "has no rows"),
    ("malformed-line", ["method=dpo", "data=file", "data.path=malformed.jsonl"], "malformed.jsonl:2 is not valid JSON"),
    ("missing-column-in-a-row", ["method=dpo", "data=file", "data.path=no_rejected.jsonl"],
     "no_rejected.jsonl line 3 has no 'rejected'"),
    ("sft-data-for-dpo", ["method=dpo", "data=file", "data.path=sft.jsonl"], "trains on preference data"),
    ("sft-data-for-kto", ["method=kto", "data=file", "data.path=sft.jsonl"], "trains on unpaired data"),
    ("text-for-reward", ["method=reward", "data=file", "data.path=text.jsonl"], "trains on preference data"),
    ("pairs-for-cpt", ["method=cpt", "data=file", "data.path=pairs.jsonl"], "trains on text data"),
    ("not-utf8", ["method=cpt", "data=file", "data.path=latin1.jsonl"], "latin1.jsonl:1 is not UTF-8 text"),
    ("empty-prompt", ["method=dpo", "data=file", "data.path=empty_prompt.jsonl"], "line 1 has an empty 'prompt'"),
    ("every-row-too-long", ["method=dpo", "data=file", "data.path=too_long.jsonl", "method.max_steps=1"],
     "TRL drops rows whose prompt alone fills method.max_length"),
    ("every-reward-pair-too-long", ["method=reward", "data=file", "data.path=too_long.jsonl", "method.max_steps=1"],
     "TRL drops pairs whose chosen or rejected conversation is longer than method.max_length"),
    ("weight-above-one", ["method=dpo", "data=mixture", "data.sources=[{path: pairs.jsonl, weight: 1.5}]"],
     "data.sources[0].weight: 1.5"),
    ("empty-mixture", ["method=dpo", "data=mixture"], "data.sources: []"),
    ("split-that-does-not-exist", ["method=dpo", "data=file", "data.path=pairs.jsonl", "data.split=validation"],
     "data.split='validation' does not exist"),
    ("unknown-data-format", ["method=dpo", "data=file", "data.path=pairs.jsonl", "data.format=xml"],
     "data.format: 'xml'"),
    ("unreconcilable-mixture", ["method=dpo", "data=mixture", "data.sources=[{path: pairs.jsonl}, {path: sft.jsonl}]"],
     "cannot be reconciled"),
    # ---- model paths
    ("model-dir-missing", ["model.name_or_path=/nonexistent/model"], "No such directory exists"),
    ("model-dir-without-config", ["model.name_or_path=no_config"], "Expected a model directory with a config.json"),
    ("unknown-architecture", ["model.name_or_path=unknown_arch"], "does not recognize this architecture"),
    ("tokenizer-dir-missing", ["model.tokenizer_name_or_path=/nonexistent/tokenizer"],
     "Invalid value for model.tokenizer_name_or_path: '/nonexistent/tokenizer'"),
    ("tokenizer-dir-without-tokenizer", ["model.tokenizer_name_or_path=no_config"],
     "Expected a tokenizer directory with a tokenizer_config.json"),
    # ---- environment: no GPU for a GPU-only option, missing optional dependency
    ("qlora-without-cuda", ["peft=qlora"], "needs a CUDA GPU and the bitsandbytes package"),
    ("cuda-device-missing", ["hardware.device=cuda"], "no CUDA GPU is visible"),
    ("flash-attention-missing", ["model.attn_implementation=flash_attention_2"], "pip install flash-attn"),
    ("liger-without-cuda", ["method.use_liger_kernel=true"], "need a CUDA GPU and the liger-kernel package"),
    ("ddp-without-process-count", ["hardware=ddp"], "a number of CPU processes for hardware=ddp"),
    ("wandb-not-installed", ["tracking=wandb"], "lists wandb, which is not installed"),
    ("unwritable-run-dir", [], "Permission denied. Expected a run directory this user can write to"),
    ("disk-full-at-start", [], "File too large. The disk (or a quota or file size limit) is full"),
    ("disk-full-during-checkpoint", ["method=dpo", "method.max_steps=2", "method.save_steps=1",
                                     "data.num_train=64", "data.num_test=8",
                                     "method.per_device_train_batch_size=4"],
     "File too large. The disk (or a quota or file size limit) is full"),
    # ---- resuming
    ("resume-path-missing", ["resume=/nonexistent/checkpoint-10"], "Invalid value for resume: '/nonexistent"),
    ("resume-torn-checkpoint", ["resume=torn/checkpoint-10"], "is not a complete align checkpoint"),
    ("resume-through-trl-key", ["method.resume_from_checkpoint=torn/checkpoint-10"],
     "method.resume_from_checkpoint: 'torn/checkpoint-10'. Expected null"),
    ("checkpoints-of-another-run", ["method=dpo"], "holds checkpoint-10 of a different run: method.beta was 0.5"),
]


def _file_size_limit(size: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _without_dac_override() -> None:
    """Root ignores file modes; dropping CAP_DAC_OVERRIDE from the bounding set makes the exec'd align obey them."""
    if os.geteuid() == 0 and ctypes.CDLL(None, use_errno=True).prctl(24, 1, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        raise OSError(ctypes.get_errno(), "cannot drop CAP_DAC_OVERRIDE")


def _read_only(run_dir: Path) -> None:
    run_dir.chmod(0o555)


def _another_runs_checkpoint(run_dir: Path) -> None:
    checkpoint = run_dir / "checkpoints" / "checkpoint-10"
    checkpoint.mkdir(parents=True)
    marker = {"step": 10, "loss_sum": 6.9, "settings": {"method.name": "dpo", "method.beta": 0.5}}
    (checkpoint / "align_checkpoint.json").write_text(json.dumps(marker))


# name -> (what to do to the earlier run directory, a function run in the child before align starts)
SETUP: dict[str, tuple[Callable[[Path], None] | None, Callable[[], None] | None]] = {
    "unwritable-run-dir": (_read_only, _without_dac_override),
    "disk-full-at-start": (None, _file_size_limit(1024)),
    "disk-full-during-checkpoint": (None, _file_size_limit(600_000)),  # room for configs, not for weights
    "checkpoints-of-another-run": (_another_runs_checkpoint, None),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-inputs")
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("name", "overrides", "message"), CATALOGUE, ids=[name for name, *_ in CATALOGUE])
def test_bad_input_is_one_clear_paragraph_and_touches_nothing(data_dir: Path, tmp_path: Path, name: str,
                                                              overrides: list[str], message: str):
    import torch

    if torch.cuda.is_available() and name in ("qlora-without-cuda", "cuda-device-missing", "flash-attention-missing",
                                              "liger-without-cuda"):
        pytest.skip("about a machine without CUDA")
    run_dir = tmp_path / "earlier-run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text('{"train_loss": 0.5}\n')
    (run_dir / "model").mkdir()
    (run_dir / "model" / "config.json").write_text("{}\n")
    prepare, in_child = SETUP.get(name, (None, None))
    if prepare is not None:
        prepare(run_dir)
    before = snapshot(run_dir)
    env = cli_env(HF_HOME=str(tmp_path / "hf-home"))  # no stored Hub login
    env.pop("HF_TOKEN", None)
    env.pop("HUGGING_FACE_HUB_TOKEN", None)
    if name == "wandb-not-installed":
        env["PYTHONPATH"] = os.pathsep.join([str(data_dir / "no_wandb"), env["PYTHONPATH"]])
    try:
        out = subprocess.run([sys.executable, "-m", "align", *overrides, f"hydra.run.dir={run_dir}"], cwd=data_dir,
                             env=env, capture_output=True, text=True, timeout=300, preexec_fn=in_child)
    except subprocess.SubprocessError as error:  # the child could not drop the capability
        pytest.skip(f"cannot set up {name} here: {error}")
    finally:
        run_dir.chmod(0o755)
    last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
    assert out.returncode == 2, out.stderr[-2000:]
    assert last.startswith("align: error: ") and message in last, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    after = snapshot(run_dir)
    assert {path: after.get(path) for path in before} == before  # earlier outputs untouched
    assert name in LATE or after == before  # caught before anything was written
    assert "metrics.json" in after and not (run_dir / ".model.staging").exists()
