"""method=evaluate: the evaluations chosen with eval=... (align/eval/run.py) on model.name_or_path as it is, without
training: no checkpoints/ and no model/, only the run's record, <run dir>/eval/<name>/ and metrics.json. Without
eval=..., exact match on the data's verifiable answers, as every training run reports it.

`run` is called by the job (run/job.py) and `plan_lines` by the dry run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from align import tracking


def run(prepared: Any, run_dir: Path, hydra_cfg: Any) -> dict[str, Any]:
    from transformers import set_seed

    from align.eval.run import evaluated_by_method, model_name, run_evaluations
    from align.hardware.settings import use_cuda
    from align.model.load import load_model, load_tokenizer, model_path
    from align.run.record import log_to_file, nothing_new_on_error, record_run

    cfg = prepared.cfg
    on_cuda = use_cuda(prepared.hardware)
    with nothing_new_on_error(run_dir):
        log_to_file(run_dir)
        model = load_model(cfg.model, on_cuda).to("cuda" if on_cuda else "cpu")  # first: it converts a GGUF
        tokenizer = load_tokenizer(cfg.model)
        record_run(run_dir, cfg, hydra_cfg, None)
    set_seed(cfg.method.seed)
    weights = Path(model_path(cfg.model))
    tokenizer_dir = Path(cfg.model.tokenizer_name_or_path).expanduser() if cfg.model.tokenizer_name_or_path else weights
    metrics = run_evaluations(prepared, model, tokenizer, run_dir, (weights, tokenizer_dir), model_name(cfg.model),
                              evaluated_by_method(cfg))
    tracking.log_metrics(cfg, run_dir, metrics, 0)
    return metrics


def plan_lines(prepared: Any) -> list[str]:
    """What the dry run says instead of training costs: the evaluations and their judge."""
    from align.eval.run import evaluated_by_method
    from align.eval.run import plan_lines as eval_lines
    from align.plan.describe import line

    return [line("training", "none: the model is evaluated as it is (no checkpoints/, no model/)"),
            *eval_lines(prepared, evaluated_by_method(prepared.cfg))]
