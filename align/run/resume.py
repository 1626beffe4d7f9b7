"""Crash-safe training: complete checkpoints in <run dir>/checkpoints, `resume` (auto, never or a path), and
SIGTERM/SIGINT turned into "save a checkpoint, then stop".

transformers writes a checkpoint file by file; align marks it complete (`align_checkpoint.json`, written
atomically once every file is on disk) and only ever resumes from a marked one, so a checkpoint torn by a
kill is skipped. The marker also carries the summed training loss so far, which makes a resumed run's
`train_loss` the mean over all its steps, as in an uninterrupted run, and the run's training settings, so
that `resume=auto` refuses checkpoints of a different run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from align.errors import ConfigError
from align.outputs import sync_tree, write_json

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
MARKER = "align_checkpoint.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")
# Method keys that may change between an interrupted run and its resumption: how long to train, what to
# log, evaluate and save, and where; none of them changes the weights of the steps already taken.
_FREE_METHOD_KEYS = {
    "max_steps", "num_train_epochs", "per_device_eval_batch_size", "report_to", "run_name", "output_dir",
    "resume_from_checkpoint", "disable_tqdm", "dataloader_num_workers", "dataloader_pin_memory",
    "dataloader_persistent_workers", "dataloader_prefetch_factor", "push_to_hub",
}
_FREE_METHOD_PREFIXES = ("save_", "logging_", "eval_", "hub_")
_COMPARED_GROUPS = ("model", "data", "peft", "method")


# ------------------------------------------------------------------------------ finding checkpoints


def step_of(path: Path) -> int | None:
    match = _NAME.match(path.name)
    return int(match.group(1)) if match else None


def read_marker(path: Path) -> dict[str, Any] | None:
    """The completeness marker of checkpoint `path`, or None when its save never finished."""
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    valid = isinstance(marker, dict) and isinstance(marker.get("step"), int) and isinstance(
        marker.get("loss_sum"), (int, float))
    return marker if valid else None


def checkpoints(run_dir: Path) -> list[Path]:
    """Every `checkpoint-N` directory of the run, complete or not, oldest step first."""
    folder = run_dir / CHECKPOINTS
    found = [p for p in folder.iterdir() if p.is_dir() and step_of(p) is not None] if folder.is_dir() else []
    return sorted(found, key=step_of)


def latest_complete(run_dir: Path) -> Path | None:
    complete = [p for p in checkpoints(run_dir) if read_marker(p) is not None]
    return complete[-1] if complete else None


def check_value(value: Any) -> None:
    """`resume` is auto, never, or a complete checkpoint directory (validation, no run directory needed)."""
    if value in ("auto", "never"):
        return
    path = Path(str(value)).expanduser()
    if not isinstance(value, str) or not path.is_dir():
        raise ConfigError(
            f"Invalid value for resume: {value!r}. Expected auto (continue from the run directory's latest "
            "complete checkpoint), never (train from scratch), or an existing checkpoint directory such as "
            "<run dir>/checkpoints/checkpoint-500."
        )
    if read_marker(path) is None:
        raise ConfigError(
            f"Invalid value for resume: {value!r} is not a complete align checkpoint: it has no {MARKER}, so its "
            "save was interrupted or it was not written by align. Expected a checkpoint directory holding "
            f"{MARKER}, or resume=auto to take the latest complete one."
        )


def checkpoint_to_resume(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint this run continues from: none (resume=never or nothing saved yet), the given path, or with
    resume=auto the run directory's latest complete one, which must come from a run with the same settings."""
    check_value(cfg.resume)
    if cfg.resume == "never":
        return None
    if cfg.resume != "auto":
        return Path(cfg.resume).expanduser().resolve()
    latest = latest_complete(run_dir)
    if latest is None:
        return None
    theirs, ours = read_marker(latest).get("settings", {}), settings(cfg)
    # values set on both sides first: a key only one side has means another align version, a smaller surprise
    changed = sorted((k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k)),
                     key=lambda k: (k not in theirs or k not in ours, k))
    if changed:
        shown = "; ".join(f"{k} was {_shown(theirs.get(k))}, now {_shown(ours.get(k))}" for k in changed[:3])
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        raise ConfigError(
            f"The run directory {run_dir} holds {latest.name} of a different run: {shown}{more}. resume=auto "
            "only continues the same run. Choose another hydra.run.dir for a new run, resume=never to train "
            f"from scratch here (its checkpoints are replaced), or resume={latest} to continue from it anyway."
        )
    return latest


def settings(cfg: DictConfig) -> dict[str, Any]:
    """The config values a checkpoint's weights depend on, flattened to dotted keys (what resume=auto compares)."""
    from align.tracking.secrets import scrub

    flat: dict[str, Any] = {}
    for group in _COMPARED_GROUPS:
        values = scrub(OmegaConf.to_container(cfg[group], resolve=True))
        for key, value in values.items():
            free = key in _FREE_METHOD_KEYS or key.startswith(_FREE_METHOD_PREFIXES)
            if not (group == "method" and free):
                flat[f"{group}.{key}"] = value
    return json.loads(json.dumps(flat, default=str))  # as it reads back from a marker


def _shown(value: Any) -> str:
    return "unset" if value is None else json.dumps(value)


# -------------------------------------------------------------------------------------------- training


@dataclass
class Resumed:
    """Where training started: the checkpoint (None for a fresh run), its step and summed loss."""

    checkpoint: Path | None
    step: int = 0
    loss_sum: float = 0.0


class _Finished(Exception):
    """Raised at train begin when the resumed checkpoint is the last step (transformers would take one more)."""


class Interrupted(Exception):
    """Training stopped on SIGTERM/SIGINT; the runner prints `message` and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def train(trainer: Any, checkpoint: Path | None, cfg: DictConfig, run_dir: Path) -> Any:
    """`trainer.train()`, continued from `checkpoint` (see checkpoint_to_resume), saving complete checkpoints and
    stopping cleanly on SIGTERM/SIGINT (raises Interrupted). Returns TrainOutput with the whole run's mean loss."""
    start = Resumed(None)
    if checkpoint is not None:
        marker = read_marker(checkpoint)
        start = Resumed(checkpoint, int(marker["step"]), float(marker["loss_sum"]))
        log.info("Resuming from %s (step %d); `resume=never` would train from scratch", checkpoint, start.step)
    if trainer.is_world_process_zero():
        _discard_stale(run_dir, start)
    trainer.accelerator.wait_for_everyone()
    limit = trainer.args.save_total_limit
    trainer.args.save_total_limit = None  # rotation happens after the marker is written: see on_save
    with StopOnSignal() as stop:
        trainer.add_callback(_callback(trainer, stop, start, settings(cfg), limit))
        try:
            result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        except _Finished:  # the checkpoint is the last step: its weights are loaded, nothing is left to train
            from transformers.trainer_utils import TrainOutput

            trainer.is_in_train = False
            result = TrainOutput(trainer.state.global_step, 0.0, {})
        except BaseException:
            _close_progress_bars(trainer)  # else tqdm redraws them at exit, after the error paragraph
            raise
    if stop.signum is not None:
        raise Interrupted(_interrupted_message(run_dir, trainer.state.global_step), 128 + stop.signum)
    # transformers averages over the steps of this session only; the marker holds the sum before it.
    steps = result.global_step - start.step
    loss = (start.loss_sum + result.training_loss * steps) / max(result.global_step, 1)
    history = trainer.state.log_history
    if history and "train_loss" in history[-1]:
        history[-1]["train_loss"] = loss
    return result._replace(training_loss=loss)


def _close_progress_bars(trainer: Any) -> None:
    for callback in trainer.callback_handler.callbacks:
        for name in ("training_bar", "prediction_bar"):
            if getattr(callback, name, None) is not None:
                getattr(callback, name).close()
                setattr(callback, name, None)


def _interrupted_message(run_dir: Path, step: int) -> str:
    latest = latest_complete(run_dir)
    if latest is not None and step_of(latest) == step:
        saved = f"checkpoint saved in {latest}"
    elif latest is not None:
        saved = f"no checkpoint could be saved, the latest is {latest}"
    else:
        saved = "no checkpoint could be saved"
    return f"align: interrupted at step {step}; {saved}; run the same command again to resume"


def _discard_stale(run_dir: Path, start: Resumed) -> None:
    """Checkpoints this run would overwrite or must never load: torn ones, and any after its starting step."""
    for path in checkpoints(run_dir):
        if read_marker(path) is None or start.checkpoint is None or step_of(path) > start.step:
            why = "incomplete" if read_marker(path) is None else "not part of this run"
            log.warning("Removing %s (%s)", path, why)
            shutil.rmtree(path, ignore_errors=True)


def _rotate(run_dir: Path, limit: int | None, keep: set[Path]) -> None:
    """Keep the newest `limit` complete checkpoints (and `keep`); older ones go, torn ones too."""
    found = checkpoints(run_dir)
    complete = [p for p in found if read_marker(p) is not None]
    if not complete:
        return
    newest = set(complete[-limit:]) if limit else set(complete)
    for path in found:
        if path not in newest and path.resolve() not in keep and step_of(path) < step_of(complete[-1]):
            shutil.rmtree(path, ignore_errors=True)


def _callback(trainer: Any, stop: StopOnSignal, start: Resumed, run_settings: dict[str, Any], limit: int | None):
    """A TrainerCallback that marks each saved checkpoint complete and turns a stop request into save-and-stop."""
    from transformers import TrainerCallback

    class CompleteCheckpoints(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if 0 < state.max_steps <= state.global_step:
                raise _Finished

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if stop.requested(args):
                control.should_save = True
                control.should_training_stop = True

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # transformers' own running sum: logged losses plus those since the last log, averaged over the
            # processes as its next log would have (a collective, so before the main-process-only part)
            unlogged = trainer._tr_loss.detach().clone()
            if args.world_size > 1:
                unlogged = trainer.accelerator.reduce(unlogged, reduction="mean")
            loss_sum = start.loss_sum + trainer._total_loss_scalar + unlogged.item()
            trainer.accelerator.wait_for_everyone()  # every rank's shards are written
            if state.is_world_process_zero:
                path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                sync_tree(path)
                write_json(path / MARKER, {"step": state.global_step, "loss_sum": loss_sum, "settings": run_settings})
                best = state.best_model_checkpoint
                _rotate(Path(args.output_dir).parent, limit, {Path(best).resolve()} if best else set())
            trainer.accelerator.wait_for_everyone()

    return CompleteCheckpoints()


class StopOnSignal:
    """While active, SIGTERM or SIGINT asks training to save and stop; in a single process, the same signal again
    acts as usual (a second Ctrl-C stops at once).

    Other repeats are part of the same request: a Ctrl-C'd sweep launcher also sends its jobs SIGTERM, and
    torchrun forwards to its workers the SIGTERM they got from SLURM already; each should finish its checkpoint.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}
        self.force_on_repeat = int(os.environ.get("WORLD_SIZE", "1")) == 1

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum == signum and self.force_on_repeat:  # asked twice: stop now, as without this handler
            self.__exit__()
            signal.raise_signal(signum)
            return
        if self.signum is not None:
            return
        self.signum = signum
        hint = " (send it again to stop at once)" if self.force_on_repeat else ""
        log.warning("%s: saving a checkpoint after this step, then stopping%s", signal.Signals(signum).name, hint)

    def requested(self, args: Any) -> bool:
        """Whether any process was signalled; every process must agree, since saving is collective."""
        asked = self.signum is not None
        if args.world_size > 1:
            import torch
            import torch.distributed as dist

            flag = torch.tensor([self.signum or 0], device=args.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            if flag.item() and self.signum is None:
                self.signum = int(flag.item())
            asked = bool(flag.item())
        return asked
