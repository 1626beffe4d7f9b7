"""Training memory per device, estimated from the model's config alone (no weights): weights, reference model,
gradients, optimizer states and activations under the run's precision, ZeRO/FSDP sharding, offload and LoRA/QLoRA.

The activation terms were fitted to the tensors autograd saves in transformers' Llama layers with SDPA attention:
per token and layer, 8 h + 2 kv + 4 i values in float32 (10 h in bfloat16, whose norms upcast), or 2 h with
gradient checkpointing plus one layer recomputed in backward; the loss keeps float32 log-probabilities over the
vocabulary. tests/test_memory.py holds the total against a measured peak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from align.methods import CAUSAL_LM

GIB = 1024**3
# 4-bit NF4 with double quantisation: half a byte per weight plus about 0.127 bits of quantisation constants.
NF4_BYTES = 0.5 + 0.127 / 8
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class Architecture:
    """A causal LM's sizes, read from its config and a build on the meta device."""

    params: int
    layers: int
    hidden: int
    kv_dim: int
    intermediate: int  # MLP width each token goes through (times the experts per token for a mixture of experts)
    heads: int
    vocab: int
    max_positions: int
    layer_params: int  # the largest decoder layer: what ZeRO-3 and FSDP gather at a time
    linear_params: int  # weights of the decoder layers' nn.Linear modules: what QLoRA stores in 4 bits
    lora_params: int = 0  # adapter parameters on the peft target modules (0 without peft)
    lora_inputs: int = 0  # input features of the adapted modules per layer (LoRA dropout copies each input)


@dataclass
class Estimate:
    """Bytes per device (a GPU, or the process for a CPU run), with what each part assumes."""

    weights: float
    reference: float
    gradients: float
    optimizer: float
    activations: float
    offloaded: float  # bytes per process held in CPU memory by ZeRO/FSDP offload
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.weights + self.reference + self.gradients + self.optimizer + self.activations


def architecture(config: Any, peft: DictConfig | None = None, trust_remote_code: bool = False) -> Architecture:
    """Sizes of the model `config` describes, counted on the meta device; LoRA counts for `peft` when given."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    text = config.get_text_config()
    hidden, heads = text.hidden_size, text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    blocks = max(
        (m for m in model.modules() if isinstance(m, torch.nn.ModuleList)), key=_numel, default=torch.nn.ModuleList()
    )
    lora_params, lora_inputs = _lora_sizes(model, peft) if peft is not None and peft.method != "none" else (0, 0)
    layers = text.num_hidden_layers
    return Architecture(
        params=_numel(model),
        layers=layers,
        hidden=hidden,
        kv_dim=(getattr(text, "num_key_value_heads", None) or heads) * head_dim,
        intermediate=(getattr(text, "intermediate_size", None) or getattr(text, "n_inner", None) or 4 * hidden)
        * (getattr(text, "num_experts_per_tok", None) or 1),
        heads=heads,
        vocab=text.vocab_size,
        max_positions=getattr(text, "max_position_embeddings", None) or getattr(text, "n_positions", None) or 2048,
        layer_params=max((_numel(block) for block in blocks), default=0),
        linear_params=sum(m.weight.numel() for m in blocks.modules() if isinstance(m, torch.nn.Linear)),
        lora_params=lora_params,
        lora_inputs=lora_inputs // max(layers, 1),
    )


def _numel(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def _lora_sizes(model: Any, peft: DictConfig) -> tuple[int, int]:
    """(adapter parameters, summed input features) of the modules peft's target_modules selects."""
    import re

    import torch
    from transformers.pytorch_utils import Conv1D

    targets = peft.target_modules
    output = model.get_output_embeddings()
    params = inputs = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            n_in, n_out = module.in_features, module.out_features
        elif isinstance(module, Conv1D):
            n_in, n_out = module.weight.shape
        else:
            continue
        if targets == "all-linear":
            chosen = module is not output
        elif isinstance(targets, str):
            chosen = re.fullmatch(targets, name) is not None
        else:
            chosen = name.rsplit(".", 1)[-1] in targets
        if chosen:
            params += peft.r * (n_in + n_out)
            inputs += n_in
    return params, inputs


def on_gpu(cfg: DictConfig, plan: Any) -> bool:
    """Whether the run trains on GPUs: hardware.device, or for `auto` visible GPUs or a GPU-only setting (a dry
    run on a laptop plans a recipe's GPU run)."""
    device = cfg.hardware.device
    if device != "auto":
        return device == "cuda"
    return plan.gpus > 0 or cfg.hardware.mixed_precision in ("bf16", "fp16") or cfg.peft.method == "qlora"


def precision(cfg: DictConfig, gpu: bool) -> str:
    """bf16, fp16 or no, decided as the training run decides it (explicit method.bf16/fp16 win)."""
    bf16, fp16 = cfg.method.get("bf16"), cfg.method.get("fp16")
    if fp16:
        return "fp16"
    if bf16 is not None:
        return "bf16" if bf16 else "no"
    chosen = cfg.hardware.mixed_precision
    return ("bf16" if gpu else "no") if chosen == "auto" else chosen


def optimizer_bytes(optim: str, param_bytes: int, fp32_master: bool) -> tuple[float, str]:
    """Bytes of optimizer state per trainable parameter, and a description of them."""
    name = optim.lower()
    if "sgd" in name or "adafactor" in name:
        moments = 0  # Adafactor's factored moments are negligible; plain SGD keeps none
    elif any(word in name for word in ("rmsprop", "lion", "adagrad")):
        moments = 1
    else:
        moments = 2
    each = 1 if "8bit" in name else 4 if (fp32_master or "32bit" in name or "bnb" in name) else param_bytes
    master = 4 if fp32_master else 0
    kind = {1: "8-bit", 2: "16-bit", 4: "fp32"}[each]
    parts = ([f"{moments} {kind} moment{'s' if moments > 1 else ''}"] if moments else []) + (
        ["fp32 master weights"] if master else []
    )
    return moments * each + master, f"{optim}: {' + '.join(parts) or 'no state'}"


def activation_bytes(arch: Architecture, sequences: int, length: int, act_bytes: int, checkpointing: bool,
                     eager: bool = False, lm_head: bool = True) -> float:
    """Activations kept for backward for `sequences` sequences of `length` tokens, plus the loss's logits."""
    tokens = sequences * length
    per_token = (8 if act_bytes == 4 else 10) * arch.hidden + 2 * arch.kv_dim + 4 * arch.intermediate
    per_token += arch.lora_inputs  # LoRA dropout keeps a copy of each adapted input
    if eager:
        per_token += 2 * arch.heads * length  # attention scores and their softmax (SDPA and flash keep neither)
    layer = tokens * per_token * act_bytes
    kept = arch.layers * tokens * 2 * arch.hidden * act_bytes + layer if checkpointing else arch.layers * layer
    # float32 log-probabilities saved by the loss, and the logits' gradient at the start of backward
    logits = tokens * arch.vocab * (4 + act_bytes) if lm_head else 0
    return kept + logits


def _holds_reference(prepared: Any) -> bool:
    """A frozen reference copy beside the policy: not with LoRA (the adapter-disabled base serves), nor with
    precomputed reference log-probs (cache.ref_logps, on by default), which need no reference model at all."""
    return prepared.method.reference and prepared.cfg.peft.method == "none" and prepared.ref_cache is None


@dataclass(frozen=True)
class Storage:
    """How the run stores its parameters: bytes per base weight, the trainable parameters with bytes for each
    (and its gradient), and optimizer-state bytes per trainable parameter."""

    mixed: str  # bf16, fp16 or no
    weight_bytes: int
    trainable: int
    train_bytes: int
    states: float
    optim_note: str


def storage(cfg: DictConfig, arch: Architecture, gpu: bool) -> Storage:
    mixed = precision(cfg, gpu)
    fp32_master = cfg.hardware.distributed == "deepspeed" and mixed != "no"  # 16-bit weights, fp32 master copies
    weight_bytes = 2 if fp32_master else _DTYPE_BYTES.get(cfg.model.dtype, 2 if gpu else 4)
    lora = cfg.peft.method != "none"
    train_bytes = 4 if lora else weight_bytes  # peft keeps adapters in float32
    states, note = optimizer_bytes(str(cfg.method.get("optim") or "adamw_torch"), train_bytes, fp32_master)
    return Storage(mixed, weight_bytes, arch.lora_params if lora else arch.params, train_bytes, states, note)


def checkpoint_bytes(cfg: DictConfig, arch: Architecture, gpu: bool) -> float:
    """Disk taken by one checkpoint, all processes together: the weights as saved (only the adapter with LoRA or
    QLoRA) and the optimizer state that resuming needs."""
    store = storage(cfg, arch, gpu)
    saved = arch.lora_params * 4 if cfg.peft.method != "none" else arch.params * store.weight_bytes
    return saved + store.trainable * store.states


def estimate(prepared: Any, arch: Architecture) -> Estimate:
    """Memory per device for training `arch` as the prepared run (run/prepare.py) asks."""
    cfg, row = prepared.cfg, prepared.method
    hw, method, peft = cfg.hardware, cfg.method, cfg.peft
    world = prepared.hardware.world_size
    deepspeed, fsdp = hw.distributed == "deepspeed", hw.distributed == "fsdp"
    stage = hw.zero_stage if deepspeed else 3 if fsdp else 0
    store = storage(cfg, arch, on_gpu(cfg, prepared.hardware))
    weight_bytes, trainable, train_bytes, states = store.weight_bytes, store.trainable, store.train_bytes, store.states
    act_bytes = 2 if store.mixed != "no" or weight_bytes == 2 else 4
    lora = peft.method != "none"
    if peft.method == "qlora":
        base, base_note = arch.linear_params * NF4_BYTES + (arch.params - arch.linear_params) * 2, "4-bit NF4 linears"
    else:
        base, base_note = arch.params * weight_bytes, f"{8 * weight_bytes}-bit"
    est = Estimate(
        weights=base + arch.lora_params * 4,
        reference=arch.params * weight_bytes if _holds_reference(prepared) else 0,
        gradients=trainable * train_bytes,
        optimizer=trainable * states,
        activations=0,
        offloaded=0,
        notes={"weights": base_note + (f" + fp32 LoRA adapters ({arch.lora_params:,})" if lora else ""),
               "reference model": f"frozen copy for {row.name}", "gradients": f"{8 * train_bytes}-bit",
               "optimizer states": store.optim_note},
    )
    _shard(est, stage, world, hw.distributed)
    gathered = 2 * arch.layer_params * weight_bytes if stage == 3 and world > 1 else 0  # this layer and the next
    _offload(est, hw)
    est.weights += gathered
    if gathered:
        est.notes["weights"] += ", plus 2 gathered layers"
    sequences = method.per_device_train_batch_size * (2 if row.paired else 1)
    length = method.get("max_length") or arch.max_positions
    checkpointing = bool(method.get("activation_checkpointing"))  # validation moved gradient_checkpointing here
    eager, lm_head = cfg.model.attn_implementation == "eager", row.model_class == CAUSAL_LM
    est.activations = activation_bytes(arch, sequences, length, act_bytes, checkpointing, eager, lm_head)
    bound = "max_length" if method.get("max_length") else "the model's maximum"
    est.notes["activations"] = (f"{sequences} sequences x {length} tokens ({bound}), {8 * act_bytes}-bit, "
                                f"{'with' if checkpointing else 'without'} gradient checkpointing")
    return est


# (note key, Estimate attribute, the ZeRO stage from which it is sharded)
_PARTS = (("weights", "weights", 3), ("reference model", "reference", 3), ("gradients", "gradients", 2),
          ("optimizer states", "optimizer", 1))


def _shard(est: Estimate, stage: int, world: int, distributed: str) -> None:
    """Divide what ZeRO stage `stage` (FSDP: 3) partitions over the `world` processes."""
    how = "FSDP" if distributed == "fsdp" else f"ZeRO-{stage}"
    for note, attr, from_stage in _PARTS:
        if stage >= from_stage and world > 1:
            setattr(est, attr, getattr(est, attr) / world)
            est.notes[note] += f", sharded over {world} ({how})"


def _offload(est: Estimate, hw: DictConfig) -> None:
    """Move what ZeRO/FSDP offload keeps in CPU memory out of the per-GPU parts."""
    moved = set()
    if hw.distributed == "deepspeed" and hw.offload_optimizer:
        moved.add("optimizer")
    if hw.offload_params and (hw.distributed == "fsdp" or (hw.distributed == "deepspeed" and hw.zero_stage == 3)):
        moved |= {"weights", "reference"}
        if hw.distributed == "fsdp":  # FSDP's CPU offload keeps gradients there and steps the optimizer on the CPU
            moved |= {"gradients", "optimizer"}
    for note, attr, _ in _PARTS:
        if attr in moved and getattr(est, attr):
            est.offloaded += getattr(est, attr)
            setattr(est, attr, 0.0)
            est.notes[note] += ", offloaded to CPU"


def readable_size(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / 1024**2:.1f} MiB"
