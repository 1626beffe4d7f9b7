"""What only a GPU can tell, in one command of at most ~8 minutes: align's methods on CUDA in bf16, DPO/SFT
throughput against plain TRL, the dry-run memory estimate against the measured peak, vLLM generation and the pool
launcher's device assignment. How to run it on a lent device and read it: docs/gpu.md.

    python bench/gpu_check.py [--cpu] [--out FILE] [--budget-s SECONDS] [--sections a,b,...] [--work DIR]
    python bench/gpu_check.py --download-wheels .whl      # here, before a device run

Each section goes into one JSON file (default $OUT/gpu_check.json, else ./gpu_check.json) as {status: ok | failed |
skipped, reason, figures}; a failing section never stops the others:

- correctness: SFT, DPO with and without the reference cache, KTO, reward, rejection sampling and QLoRA (GRPO and
  method=evaluate once they exist), 3 steps each on the tiny model, all at once: bf16 weights, training and
  generation on CUDA, `attn_implementation=auto` resolved to flash-attention 2 when flash_attn is installed.
- pool: a 1-GPU sweep of two jobs: one after the other, each on the device and port the scheduler gave it.
- throughput: `python -m align` against the control, plain TRL as a user would write it without align (the same
  model, rows, batch, max_length, precision, gradient checkpointing and optimizer as the align run it follows;
  `--plain-trl`), alternated A B A B with the same steps, on a random-weights model of Qwen2.5-0.5B's shape built
  here (no network): tokens/s after warm-up, peak memory, MFU.
- memory: the dry run's per-GPU estimate against torch.cuda.max_memory_allocated of the same DPO and SFT runs.
- options: the reference cache, flash-attention 2, Liger kernels and SFT packing, each against the control.
- vllm: `generation.backend=vllm` against HF generate, prompts/s, once vllm and that option exist.

`--cpu` (or no CUDA) runs what needs no GPU at CPU sizes, so that the code cannot rot (tests/bench/test_gpu_check.py;
its figures mean nothing), and records the rest as "skipped: no CUDA". The last line printed is the headline: align
÷ plain TRL DPO tokens/s, or "skipped: no CUDA".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("correctness", "pool", "throughput", "memory", "options", "vllm")
PROBE_FILE = "probe.json"
PROBE_CALLBACK = "+hydra.callbacks.probe._target_=bench.gpu_check.Probe"
# Dense bf16 tensor-core peaks from the vendors' datasheets (no sparsity), matched against torch's device name.
PEAK_BF16_FLOPS = (("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12),
                   ("A10G", 125e12), ("L4", 121e12))
# Trainer settings that change what a step costs: the control copies them from the align run it follows, so the
# two differ only in who wrote the script.
COST_SETTINGS = ("per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "gradient_checkpointing",
                 "gradient_checkpointing_kwargs", "bf16", "fp16", "tf32", "optim", "learning_rate", "lr_scheduler_type",
                 "warmup_steps", "weight_decay", "max_grad_norm", "seed", "data_seed", "dataloader_num_workers",
                 "dataloader_pin_memory", "max_steps", "logging_steps", "beta", "loss_type", "truncation_mode",
                 "precompute_ref_log_probs", "padding_free", "packing", "pad_to_multiple_of", "completion_only_loss",
                 "assistant_only_loss", "disable_dropout", "use_liger_kernel", "torch_compile",
                 "activation_offloading", "use_cpu")
# Wheels a device run carries (its image has torch, accelerate, peft, tokenizers, pyarrow, ... but not these).
# Versions of the packages align is tested with come from this machine's environment; the others are pinned here.
DEVICE_WHEELS = ("trl", "transformers", "datasets", "dill", "multiprocess", "hydra-core", "omegaconf",
                 "antlr4-python3-runtime", "liger-kernel==0.8.5", "bitsandbytes==0.50.2")


# ---------------------------------------------------------------------------------- the probe (in each run)


class Probe:
    """Hydra callback (PROBE_CALLBACK) run inside an align job's process: what the job ran on, written to
    <run dir>/probe.json. Nothing in align changes: it wraps transformers' Trainer.train and generate."""

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        extra: dict[str, Any] = {}
        try:  # the port and GPUs align's hardware plan resolved from what the pool launcher set
            from align.hardware.plan import plan

            resolved = plan(config.hardware)
            extra["plan"] = {"gpus": resolved.gpus, "device": resolved.device, "port": resolved.main_process_port}
        except Exception as error:  # a probe must never fail the job it watches
            extra["plan"] = {"error": repr(error)}
        install_probe(Path(config.hydra.runtime.output_dir) / PROBE_FILE, extra)

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        if _RECORDER is not None:
            _RECORDER.write()


_RECORDER: _Recorder | None = None


class _Recorder:
    def __init__(self, path: Path, extra: dict[str, Any]) -> None:
        self.path = path
        keys = ("CUDA_VISIBLE_DEVICES", "MASTER_PORT", "ALIGN_MAIN_PROCESS_PORT")
        self.data: dict[str, Any] = {"started": time.time(), "env": {k: os.environ.get(k) for k in keys},
                                     "train": None, "generate": {}, **extra}

    def write(self) -> None:
        self.data.update(ended=time.time(), peak=_peak_memory())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1, default=str))


def install_probe(path: Path, extra: dict[str, Any] | None = None) -> _Recorder:
    """Record every Trainer.train (device, dtype, attention, settings, per-step clock and tokens, peak memory)
    and every generate call (device, prompts, seconds) of this process into `path`."""
    global _RECORDER
    _RECORDER = _Recorder(path, extra or {})
    _wrap_train(_RECORDER)
    _wrap_generate(_RECORDER)
    return _RECORDER


def _sync() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()  # device work is asynchronous: a host clock read without it times the queue


def _peak_memory() -> dict[str, float]:
    import resource

    peak = {"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        peak["cuda_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        peak["cuda_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
    return peak


def _wrap_train(rec: _Recorder) -> None:
    import transformers

    original = transformers.Trainer.train

    class StepClock(transformers.TrainerCallback):
        """Host clock and TRL's running token count at the end of each optimizer step."""

        def __init__(self, trainer: Any) -> None:
            self.trainer, self.steps = trainer, []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _sync()
            self.steps.append([time.perf_counter(), getattr(self.trainer, "_total_train_tokens", None)])

    def train(self: Any, *args: Any, **kwargs: Any) -> Any:
        clock = StepClock(self)
        self.add_callback(clock)
        rec.data["train"] = _describe_trainer(self)
        _sync()
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            _sync()
            rec.data["train"].update(train_s=time.perf_counter() - started, peak=_peak_memory(),
                                     steps=[[t - started, tokens] for t, tokens in clock.steps])
            rec.write()  # now, in case what follows training fails

    transformers.Trainer.train = train


def _wrap_generate(rec: _Recorder) -> None:
    from transformers.generation.utils import GenerationMixin

    original = GenerationMixin.generate

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        _sync()
        started = time.perf_counter()
        out = original(self, *args, **kwargs)
        _sync()
        ids = kwargs.get("input_ids", args[0] if args else None)
        where = rec.data["generate"].setdefault(f"{self.device} {self.dtype}", {
            "device": str(self.device), "dtype": str(self.dtype).removeprefix("torch."), "calls": 0, "prompts": 0,
            "seconds": 0.0})
        where["calls"] += 1
        where["prompts"] += int(ids.shape[0]) if hasattr(ids, "shape") else 0
        where["seconds"] += time.perf_counter() - started
        return out

    GenerationMixin.generate = generate


def _describe_trainer(trainer: Any) -> dict[str, Any]:
    model = trainer.model
    param = next(model.parameters())
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    params = sum(p.numel() for p in model.parameters())
    tied = head is not None and head.weight is emb.weight
    settings = trainer.args.to_dict()
    return {
        "trainer": [c.__name__ for c in type(trainer).__mro__ if c.__module__.startswith("trl.")][:1],
        "device": str(param.device),
        "dtype": str(param.dtype).removeprefix("torch."),
        "attn_implementation": getattr(config, "_attn_implementation", None),
        "reference_model": getattr(trainer, "ref_model", None) is not None,
        "quantized": any(type(m).__name__ == "Linear4bit" for m in model.modules()),
        "params": params,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        # the LM head multiplies once per token even when it shares the embedding's weight; the lookup does not
        "matmul_params": params - (0 if tied else emb.weight.numel()),
        "layers": getattr(text, "num_hidden_layers", None),
        "hidden": getattr(text, "hidden_size", None),
        "settings": {k: settings[k] for k in COST_SETTINGS if k in settings},
        "threads": sys.modules["torch"].get_num_threads(),
    }


# ---------------------------------------------------------------------------------- running things


class Skip(Exception):
    """A section or check that cannot run here; its message is the reason."""


@dataclass
class Run:
    name: str
    rc: int
    wall_s: float
    run_dir: Path
    stderr: str
    stdout: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def probe(self, job: str = "") -> dict[str, Any]:
        path = self.run_dir / job / PROBE_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def metrics(self, job: str = "") -> dict[str, Any]:
        path = self.run_dir / job / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def why(self) -> str:
        """The failure's last meaningful stderr line."""
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
        return f"{self.name}: exit {self.rc}: {(lines or ['no output'])[-1][:300]}"


@dataclass
class Context:
    """What every section shares: the mode, the clock, the work directory and the runs already made."""

    gpu: bool
    mode_reason: str  # why GPU-only work is skipped when not gpu
    deadline: float
    work: Path
    log: Path
    env: dict[str, str]
    missing: list[str]
    runs: dict[str, Run] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    run_costs: list[float] = field(default_factory=list)

    def left(self) -> float:
        return self.deadline - time.time()

    def expect(self, runs: int = 1) -> None:
        """Refuse to start `runs` more runs (one after another) that would end past the budget."""
        each = statistics.mean(self.run_costs) if self.run_costs else (35.0 if self.gpu else 25.0)
        if self.left() < runs * each:
            raise Skip(f"time budget: {self.left():.0f} s left, {runs} run(s) of about {each:.0f} s needed")

    def needs_gpu(self) -> None:
        if not self.gpu:
            raise Skip(self.mode_reason)

    def needs_align(self) -> None:
        if self.missing:
            raise Skip(f"packages align needs are missing here: {', '.join(self.missing)} (docs/gpu.md: carry wheels)")

    def command(self, name: str, argv: list[str], run_dir: Path, runs: float = 1) -> Run:
        """Run `argv` from the repo root; its stderr goes to the log when it fails. It costs as much time as `runs`
        single runs (a sweep several, one of several at once none: only one at a time tells what a run costs)."""
        timeout = max(60.0, min(600.0, self.left() + 60))  # a hung run must leave time for the sections after it
        started = time.time()
        # its own process group: on a timeout the sweep's job processes go too, not only the launcher
        process = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            rc = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            rc, stderr = 124, f"{stderr}\ntimed out after {timeout:.0f} s"
        run = Run(name, rc, time.time() - started, run_dir, stderr, stdout)
        if runs:
            self.run_costs.append(run.wall_s / runs)
        print(f"  {name}: {'ok' if run.ok else f'exit {rc}'} in {run.wall_s:.1f} s", flush=True)
        if not run.ok:
            with self.log.open("a") as log:
                log.write(f"==== {name}: {' '.join(argv)}\n{stdout[-2000:]}\n{stderr[-6000:]}\n")
        return run

    def align(self, name: str, *overrides: str, probe: bool = True, sweep: bool = False, runs: float = 1) -> Run:
        """`python -m align OVERRIDES` in run directory work/<name> (a sweep directory with sweep=True)."""
        run_dir = self.work / "runs" / _slug(name)
        where = f"hydra.sweep.dir={run_dir}" if sweep else f"hydra.run.dir={run_dir}"
        argv = [sys.executable, "-m", "align", *(["-m"] if sweep else []), *overrides, where,
                *([PROBE_CALLBACK] if probe else [])]
        run = self.command(name, argv, run_dir, runs)
        self.runs[name] = run
        return run

    def concurrently(self, jobs: list[tuple[str, Callable[[], Any]]], width: int) -> dict[str, Any]:
        """Run independent callables `width` at a time; each result or the exception it raised, by name."""

        def guarded(call: Callable[[], Any]) -> Any:
            try:
                return call()
            except Exception as error:
                return error

        with ThreadPoolExecutor(max_workers=max(1, width)) as pool:
            futures = {name: pool.submit(guarded, call) for name, call in jobs}
        return {name: future.result() for name, future in futures.items()}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


# ---------------------------------------------------------------------------------- 1. correctness


TINY = ("method.max_steps=3", "method.logging_steps=1", "data.num_test=32", "data.num_exact_match=8")


def correctness(ctx: Context) -> dict[str, Any]:
    ctx.needs_gpu()
    ctx.needs_align()
    conf = REPO / "conf" / "method"
    checks: list[tuple[str, list[str], Callable[[Run], str]]] = [
        ("sft", ["method=sft", *TINY], _trained_and_generated),
        ("dpo, reference cache", ["method=dpo", *TINY, "cache.ref_logps=true", f"cache.dir={ctx.work / 'ref'}"],
         _reference(held=False)),
        ("dpo, no reference cache", ["method=dpo", *TINY, "cache.ref_logps=false"], _reference(held=True)),
        ("kto", ["method=kto", *TINY], _trained),
        ("reward", ["method=reward", *TINY], _trained),
        ("rejection sampling", ["method=rejection_sampling", "method.num_prompts=64", "method.num_samples=4"],
         _generated_pairs),
    ]
    skipped: dict[str, str] = {}
    if (conf / "grpo.yaml").is_file():  # the online-RL issue's method, once it lands
        checks.append(("grpo", ["method=grpo", *TINY], _trained))
    else:
        skipped["grpo"] = "skipped: method=grpo is not among conf/method/*.yaml yet"
    if (conf / "evaluate.yaml").is_file():  # the evaluation issue's method; until then the SFT run's exact match
        checks.append(("evaluate", ["method=evaluate", "data.num_exact_match=16"], _generated))
    if importlib.util.find_spec("bitsandbytes") is None:
        skipped["qlora"] = "skipped: bitsandbytes not installed"
    else:
        checks.append(("qlora", ["method=sft", "peft=qlora", *TINY], _quantized))
    ctx.expect(2)  # all at once (tiny runs: the GPU and 16 cores have room), about two runs' time
    results = ctx.concurrently([(name, lambda o=overrides, n=name: ctx.align(f"correctness {n}", *o, runs=0))
                                for name, overrides, _ in checks], width=8)
    verdicts: dict[str, str] = dict(skipped)
    for name, _, judge in checks:
        run = results[name]
        if isinstance(run, Exception):
            verdicts[name] = f"failed: {run!r}"
        elif not run.ok:
            verdicts[name] = f"failed: {run.why()}"
        else:
            problem = judge(run)
            verdicts[name] = f"failed: {problem}" if problem else "ok"
    sft = results.get("sft")
    verdicts["attn_implementation=auto"] = _attention_verdict(sft) if isinstance(sft, Run) and sft.ok else \
        "failed: the SFT run did not finish"
    failed = [name for name, verdict in verdicts.items() if verdict.startswith("failed")]
    return {"status": "failed" if failed else "ok", "reason": f"failed: {', '.join(failed)}" if failed else "",
            "checks": verdicts, "wall_s": {name: round(results[name].wall_s, 1) for name, _, _ in checks
                                           if isinstance(results[name], Run)}}


def _trained(run: Run) -> str:
    train, metrics = run.probe().get("train") or {}, run.metrics()
    if not _finite(metrics.get("train_loss")):
        return f"train_loss {metrics.get('train_loss')!r} is not a finite number"
    if not train.get("device", "").startswith("cuda"):
        return f"trained on {train.get('device')!r}, not CUDA"
    if train.get("dtype") != "bfloat16" and not train.get("quantized"):
        return f"weights in {train.get('dtype')}, not bfloat16 (model.dtype=auto on a bf16 GPU)"
    if not train.get("settings", {}).get("bf16"):
        return "TRL's bf16 is off"
    return ""


def _generated(run: Run) -> str:
    places = run.probe().get("generate", {})
    if not places:
        return "nothing was generated"
    off = [where for where in places.values() if not where["device"].startswith("cuda")]
    return f"generated on {off[0]['device']}" if off else ""


def _trained_and_generated(run: Run) -> str:
    return _trained(run) or _generated(run)  # the exact-match evaluation after training generates


def _generated_pairs(run: Run) -> str:
    return _generated(run) or ("" if "num_pairs" in run.metrics() else "metrics.json has no num_pairs")


def _reference(held: bool) -> Callable[[Run], str]:
    def judge(run: Run) -> str:
        problem = _trained(run)
        if problem:
            return problem
        if (run.probe()["train"]["reference_model"]) != held:
            return f"a reference model was {'not ' if held else ''}held in training"
        log = (run.run_dir / "align.log").read_text() if (run.run_dir / "align.log").is_file() else ""
        if not held and "reference log-probs:" not in log:
            return "align.log has no reference log-probs line"
        return ""

    return judge


def _quantized(run: Run) -> str:
    problem = _trained(run)
    train = run.probe().get("train") or {}
    if problem:
        return problem
    if not train.get("quantized"):
        return "no 4-bit (Linear4bit) layer in the trained model"
    if train["trainable_params"] >= train["params"]:
        return "every parameter trains: no LoRA adapter"
    return ""


def _attention_verdict(run: Run) -> str:
    used = (run.probe().get("train") or {}).get("attn_implementation")
    expected = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
    note = "" if expected == "flash_attention_2" else " (flash_attn not installed)"
    return f"ok: {used}{note}" if used == expected else f"failed: auto resolved to {used}, expected {expected}{note}"


# ---------------------------------------------------------------------------------- 2. the pool launcher


def pool(ctx: Context) -> dict[str, Any]:
    ctx.needs_align()
    ctx.expect(3)
    where = ["hydra.launcher.devices=[0]", "hydra.launcher.gpus_per_job=1"] if ctx.gpu else \
        ["hydra.launcher.devices=[]", "hydra.launcher.cpu_slots=1"]
    run = ctx.align("pool sweep", "method=sft", "method.max_steps=2", "data.num_test=16", "data.num_exact_match=4",
                    "method.seed=1,2", *where, sweep=True, runs=2.5)  # two jobs and the launcher's start
    if not run.ok:
        return {"status": "failed", "reason": run.why()}
    jobs = sorted(p.parent.name for p in run.run_dir.glob(f"*/{PROBE_FILE}"))
    seen = {job: run.probe(job) for job in jobs}
    problems = [f"{len(jobs)} of 2 jobs recorded a probe"] if len(jobs) != 2 else []
    for job, probe in seen.items():
        env, planned, train = probe["env"], probe.get("plan", {}), probe.get("train") or {}
        if "train_loss" not in run.metrics(job):
            problems.append(f"{job}: no metrics.json")
        if ctx.gpu and (env["CUDA_VISIBLE_DEVICES"] != "0" or planned.get("gpus") != 1
                        or not train.get("device", "").startswith("cuda")):
            problems.append(f"{job}: CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']!r}, plan {planned}, trained "
                            f"on {train.get('device')!r}; the scheduler gave it GPU 0")
        if not ctx.gpu and planned.get("gpus") != 0:
            problems.append(f"{job}: the plan saw {planned.get('gpus')} GPU(s) on CPU slots")
        port = env["MASTER_PORT"]
        if not port or env["ALIGN_MAIN_PROCESS_PORT"] != port or planned.get("port") != int(port):
            problems.append(f"{job}: MASTER_PORT={port!r}, ALIGN_MAIN_PROCESS_PORT={env['ALIGN_MAIN_PROCESS_PORT']!r}"
                            f", align's plan port {planned.get('port')!r}: not the port the scheduler gave")
    spans = sorted((p["started"], p["ended"]) for p in seen.values())
    if len(spans) == 2 and spans[1][0] < spans[0][1]:
        problems.append("the two jobs overlapped on one device")
    return {"status": "failed" if problems else "ok", "reason": "; ".join(problems),
            "jobs": {f"job {i + 1}": {"dir": job, "CUDA_VISIBLE_DEVICES": p["env"]["CUDA_VISIBLE_DEVICES"],
                                      "port": p["env"]["MASTER_PORT"], "plan": p.get("plan"),
                                      "device": (p.get("train") or {}).get("device"),
                                      "seconds": round(p["ended"] - p["started"], 1)}
                     for i, (job, p) in enumerate(seen.items())},
            "sweep_wall_s": round(run.wall_s, 1)}


# ---------------------------------------------------------------------------------- 3. throughput against plain TRL


@dataclass(frozen=True)
class Sizes:
    """The throughput runs: model shape, rows, batch and steps (timed after `warmup` steps)."""

    model: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    dpo_batch: int
    sft_batch: int
    rows: int
    warmup: int
    steps: int
    pairs: int  # A B repetitions of the DPO comparison

    @property
    def max_length(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# Qwen2.5-0.5B's shape with Llama blocks (no qkv bias): 494M parameters, 136M of them the tied embedding.
GPU_SIZES = Sizes(model={"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                         "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936},
                  prompt_tokens=128, completion_tokens=384, dpo_batch=8, sft_batch=16, rows=640, warmup=5, steps=30,
                  pairs=2)
CPU_SIZES = Sizes(model={"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 2, "num_attention_heads": 4,
                         "num_key_value_heads": 4, "vocab_size": 4096},
                  prompt_tokens=32, completion_tokens=64, dpo_batch=4, sft_batch=8, rows=32, warmup=1, steps=2, pairs=1)


def throughput(ctx: Context) -> dict[str, Any]:
    ctx.needs_align()
    sizes = GPU_SIZES if ctx.gpu else CPU_SIZES
    bench = _bench_inputs(ctx, sizes)
    result: dict[str, Any] = {"status": "ok", "reason": "", "model": bench["model_note"], "rows": bench["rows_note"],
                              "runs": {}}
    ctx.expect(2 * sizes.pairs)
    pairs, problems = [], []
    for i in range(sizes.pairs):  # A B A B: a slow patch of the machine hits both sides
        try:
            pairs.append(_pair(ctx, "dpo", f" {i + 1}", bench, result))
        except (Skip, RuntimeError) as error:
            if not pairs:
                raise
            problems.append(f"pair {i + 1}: {error}")  # the first pair's figures still stand
    result["align_over_plain_tokens_per_s"] = _ratio([a for a, _ in pairs], [b for _, b in pairs])
    ctx.data["dpo align run"] = "dpo align 1"
    if ctx.gpu:  # SFT's pair: the control for packing, and the SFT run of the memory section
        try:
            ctx.expect(2)
            a, b = _pair(ctx, "sft", "", bench, result)
            result["sft_align_over_plain_tokens_per_s"] = _ratio([a], [b])
            ctx.data["sft align run"] = "sft align"
        except Skip as skip:
            result["sft"] = f"skipped: {skip}"
        except RuntimeError as error:
            problems.append(f"sft: {error}")
    result["same_tokens_per_step"] = _same_tokens(result["runs"])
    if not all(result["same_tokens_per_step"].values()):
        problems.append("align and plain TRL trained on different tokens per step")
    if problems:
        result.update(status="failed", reason="; ".join(problems))
    ctx.data["throughput"] = result
    return result


def _pair(ctx: Context, kind: str, suffix: str, bench: dict[str, Any],
          result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One align run, then the control with its settings; their figures go into result["runs"]."""
    a = _throughput_run(ctx, f"{kind} align{suffix}", kind, bench)
    b = _plain_run(ctx, f"{kind} plain TRL{suffix}", kind, bench, follows=a)
    result["runs"][a.name], result["runs"][b.name] = _figures(ctx, a, kind), _figures(ctx, b, kind)
    return result["runs"][a.name], result["runs"][b.name]


def _bench_inputs(ctx: Context, sizes: Sizes) -> dict[str, Any]:
    """The random-weights model and the rows, built once here (no network): the same files for both sides."""
    if "bench" in ctx.data:
        return ctx.data["bench"]
    model_dir, rows_dir = ctx.work / "model", ctx.work / "rows"
    note = _build_model(model_dir, sizes, on_cuda=ctx.gpu)
    tokenizer = _load_tokenizer(model_dir)
    lengths = {kind: _write_rows(rows_dir / f"{kind}.jsonl", tokenizer, kind, sizes) for kind in ("dpo", "sft")}
    bench = {"sizes": sizes, "model": model_dir, "rows": rows_dir, "model_note": note,
             "rows_note": {kind: f"{sizes.rows} rows, {tokens:.0f} tokens per sequence on average, max_length "
                           f"{sizes.max_length}" for kind, tokens in lengths.items()}}
    ctx.data["bench"] = bench
    return bench


def _build_model(target: Path, sizes: Sizes, on_cuda: bool) -> str:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    sys.path.insert(0, str(REPO))
    from align.model.tiny import build_tokenizer

    tokenizer = build_tokenizer(384)  # the tiny model's: its ids fill the start of the larger vocabulary
    shape = dict(sizes.model)
    config = LlamaConfig(**shape, max_position_embeddings=4 * sizes.max_length, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, dtype="bfloat16" if on_cuda else "float32")
    torch.manual_seed(0)
    with torch.device("cuda" if on_cuda else "cpu"):  # initialising 0.5B weights on the CPU takes a while
        model = LlamaForCausalLM(config).to(torch.bfloat16 if on_cuda else torch.float32)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    params = sum(p.numel() for p in model.parameters())
    del model
    if on_cuda:
        torch.cuda.empty_cache()
    return (f"LlamaForCausalLM, random weights: {params / 1e6:.0f}M parameters, {shape['num_hidden_layers']} layers, "
            f"hidden {shape['hidden_size']}, vocabulary {shape['vocab_size']} (the tiny tokenizer's 384 ids in use)")


def _load_tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def _write_rows(path: Path, tokenizer: Any, kind: str, sizes: Sizes) -> float:
    """Chat rows of arithmetic sentences, each part a quarter to all of its share of max_length (batches pad, and
    packing has short rows to combine); DPO: prompt/chosen/rejected, SFT: prompt/completion. Returns the mean tokens
    of a sequence."""
    rand = random.Random(0)

    def sentence() -> str:
        a, b = rand.randint(100, 499), rand.randint(100, 499)  # three digits each: every sentence is as long
        return f"{a} + {b} = {a + b}."

    each = len(tokenizer(sentence() + " ", add_special_tokens=False)["input_ids"])

    def text(tokens: int) -> str:
        return " ".join(sentence() for _ in range(max(1, round(tokens * rand.uniform(0.25, 1.0)) // each)))

    rows, lengths = [], []
    for _ in range(sizes.rows):
        prompt = [{"role": "user", "content": text(sizes.prompt_tokens - 8)}]
        answer = [{"role": "assistant", "content": text(sizes.completion_tokens - 8)}]
        rows.append({"prompt": prompt, "completion": answer} if kind == "sft" else {
            "prompt": prompt, "chosen": answer,
            "rejected": [{"role": "assistant", "content": text(sizes.completion_tokens - 8)}]})
        rendered = tokenizer.apply_chat_template(prompt + answer, tokenize=False)
        lengths.append(len(tokenizer(rendered, add_special_tokens=False)["input_ids"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return statistics.mean(lengths)


def _run_settings(kind: str, bench: dict[str, Any]) -> list[str]:
    sizes: Sizes = bench["sizes"]
    batch = sizes.dpo_batch if kind == "dpo" else sizes.sft_batch
    return [f"method={kind}", f"model.name_or_path={bench['model']}", "data=file",
            f"data.path={bench['rows'] / f'{kind}.jsonl'}", "data.test_split_size=0",
            f"method.max_steps={sizes.warmup + sizes.steps}", f"method.per_device_train_batch_size={batch}",
            f"method.max_length={sizes.max_length}", "method.logging_steps=5", "method.save_strategy=no",
            *(["cache.ref_logps=false"] if kind == "dpo" else [])]


def _throughput_run(ctx: Context, name: str, kind: str, bench: dict[str, Any], *extra: str) -> Run:
    run = ctx.align(name, *_run_settings(kind, bench), *extra)
    if not run.ok or not (run.probe().get("train") or {}).get("steps"):
        raise RuntimeError(run.why() if not run.ok else f"{name}: the probe recorded no training steps")
    return run


def _plain_run(ctx: Context, name: str, kind: str, bench: dict[str, Any], follows: Run) -> Run:
    """The control: `--plain-trl` with the settings the align run `follows` trained with."""
    import yaml

    train = follows.probe()["train"]
    run_dir = ctx.work / "runs" / _slug(name)
    data_seed = yaml.safe_load((follows.run_dir / ".hydra" / "config.yaml").read_text())["data"]["seed"]
    spec = {"kind": kind, "model": str(bench["model"]), "rows": str(bench["rows"] / f"{kind}.jsonl"),
            "shuffle_seed": data_seed, "dtype": train["dtype"], "attn_implementation": train["attn_implementation"],
            "settings": train["settings"], "output_dir": str(run_dir)}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(json.dumps(spec, indent=1))
    run = ctx.command(name, [sys.executable, str(Path(__file__).resolve()), "--plain-trl", str(run_dir / "spec.json")],
                      run_dir)
    ctx.runs[name] = run
    if not run.ok:
        raise RuntimeError(run.why())
    return run


def plain_trl(spec_path: Path) -> None:
    """The control's whole script: what a user writes with TRL alone for the same run."""
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    spec = json.loads(spec_path.read_text())
    install_probe(Path(spec["output_dir"]) / PROBE_FILE)
    config_class, trainer_class = (DPOConfig, DPOTrainer) if spec["kind"] == "dpo" else (SFTConfig, SFTTrainer)
    known = set(config_class.__dataclass_fields__)
    settings = {k: v for k, v in spec["settings"].items() if k in known}
    args = config_class(output_dir=str(Path(spec["output_dir"]) / "checkpoints"), report_to="none",
                        save_strategy="no", **settings)
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=getattr(torch, spec["dtype"]),
                                                 attn_implementation=spec["attn_implementation"])
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    # align shuffles a file's rows with data.seed; the same shuffle here gives both sides the same batches
    rows = load_dataset("json", data_files=spec["rows"], split="train").shuffle(seed=spec["shuffle_seed"])
    trainer = trainer_class(model=model, args=args, train_dataset=rows, processing_class=tokenizer)
    trainer.train()
    _RECORDER.write()


def _figures(ctx: Context, run: Run, kind: str) -> dict[str, Any]:
    """tokens/s over the steps after warm-up, peak memory and MFU of one run, from its probe."""
    train = run.probe()["train"]
    steps = train["steps"]
    warm = min(ctx.data["bench"]["sizes"].warmup, len(steps) - 1)
    (t0, n0), (t1, n1) = (steps[warm - 1] if warm else (0.0, 0)), steps[-1]
    timed = len(steps) - warm
    counted = n1 is not None and n0 is not None  # TRL's trainers keep a running count of the tokens they train on
    peak = train["peak"]
    figures = {"kind": kind, "tokens_per_s": round((n1 - n0) / (t1 - t0), 1) if counted else None,
               "tokens_per_step": round((n1 - n0) / timed, 1) if counted else None,
               "step_s": round((t1 - t0) / timed, 4), "timed_steps": timed, "train_s": round(train["train_s"], 1),
               "wall_s": round(run.wall_s, 1), "reference_model": train["reference_model"],
               "attn_implementation": train["attn_implementation"], "dtype": train["dtype"],
               "peak_mib": round(peak.get("cuda_allocated_mib", peak["rss_mib"]), 1),
               "peak_kind": "cuda max_memory_allocated" if "cuda_allocated_mib" in peak else "RSS"}
    figures.update(_mfu(ctx, train, figures))
    return figures


def _mfu(ctx: Context, train: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    """nanoGPT's estimate: 6N + 12·L·d·T FLOPs per trained token (T the mean sequence length), plus the reference
    model's forward (a third of that) when one is held, over the GPU's dense bf16 peak."""
    if not ctx.gpu or not figures["tokens_per_s"]:
        return {"mfu": None}
    sequences = train["settings"]["per_device_train_batch_size"] * (2 if figures["kind"] == "dpo" else 1)
    mean_length = figures["tokens_per_step"] / sequences
    per_token = 6 * train["matmul_params"] + 12 * train["layers"] * train["hidden"] * mean_length
    if train["reference_model"]:
        per_token *= 4 / 3
    achieved = per_token * figures["tokens_per_s"]
    peak = ctx.data.get("peak_flops")
    return {"model_tflops": round(achieved / 1e12, 1), "mfu": round(achieved / peak, 3) if peak else None,
            "mean_sequence_tokens": round(mean_length, 1)}


def _ratio(align_runs: list[dict[str, Any]], plain_runs: list[dict[str, Any]]) -> float | None:
    a = [r["tokens_per_s"] for r in align_runs if r["tokens_per_s"]]
    b = [r["tokens_per_s"] for r in plain_runs if r["tokens_per_s"]]
    return round(statistics.mean(a) / statistics.mean(b), 3) if a and b else None


def _same_tokens(runs: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Per method, whether every run trained on the same tokens per step: the control is the same run, not a
    lighter one (a difference means align and TRL tokenized the rows differently)."""
    seen: dict[str, list[float]] = {}
    for figures in runs.values():
        seen.setdefault(figures["kind"], []).append(figures["tokens_per_step"] or 0)
    return {kind: max(values) - min(values) <= 0.01 * max(values) for kind, values in seen.items()}


# ---------------------------------------------------------------------------------- 4. memory estimate vs measured


MEMORY_LINE = re.compile(r"memory per (GPU|process):\s+([\d.]+) (GiB|MiB) estimated")


def memory(ctx: Context) -> dict[str, Any]:
    ctx.needs_align()
    runs = {kind: ctx.data.get(f"{kind} align run") for kind in ("dpo", "sft")}
    if not any(runs.values()):
        raise Skip("no throughput run to compare with (the throughput section did not finish one)")
    ctx.expect(1)
    bench = ctx.data["bench"]
    plans = ctx.concurrently([(kind, lambda k=kind: ctx.align(f"dry run {k}", *_run_settings(k, bench),
                                                               "dry_run=true", probe=False, runs=0))
                              for kind, name in runs.items() if name], width=2)
    result: dict[str, Any] = {"status": "ok", "reason": "", "runs": {}}
    problems = []
    for kind, plan in plans.items():
        found = MEMORY_LINE.search(plan.stdout) if isinstance(plan, Run) else None
        if found is None:
            problems.append(f"{kind}: no 'memory per ...' line in the dry run"
                            + (f" ({plan.why()})" if isinstance(plan, Run) and not plan.ok else ""))
            continue
        estimate = float(found.group(2)) * (1024 if found.group(3) == "GiB" else 1)
        peak = ctx.runs[runs[kind]].probe()["train"]["peak"]
        measured = peak.get("cuda_allocated_mib", peak["rss_mib"])
        result["runs"][kind] = {"estimate_mib": round(estimate, 1), "measured_mib": round(measured, 1),
                                "estimate_over_measured": round(estimate / measured, 3),
                                "measured": "cuda max_memory_allocated" if "cuda_allocated_mib" in peak else
                                "peak RSS (CPU: it includes the interpreter and libraries, so not comparable)"}
    if problems:
        result.update(status="failed", reason="; ".join(problems))
    return result


# ---------------------------------------------------------------------------------- 5. align's options on top


def options(ctx: Context) -> dict[str, Any]:
    ctx.needs_align()
    base = ctx.data.get("throughput")
    if not base:
        raise Skip("the throughput section did not finish its control runs")
    bench = ctx.data["bench"]
    plain = {kind: [f for n, f in base["runs"].items() if n.startswith(f"{kind} plain")] for kind in ("dpo", "sft")}
    flash = importlib.util.find_spec("flash_attn") is not None
    liger = importlib.util.find_spec("liger_kernel") is not None
    candidates = [
        ("dpo reference cache", "dpo", ["cache.ref_logps=true", f"cache.dir={ctx.work / 'ref'}"], None),
        ("dpo flash-attention 2", "dpo", ["model.attn_implementation=flash_attention_2"],
         None if ctx.gpu and flash else ctx.mode_reason if not ctx.gpu else "flash_attn not installed"),
        ("dpo liger", "dpo", ["method.use_liger_kernel=true"],
         None if ctx.gpu and liger else ctx.mode_reason if not ctx.gpu else "liger_kernel not installed"),
        ("sft packing", "sft", ["method.packing=true"], None if plain["sft"] else
         "no SFT control run (the CPU mode runs the DPO pair only)" if not ctx.gpu else "no SFT control run"),
    ]
    result: dict[str, Any] = {"status": "ok", "reason": "", "runs": {}}
    failed = []
    for name, kind, extra, skipped in candidates:
        if skipped:
            result["runs"][name] = {"status": f"skipped: {skipped}"}
            continue
        try:
            ctx.expect(1)
            figures = _figures(ctx, _throughput_run(ctx, name, kind, bench, *extra), kind)
            figures["over_plain_tokens_per_s"] = _ratio([figures], plain[kind])
            result["runs"][name] = {"status": "ok", **figures}
        except Skip as skip:
            result["runs"][name] = {"status": f"skipped: {skip}"}
        except Exception as error:
            failed.append(name)
            result["runs"][name] = {"status": f"failed: {error}"}
    if failed:
        result.update(status="failed", reason=f"failed: {', '.join(failed)}")
    return result


# ---------------------------------------------------------------------------------- 6. vLLM generation


def vllm(ctx: Context) -> dict[str, Any]:
    ctx.needs_gpu()
    ctx.needs_align()
    if importlib.util.find_spec("vllm") is None:
        raise Skip("vllm not installed")
    probe = ctx.align("vllm option check", "method=rejection_sampling", "generation.backend=vllm", "--cfg", "job",
                      probe=False, runs=0)
    if not probe.ok:
        raise Skip("align has no generation.backend option yet (method=rejection_sampling generation.backend=vllm "
                   "does not compose)")
    ctx.expect(2)
    rates: dict[str, Any] = {}
    for backend in ("hf", "vllm"):
        run = ctx.align(f"rejection sampling {backend}", "method=rejection_sampling", "method.num_prompts=2000",
                        f"generation.backend={backend}")
        if not run.ok:
            return {"status": "failed", "reason": run.why(), "prompts_per_s": rates}
        metrics = run.metrics()
        # from the process's start: model load and start-up count on both sides, as a user waits for both
        rates[backend] = round(metrics["num_prompts"] / run.wall_s, 1)
    return {"status": "ok", "reason": "", "prompts_per_s": rates,
            "vllm_over_hf": round(rates["vllm"] / rates["hf"], 2),
            "note": "rejection sampling, prompts/s over each process's wall time (start-up included)"}


# ---------------------------------------------------------------------------------- the whole check


SECTION_FUNCTIONS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "correctness": correctness, "pool": pool, "throughput": throughput, "memory": memory, "options": options,
    "vllm": vllm}


def environment(gpu: bool) -> dict[str, Any]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "hydra-core", "flash-attn",
                 "liger-kernel", "bitsandbytes", "vllm"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    if gpu:
        import torch

        found.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                     gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
                     bf16_matmul_tflops=round(_matmul_tflops() / 1e12, 1))
    return found


def _matmul_tflops() -> float:
    """The ceiling measured here: an 8192³ bf16 matrix product on random data, mean of 10 after 3 warm-ups."""
    import torch

    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 10 * 2 * 8192**3 / (start.elapsed_time(end) / 1000)


def missing_packages() -> list[str]:
    return [name for name, module in (("trl", "trl"), ("datasets", "datasets"), ("hydra-core", "hydra"),
                                      ("omegaconf", "omegaconf"), ("peft", "peft"), ("accelerate", "accelerate"))
            if importlib.util.find_spec(module) is None]


def run_sections(ctx: Context, names: list[str]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name in SECTIONS:
        if name not in names:
            results[name] = {"status": "skipped", "reason": "not asked for (--sections)", "section_s": 0.0}
            continue
        print(f"[{name}]", flush=True)
        started = time.time()
        try:
            results[name] = SECTION_FUNCTIONS[name](ctx)
        except Skip as skip:
            results[name] = {"status": "skipped", "reason": str(skip)}
        except Exception as error:
            with ctx.log.open("a") as log:
                log.write(f"==== section {name}\n{traceback.format_exc()}\n")
            results[name] = {"status": "failed", "reason": f"{type(error).__name__}: {error}"[:600]}
        results[name]["section_s"] = round(time.time() - started, 1)
        print(f"  -> {': '.join(filter(None, (results[name]['status'], results[name].get('reason'))))}", flush=True)
    return results


def summary(results: dict[str, dict[str, Any]], gpu: bool, mode_reason: str) -> tuple[list[str], str]:
    """The table printed at the end, and the headline (the last line)."""
    lines = [f"{'section':<12} {'status':<8} figures"]
    for name, section in results.items():
        lines.append(f"{name:<12} {section['status']:<8} {_section_line(name, section)}"[:240])
    ratio = results["throughput"].get("align_over_plain_tokens_per_s")
    if not gpu:
        headline = f"skipped: {mode_reason}"
    elif ratio is None:
        headline = f"throughput {results['throughput']['status']}: {results['throughput'].get('reason', '')}"
    else:
        runs = results["throughput"]["runs"]
        mfu = [f["mfu"] for n, f in runs.items() if n.startswith("dpo align") and f.get("mfu") is not None]
        headline = f"align/plain TRL DPO tokens/s {ratio:.3f}x" + (f" (MFU {statistics.mean(mfu):.1%})" if mfu else "")
    return lines, headline


def _section_line(name: str, section: dict[str, Any]) -> str:
    if section["status"] != "ok":
        return section.get("reason", "")
    if name == "correctness":
        return ", ".join(f"{check} {verdict.split(':')[0]}" for check, verdict in section["checks"].items())
    if name == "pool":
        jobs = section["jobs"].items()
        return "; ".join(f"{job}: GPUs {p['CUDA_VISIBLE_DEVICES']!r} port {p['port']}" for job, p in jobs)
    if name in ("throughput", "options"):
        parts = [f"{n} {f['tokens_per_s']} tok/s {f['peak_mib']:.0f} MiB"
                 + (f" x{f['over_plain_tokens_per_s']}" if f.get("over_plain_tokens_per_s") else "")
                 for n, f in section["runs"].items() if f.get("tokens_per_s")]
        return "; ".join(parts) + (f"; align/plain {section['align_over_plain_tokens_per_s']}x"
                                   if section.get("align_over_plain_tokens_per_s") else "")
    if name == "memory":
        return "; ".join(f"{k} estimate {r['estimate_mib']:.0f} / measured {r['measured_mib']:.0f} MiB"
                         for k, r in section["runs"].items())
    if name == "vllm":
        return f"prompts/s {section['prompts_per_s']}"
    return ""


def download_wheels(dest: Path) -> None:
    """Here, with a registry: the wheels a device run carries (docs/gpu.md), for its Python 3.12 on x86-64."""
    from importlib.metadata import PackageNotFoundError, version

    dest.mkdir(parents=True, exist_ok=True)
    platform = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
    for tag in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
                "manylinux2014_x86_64", "manylinux1_x86_64"):
        platform += ["--platform", tag]
    pinned = []
    for name in DEVICE_WHEELS:
        if "==" in name:
            pinned.append(name)
            continue
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    source_only = [p for p in pinned if p.startswith("antlr4-python3-runtime")]  # an sdist alone on PyPI
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "download", "--no-deps", *platform, "-d", str(dest),
                    *[p for p in pinned if p not in source_only]], check=True)
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dest), *source_only], check=True)  # pure Python
    total = sum(p.stat().st_size for p in dest.glob("*.whl"))
    print(f"{len(list(dest.glob('*.whl')))} wheels, {total / 2**20:.1f} MiB in {dest} (the device tool carries at "
          "most 64 MiB with the working tree)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="CPU dry mode: what runs without CUDA, at CPU sizes")
    parser.add_argument("--out", type=Path, help="the JSON file (default $OUT/gpu_check.json, else ./gpu_check.json)")
    parser.add_argument("--budget-s", type=float, help="start no run that would end later (default 420 on a GPU, "
                        "270 on the CPU)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {','.join(SECTIONS)}")
    parser.add_argument("--work", type=Path, help="work directory for runs, model and rows (default: a temp dir)")
    parser.add_argument("--plain-trl", type=Path, metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--download-wheels", type=Path, metavar="DIR", help="fetch the wheels a device run carries")
    args = parser.parse_args()
    if args.plain_trl:
        return plain_trl(args.plain_trl)
    if args.download_wheels:
        return download_wheels(args.download_wheels)

    started = time.time()
    import torch

    cuda = torch.cuda.is_available()
    gpu = cuda and not args.cpu
    out = (args.out or Path(os.environ.get("OUT") or ".", "gpu_check.json")).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = (args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))).resolve()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "launchers"),
                                                        os.environ.get("PYTHONPATH", "")]),
           "ALIGN_CACHE_DIR": str(work / "cache"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "WANDB_MODE": "disabled", "TRL_EXPERIMENTAL_SILENCE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""  # --cpu on a GPU machine: the runs must not find it either
    log = out.with_suffix(".log")
    log.write_text("")
    budget = args.budget_s or (420.0 if gpu else 270.0)
    ctx = Context(gpu=gpu, mode_reason="no CUDA" if not cuda else "--cpu mode", deadline=started + budget, work=work,
                  log=log, env=env, missing=missing_packages())
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "mode": "gpu" if gpu else "cpu",
                              "budget_s": budget, "work_dir": str(work), "environment": environment(gpu)}
    ctx.data["peak_flops"] = next((flops for key, flops in PEAK_BF16_FLOPS if key in report["environment"]
                                   .get("gpu", "")), None)
    report["sections"] = run_sections(ctx, args.sections.split(","))
    report["wall_s"] = round(time.time() - started, 1)
    lines, headline = summary(report["sections"], gpu, ctx.mode_reason)
    report["headline"] = headline
    out.write_text(json.dumps(report, indent=1, default=str))
    print("\n".join(lines))
    print(f"results: {out} (failed runs' output: {log}); {report['wall_s']:.0f} s")
    print(headline)
    sys.exit(1 if any(s["status"] == "failed" for s in report["sections"].values()) else 0)


if __name__ == "__main__":
    main()
