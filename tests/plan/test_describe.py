"""dry_run=true: a plan from the model's config.json alone (no weights) and, for Hub data, the Hub's metadata alone
(no rows), which names what it could not fetch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli_env, compose_cfg, hub_metadata, run_align

# The handbook's 8-GPU node (GPUs are counted from CUDA_VISIBLE_DEVICES) with a Hub login; offline.
HANDBOOK_NODE = {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "HF_TOKEN": "hf_test_token_not_real",
                 "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
MISTRAL_7B_PARAMETERS = "7,241,732,096"


@pytest.fixture(scope="module")
def mistral_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only Mistral 7B's config.json: all the plan needs of the model."""
    from transformers import MistralConfig

    path = tmp_path_factory.mktemp("mistral-7b")
    MistralConfig(architectures=["MistralForCausalLM"]).save_pretrained(path)
    return path


def plan(*overrides: str, tmp_path: Path) -> str:
    out = run_align(*overrides, "dry_run=true", f"hydra.run.dir={tmp_path / 'run'}", env=cli_env(**HANDBOOK_NODE))
    assert out.returncode == 0, out.stderr[-3000:]
    assert not (tmp_path / "run").exists()
    return out.stdout


def test_recipe_plan_from_a_local_config(mistral_config: Path, tmp_path: Path):
    out = plan("experiment=zephyr-7b-beta/dpo", f"model.name_or_path={mistral_config}", tmp_path=tmp_path)
    assert f"parameters:            {MISTRAL_7B_PARAMETERS} (trainable {MISTRAL_7B_PARAMETERS}" in out
    assert "memory per GPU:" in out and "DeepSpeed ZeRO-3, 8 process(es)" in out
    for part in ("weights", "gradients", "optimizer states", "activations"):
        assert f"    {part}" in out
    assert "    reference model" not in out  # its log-probs are precomputed (cache.ref_logps, on for DPO)
    assert "sharded over 8 (ZeRO-3)" in out and "16 sequences x 1024 tokens" in out
    assert "effective batch size:  128 = 8 per device x 2 accumulation x 8 process(es)" in out
    # no network: the data part names the dataset it could not fetch, and the plan still finishes
    data = next(line for line in out.splitlines() if line.startswith("  data:"))
    assert "not loaded" in data and "HuggingFaceH4/ultrafeedback_binarized" in data
    assert "push to Hub:           zephyr-7b-dpo-full (token from HF_TOKEN)" in out
    # bf16 weights plus ZeRO's fp32 master copy and Adam's two fp32 moments: 14 bytes per parameter
    checkpoints = next(line for line in out.splitlines() if line.startswith("  checkpoints:"))
    assert "every 100 steps and at the end; about 94.42 GiB each; 1 kept (method.save_total_limit=1)" in checkpoints


def test_plan_says_which_model_config_it_could_not_fetch(tmp_path: Path):
    out = plan("experiment=zephyr-7b-beta/dpo", tmp_path=tmp_path)
    assert "tuning:                none: the method's and TRL's own values" in out
    assert "could not fetch config.json of 'alignment-handbook/zephyr-7b-sft-full' (revision main)" in out
    assert "HF_HUB_OFFLINE=1" in out and "effective batch size:  128" in out


def test_qlora_plan_counts_the_adapters_on_the_base_of_a_local_adapter(mistral_config: Path, tmp_path: Path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": str(mistral_config),
        "r": 16, "lora_alpha": 16, "target_modules": ["q_proj"],
    }))
    out = plan("experiment=zephyr-7b-beta/dpo_qlora", f"model.name_or_path={adapter}", "peft=lora",
               tmp_path=tmp_path)
    assert f"base model of the LoRA adapter {adapter}" in out
    # r 128 on the seven projections of 32 layers
    assert f"parameters:            {MISTRAL_7B_PARAMETERS} (trainable 335,544,320, 4.63%)" in out
    assert "reference model" not in out  # the base with adapters disabled is the reference


def test_tiny_plan_estimates_a_cpu_process(tmp_path: Path):
    out = run_align("dry_run=true", "hardware=cpu", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "memory per process:" in out.stdout and "CPU, no mixed precision" in out.stdout
    assert "tokens per row:" in out.stdout and "optimizer steps:" in out.stdout
    assert "tuning:                tune/tiny/sft.yaml (the embedded tiny model's values" in out.stdout


def test_bad_data_stops_a_dry_run(tmp_path: Path):
    """Unreachable Hub data leaves a plan without it; data that cannot work for the method is an error."""
    rows = tmp_path / "unpaired.jsonl"
    rows.write_text('{"prompt": "a", "completion": "b", "label": true}\n' * 4)
    out = run_align("method=dpo", "data=file", f"data.path={rows}", "dry_run=true", f"hydra.run.dir={tmp_path / 'run'}")
    last = out.stderr.strip().splitlines()[-1]  # after the progress bars of reading the file
    assert out.returncode == 2 and last.startswith("align: error:") and "preference" in last
    assert not (tmp_path / "run").exists()


# HuggingFaceTB/smoltalk2's SFT splits as its dataset card records them (rows), in the order of the handbook's
# smollm3/sft recipe, and the rows its weights keep: 1,444,084 in all.
SMOLTALK2_SFT = {
    "smoltalk_smollm3_everyday_conversations_no_think": (2260, 2260),
    "smoltalk_smollm3_systemchats_30k_no_think": (33997, 33997),
    "tulu_3_sft_personas_instruction_following_no_think": (29970, 29970),
    "hermes_function_calling_v1_no_think": (8961, 8961),
    "smoltalk_smollm3_smol_magpie_ultra_no_think": (406843, 203421),
    "smoltalk_multilingual_8languages_lang_5_no_think": (254047, 254047),
    "table_gpt_no_think": (13203, 13203),
    "OpenHermes_2.5_no_think": (384900, 192450),
    "OpenThoughts3_1.2M_no_think_no_think": (435193, 174077),
    "Mixture_of_Thoughts_science_no_think": (86110, 86110),
    "smoltalk_smollm3_explore_instruct_rewriting_no_think": (30391, 30391),
    "smoltalk_smollm3_smol_rewrite_no_think": (53262, 53262),
    "smoltalk_smollm3_smol_summarize_no_think": (96061, 96061),
    "LongAlign_64k_context_lang_annotated_lang_6_no_think": (6249, 6249),
    "multi_turn_reasoning_if_think": (28217, 28217),
    "smoltalk_everyday_convs_reasoning_Qwen3_32B_think": (2057, 2057),
    "smoltalk_systemchats_Qwen3_32B_think": (27436, 27436),
    "xlam_traces_no_think": (59962, 59962),
    "smolagents_toolcalling_traces_think": (9079, 9079),
    "s1k_1.1_think": (835, 835),
    "LongAlign_64k_Qwen3_32B_yarn_131k_think": (7526, 7526),
    "aya_dataset_Qwen3_32B_think": (15222, 15222),
    "smoltalk_multilingual8_Qwen3_32B_think": (244736, 73420),
    "OpenThoughts3_1.2M_think": (1133524, 22670),
    "table_gpt_Qwen3_32B_think": (13201, 13201),
}


def plan_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *overrides: str) -> str:
    """The plan `python -m align OVERRIDES dry_run=true` prints, made in this process (to stand in for the Hub)."""
    from align.plan.describe import describe
    from align.run.prepare import prepare

    for name, value in HANDBOOK_NODE.items():
        monkeypatch.setenv(name, value)
    overrides = (*overrides, "dry_run=true")
    return describe(prepare(compose_cfg(*overrides), tmp_path / "run", list(overrides)), tmp_path / "run")


def test_a_large_hub_mixture_is_planned_from_the_hubs_metadata(monkeypatch: pytest.MonkeyPatch, mistral_config: Path,
                                                                 tmp_path: Path):
    import datasets

    sizes = {split: rows for split, (rows, _) in SMOLTALK2_SFT.items()}
    monkeypatch.setattr(datasets, "load_dataset_builder", hub_metadata(sizes))
    monkeypatch.setattr(datasets, "load_dataset", None)  # a row download would fail the test
    out = plan_in_process(monkeypatch, tmp_path, "experiment=smollm3/sft", f"model.name_or_path={mistral_config}")
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("  data:")))
    assert lines[start] == ("  data: smoltalk2-sft, 1,444,084 train / 0 test rows in sft format (row counts from the "
                            "Hub's metadata; no rows downloaded)")
    for i, (split, (rows, kept)) in enumerate(SMOLTALK2_SFT.items()):
        weight = "" if rows == kept else f" x weight {dict(zip(SMOLTALK2_SFT, _WEIGHTS, strict=True))[split]:g}"
        assert lines[start + 1 + i] == (f"    data.sources[{i}]: HuggingFaceTB/smoltalk2 (config SFT, split {split}): "
                                        f"OpenAI messages (sft data); {rows:,} rows{weight} -> {kept:,} train / 0 test")
    assert "not rendered: the rows were not downloaded" in out and "tokens per row:        unknown" in out
    # 1,444,084 rows at 1 per device x 16 accumulation x 8 GPUs, 5 epochs; packed blocks of many rows are fewer
    assert ("optimizer steps:       56410 (11282 per epoch, 5.0 epoch(s)) at most: packing rows into blocks of 65536 "
            "tokens makes fewer") in out


_WEIGHTS = [1, 1, 1, 1, 0.5, 1, 1, 0.5, 0.4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.3, 0.02, 1]


def test_without_a_count_in_the_metadata_the_dry_run_loads_the_rows(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path):
    import datasets

    rows = [{"messages": [{"role": "user", "content": f"Hi {i}"}, {"role": "assistant", "content": "Hello!"}]}
            for i in range(20)]
    monkeypatch.setattr(datasets, "load_dataset_builder", hub_metadata({}))  # a card without split sizes
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: datasets.Dataset.from_list(rows))
    out = plan_in_process(monkeypatch, tmp_path, "data=mixture", "data.sources=[{path: org/chats, split: train}]")
    assert "  data: mixture, 19 train / 1 test rows in sft format" in out
    assert "data.sources[0]: org/chats (split train): OpenAI messages (sft data); 20 rows -> 19 train / 1 test" in out
    assert "example (train row 1, rendered with the chat template):" in out and "tokens per row:        sample" in out


def test_an_unreachable_hub_is_said_for_its_metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'HuggingFaceTB/smoltalk2' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset_builder", offline)
    out = plan_in_process(monkeypatch, tmp_path, "experiment=smollm3/mid")
    data = next(line for line in out.splitlines() if line.startswith("  data:"))
    assert "not loaded: Could not read the metadata of the Hub dataset 'HuggingFaceTB/smoltalk2'" in data
    assert "Offline mode is on" in data and "optimizer steps:       unknown" in out
    assert "model HuggingFaceTB/SmolLM3-3B-Base" in out
