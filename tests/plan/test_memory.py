"""The memory estimate: held against the measured peak of a small model training on the CPU, and its sharding,
offload and LoRA/QLoRA arithmetic checked on the handbook's 7B recipes (config only, no weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from align.plan import memory
from tests.conftest import prepared

# Trains the model in argv[1] on the CPU exactly as the estimate assumes (float32, AdamW, batch x length tokens
# of full-length sequences) and prints the peak resident memory above the process's ready-to-train baseline.
# glibc hands every large block back on free (MALLOC_MMAP_THRESHOLD_), so resident memory follows live tensors.
PROBE = """
import json, sys, torch
from transformers import AutoConfig, AutoModelForCausalLM

def resident(field):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))

torch.set_num_threads(1)
path, batch, length, checkpointing = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
config = AutoConfig.from_pretrained(path)
ids = torch.randint(0, config.vocab_size, (batch, length))

def build(cfg):
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa", dtype=torch.float32)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model.train(), torch.optim.AdamW(model.parameters(), lr=1e-4)

def step(model, optimizer, x):
    model(input_ids=x, labels=x).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

# One step of a 1-layer copy first, so kernels and allocator pools that any run creates are in the baseline.
step(*build(config.__class__(**{**config.to_dict(), "num_hidden_layers": 1, "hidden_size": 64,
                                 "intermediate_size": 64, "num_attention_heads": 1, "num_key_value_heads": 1})),
     ids[:1, :8])
baseline = resident("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark (VmHWM) to the current size
model, optimizer = build(config)
for _ in range(3):
    step(model, optimizer, ids)
print(json.dumps({"peak": resident("VmHWM") - baseline}))
"""

BATCH, LENGTH = 4, 256


@pytest.fixture(scope="module")
def small_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.json of a 15M-parameter Llama: big enough that model states and activations dwarf allocator noise."""
    from transformers import LlamaConfig

    path = tmp_path_factory.mktemp("small-llama")
    LlamaConfig(hidden_size=512, intermediate_size=1376, num_hidden_layers=4, num_attention_heads=8,
                num_key_value_heads=2, vocab_size=4096, max_position_embeddings=LENGTH,
                tie_word_embeddings=False, architectures=["LlamaForCausalLM"]).save_pretrained(path)
    return path


def _estimate(*overrides: str, config=None):
    from transformers import MistralConfig

    plan = prepared("dry_run=true", *overrides)  # as the dry run estimates it, for the hardware the run names
    arch = memory.architecture(config or MistralConfig(), plan.cfg.peft)
    return memory.estimate(plan, arch)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak-memory reset")
@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "gradient-checkpointing"])
def test_estimate_is_within_25_percent_of_the_measured_peak(small_llama: Path, checkpointing: bool):
    from transformers import AutoConfig

    est = _estimate(f"model.name_or_path={small_llama}", "model.dtype=float32", "hardware=cpu", "method=sft",
                    f"method.per_device_train_batch_size={BATCH}", f"method.max_length={LENGTH}",
                    "method.optim=adamw_torch", f"method.gradient_checkpointing={str(checkpointing).lower()}",
                    config=AutoConfig.from_pretrained(small_llama))
    out = subprocess.run([sys.executable, "-c", PROBE, str(small_llama), str(BATCH), str(LENGTH),
                          "1" if checkpointing else "0"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    assert out.returncode == 0, out.stderr[-2000:]
    measured = json.loads(out.stdout.strip().splitlines()[-1])["peak"]
    # the activations must matter, or this would only test the weight arithmetic
    assert est.activations > 0.15 * est.total
    assert abs(est.total - measured) / measured < 0.25, (est, measured)


def test_zero_stages_shard_what_they_promise():
    held = "cache.ref_logps=false"  # TRL holds a reference copy, sharded like the policy
    full = _estimate("experiment=zephyr-7b-beta/dpo", "hardware.num_processes=1", held)
    zero3 = _estimate("experiment=zephyr-7b-beta/dpo", held)
    zero2 = _estimate("experiment=zephyr-7b-beta/dpo", "hardware=zero2", "hardware.num_processes=8", held)
    assert full.reference > 0
    assert zero3.optimizer == pytest.approx(full.optimizer / 8) and zero2.optimizer == pytest.approx(full.optimizer / 8)
    assert zero3.gradients == pytest.approx(full.gradients / 8) and zero2.gradients == pytest.approx(full.gradients / 8)
    assert zero2.weights == full.weights and zero2.reference == full.reference  # ZeRO-2 keeps whole weights
    assert zero3.weights < full.weights / 4 and zero3.reference == pytest.approx(full.reference / 8)
    # mixed precision under DeepSpeed: 16-bit weights, fp32 master copy and two fp32 moments per parameter
    assert full.weights == 2 * 7_241_732_096 and full.optimizer == 12 * 7_241_732_096


def test_handbook_hardware_fits_and_one_gpu_does_not():
    gib80 = 80 * memory.GIB
    assert _estimate("experiment=zephyr-7b-beta/dpo").total < gib80  # the handbook's 8 x 80 GB
    assert _estimate("experiment=zephyr-7b-beta/sft").total < gib80
    assert _estimate("experiment=zephyr-7b-beta/dpo", "hardware.num_processes=1").total > gib80
    qlora = _estimate("experiment=zephyr-7b-beta/dpo_qlora", "cache.ref_logps=false")  # one GPU
    assert qlora.total < 24 * memory.GIB and qlora.reference == 0  # the adapters' base is the reference


def test_precomputed_reference_log_probs_hold_no_reference_copy():
    held = _estimate("experiment=zephyr-7b-beta/dpo", "cache.ref_logps=false")
    cached = _estimate("experiment=zephyr-7b-beta/dpo")  # cache.ref_logps: on by default for DPO
    assert held.reference > 0 and cached.reference == 0
    assert cached.total == pytest.approx(held.total - held.reference)


def test_offload_moves_states_to_host_memory():
    plain = _estimate("experiment=zephyr-7b-beta/dpo", "cache.ref_logps=false")
    offloaded = _estimate("experiment=zephyr-7b-beta/dpo", "hardware.offload_optimizer=true",
                          "hardware.offload_params=true", "cache.ref_logps=false")
    assert offloaded.optimizer == 0 and offloaded.reference == 0
    assert offloaded.offloaded == pytest.approx(plain.optimizer + plain.reference + plain.weights - offloaded.weights)


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], "all-linear"], ids=["q_v", "all-linear"])
def test_lora_parameters_match_peft(targets):
    from omegaconf import OmegaConf
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=128)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=8, target_modules=targets))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    peft = OmegaConf.create({"method": "lora", "r": 8, "target_modules": targets})
    assert memory.architecture(config, peft).lora_params == trainable


def test_qlora_stores_linear_weights_in_half_a_byte():
    qlora = _estimate("experiment=zephyr-7b-beta/sft_qlora")
    bf16 = _estimate("experiment=zephyr-7b-beta/sft_qlora", "peft=lora")
    assert 0.25 < qlora.weights / bf16.weights < 0.35
