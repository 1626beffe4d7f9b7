"""The run of a method with a TRL trainer, top to bottom: TRL arguments, the trainer (model, tokenized data, the
reference log-probs), the run directory's record, tracking, training with resume, the saved model, and its
evaluation: the trainer's own on the test split, exact match, and those chosen with eval=... (align/eval/run.py).

Everything before training is undone if it fails (run/record.py), so a run that TRL rejects or whose rows are all
too long leaves the run directory as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from align import tracking
from align.eval.exact_match import exact_match_metrics
from align.hardware.settings import use_cuda
from align.outputs import write_json
from align.plan.disk import warn_if_too_big
from align.run import resume
from align.run.hub import token_to_environment
from align.run.record import log_to_file, nothing_new_on_error, record_run
from align.run.trainer import build_trainer, save_model, trl_args


def train(prepared: Any, run_dir: Path, hydra_cfg: Any) -> dict[str, Any]:
    """Train `prepared` (run/prepare.py) into `run_dir`; returns the metrics (written by the caller)."""
    cfg, method = prepared.cfg, prepared.method
    on_cuda = use_cuda(prepared.hardware)
    with nothing_new_on_error(run_dir):
        log_to_file(run_dir)
        warn_if_too_big(prepared, run_dir)
        token_to_environment(cfg.method)
        args = trl_args(cfg, method, run_dir, on_cuda)
        trainer = build_trainer(prepared, args, on_cuda)
        record_run(run_dir, cfg, hydra_cfg, prepared.resume_from)
        tracking.start(cfg, run_dir)  # once the trainer exists: a run TRL rejects leaves no W&B run behind

    tokenizer = trainer.processing_class
    result = resume.train(trainer, prepared.resume_from, cfg, run_dir)
    metrics: dict[str, Any] = {"train_loss": result.training_loss, "train_steps": result.global_step}
    if method.rewarded:
        from align.methods.rewards import summary

        metrics.update(summary(trainer.state.log_history))
    # every process takes part in evaluation, generation and saving (ZeRO-3 and FSDP gather sharded weights)
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    metrics.update(exact_match_metrics(trainer.model, tokenizer, cfg.data))
    save_model(trainer, cfg, tokenizer, run_dir)
    metrics.update(_evaluations(prepared, trainer, tokenizer, run_dir))
    if trainer.is_world_process_zero():
        write_json(run_dir / "log_history.json", trainer.state.log_history)
    metrics["world_size"] = trainer.args.world_size
    return metrics


def _evaluations(prepared: Any, trainer: Any, tokenizer: Any, run_dir: Path) -> dict[str, Any]:
    """The evaluations of eval=... on the trained model in memory (lm_eval loads the saved model/), logged to the
    trackers at the last step. Exact match ran before saving, as in every run."""
    from align.eval.run import run_evaluations, selected

    names = [name for name in selected(prepared.cfg) if name != "exact_match"]
    if not names:
        return {}
    saved = run_dir / "model"
    metrics = run_evaluations(prepared, trainer.model, tokenizer, run_dir, (saved, saved), str(saved), names)
    tracking.log_metrics(prepared.cfg, run_dir, metrics, trainer.state.global_step)
    return metrics
