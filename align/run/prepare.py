"""Validation, once, of everything a run depends on, and what it found, handed on as one `Prepared`: the config
values, the method's row, the resolved hardware, the loaded data, the checkpoint to resume from, the reference
log-prob cache and the evaluations' questions. The dry-run plan, the multi-process launch and the run all read it;
nothing is computed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from align.errors import SourceUnreachable
from align.hardware.plan import HardwarePlan
from align.methods import Method
from align.run.ref_cache import RefCache


@dataclass(frozen=True)
class Prepared:
    cfg: DictConfig
    method: Method
    hardware: HardwarePlan
    # data.load's result: the splits (train, usually test) in the method's data kind and what each source gave;
    # None when a dry run could not reach its Hub data, or counted its rows from the Hub's metadata instead
    data: Any
    data_problem: str | None
    resume_from: Path | None
    ref_cache: RefCache | None
    overrides: tuple[str, ...] = ()
    # A dry run's row counts from the Hub's metadata (data/metadata.py) when it did not load the rows
    data_counts: Any = None
    # The questions of each selected evaluation that asks some (eval/run.py), by evaluation; None when a dry run
    # could not reach them (why: eval_problem)
    eval_questions: dict[str, Any] | None = None
    eval_problem: str | None = None

    @property
    def train_rows(self) -> int | None:
        if self.data_counts is not None:
            return self.data_counts.train
        return None if self.data is None else len(self.data.splits["train"])


def prepare(cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None) -> Prepared:
    """Check the config, the machine (unless dry_run), the resume request and the data; raise an AlignError
    naming what is wrong before anything is written or any model is loaded."""
    from align.run import resume
    from align.run.ref_cache import ref_cache_for

    method, hardware = check(cfg, overrides)
    resume_from = resume.checkpoint_to_resume(cfg, run_dir)  # another run's checkpoints: stop before writing
    data, counts, problem = _load_data(cfg, method)
    questions, eval_problem = _load_questions(cfg)
    return Prepared(cfg, method, hardware, data, problem, resume_from, ref_cache_for(cfg, method),
                    tuple(overrides or ()), counts, questions, eval_problem)


def check(cfg: DictConfig, overrides: list[str] | None = None) -> tuple[Method, HardwarePlan]:
    """What needs neither data nor the run directory: every config value, and unless dry_run this machine and the
    Hub push (a dry run plans for the hardware it names, and reports a missing Hub token itself)."""
    from align.config.checks import check_generation_batch
    from align.config.machine import check_machine
    from align.config.validate import validate
    from align.hardware.plan import plan
    from align.run.hub import check_push_to_hub

    method = validate(cfg, overrides)
    if cfg.get("judge") is not None and "api_key_env" in cfg.judge:
        from align.tracking.secrets import treat_as_secret

        treat_as_secret(cfg.judge.api_key_env)  # its value never reaches a saved config, a log or W&B
    hardware = plan(cfg.hardware)
    check_generation_batch(cfg.method, hardware.world_size)
    if not cfg.dry_run:
        check_machine(cfg, hardware.gpus)
        check_push_to_hub(cfg)
    return method, hardware


def _load_data(cfg: DictConfig, method: Method) -> tuple[Any, Any, str | None]:
    """(loaded data, row counts, why neither) now. A run reads and converts the rows (cached by `datasets`): a bad
    row or data of the wrong kind stops it here, leaving earlier outputs as they were. A dry run of a Hub mixture
    counts the rows from the Hub's metadata instead, loading them only when the metadata lacks a count, and goes on
    without Hub data it cannot reach."""
    from align.data import load
    from align.data.metadata import count

    if method.data_kind == "none":  # method=evaluate reads no data
        return None, None, None
    try:
        if cfg.dry_run and method.trains:  # rejection sampling's plan reads its prompts
            counts = count(cfg.data, method.data_kind, cfg.method.name)
            if counts is not None:
                return None, counts, None
        return load(cfg.data, method.data_kind, cfg.method.name), None, None
    except (SourceUnreachable, OSError) as error:
        if not cfg.dry_run:
            raise
        return None, None, " ".join(str(error).split())


def _load_questions(cfg: DictConfig) -> tuple[dict[str, Any] | None, str | None]:
    """The evaluations' questions now, so that a missing or malformed source stops the run before training; a dry
    run goes on without Hub questions it cannot reach."""
    from align.eval.run import load_eval_questions

    try:
        return load_eval_questions(cfg), None
    except SourceUnreachable as error:
        if not cfg.dry_run:
            raise
        return None, " ".join(str(error).split())
