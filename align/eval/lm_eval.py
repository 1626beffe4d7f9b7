"""`eval=lm_eval`: EleutherAI's lm-evaluation-harness on the saved model, through its Python API.

Tasks are the harness's names (its own, or those of the task YAMLs in eval.lm_eval.include_path); chat models
(a tokenizer with a chat template) are prompted through the template. The harness's results land in
results.json, and its metrics come back flat as `lm_eval/<task>/<metric>` for metrics.json.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from align.errors import EnvironmentProblem, closest, invalid
from align.outputs import write_json
from align.paths import cache_dir

log = logging.getLogger(__name__)

INSTALL = "pip install 'align[eval]'"


def check_tasks(lm_eval_cfg: Any) -> None:
    """Raise a ConfigError naming eval.lm_eval.include_path when that folder is missing, or eval.lm_eval.tasks
    (with close matches) for a task, group or tag the harness does not know."""
    tasks = list(lm_eval_cfg.tasks or [])
    if not tasks:
        raise invalid("eval.lm_eval.tasks", lm_eval_cfg.tasks,
                      "a list of lm-evaluation-harness task names, e.g. eval.lm_eval.tasks=[hellaswag,arc_easy]")
    include = _include_path(lm_eval_cfg)
    task_manager = _task_manager_class()
    local = task_manager(include_path=include, include_defaults=False).all_tasks if include else []
    unknown = _unknown(tasks, local)
    if unknown:
        known = [*_default_tasks(task_manager), *local]
        unknown = _unknown(unknown, known)
        if unknown:
            near = "; ".join(f"{name!r}: did you mean {' or '.join(closest(name, known)) or 'nothing close'}?"
                             for name in unknown)
            raise invalid(
                "eval.lm_eval.tasks", unknown if len(unknown) > 1 else unknown[0],
                "names of lm-evaluation-harness tasks, groups or tags (`lm-eval ls tasks` lists them) or of the "
                "task YAMLs in eval.lm_eval.include_path",
                f"Unknown: {near}",
            )


def run_lm_eval(model_dir: Path, tokenizer_dir: Path | None, lm_eval_cfg: Any, out_dir: Path,
                on_cuda: bool) -> dict[str, float]:
    """Evaluate the model in `model_dir` on eval.lm_eval.tasks; write out_dir/results.json and return the
    metrics as {"lm_eval/<task>/<metric>": value}."""
    _task_manager_class()
    import lm_eval
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    tokenizer = str(tokenizer_dir or model_dir)
    chat = AutoTokenizer.from_pretrained(tokenizer).chat_template is not None
    log.info("lm-evaluation-harness on %s: tasks %s%s", model_dir, list(lm_eval_cfg.tasks),
             " (chat template applied)" if chat else "")
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(model_dir), "tokenizer": tokenizer},
        tasks=list(lm_eval_cfg.tasks),
        num_fewshot=lm_eval_cfg.num_fewshot,
        batch_size=lm_eval_cfg.batch_size,
        limit=lm_eval_cfg.limit,
        device="cuda" if on_cuda else "cpu",
        task_manager=TaskManager(include_path=_include_path(lm_eval_cfg)),
        apply_chat_template=chat,
        fewshot_as_multiturn=chat,
        log_samples=False,
    )
    write_json(Path(out_dir) / "results.json", results)
    return flat_metrics(results["results"])


def flat_metrics(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The harness's per-task results ({"acc,none": 0.5, "alias": ...}) as {"lm_eval/<task>/acc": 0.5}: the
    metrics (named "<metric>,<filter>"), the default filter "none" dropped from the name, another kept after a
    slash."""
    flat = {}
    for task, metrics in results.items():
        for name, value in metrics.items():
            metric, comma, kind = name.partition(",")
            if not comma or isinstance(value, bool) or not isinstance(value, int | float):
                continue  # the alias, sample_len, stderr the harness could not compute ("N/A")
            flat[f"lm_eval/{task}/{metric}" + (f"/{kind}" if kind != "none" else "")] = float(value)
    return flat


def _include_path(lm_eval_cfg: Any) -> str | None:
    if lm_eval_cfg.include_path is None:
        return None
    folder = Path(lm_eval_cfg.include_path).expanduser()
    if not folder.is_dir():
        raise invalid("eval.lm_eval.include_path", lm_eval_cfg.include_path,
                      "a folder of lm-evaluation-harness task YAMLs",
                      f"{folder.resolve()} is not a folder{' (it is a file)' if folder.is_file() else ''}.")
    return str(folder.resolve())


def _task_manager_class() -> Any:
    try:
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise EnvironmentProblem(f"eval=lm_eval needs lm-evaluation-harness: {INSTALL}") from None
    return TaskManager


def _default_tasks(task_manager: Any) -> list[str]:
    """The harness's own task, group and tag names: indexing its 10,000 YAMLs takes many seconds, so the names are
    kept in align's cache, once per harness version."""
    import lm_eval

    memo = cache_dir() / "lm_eval" / f"tasks-{lm_eval.__version__}.json"
    if memo.is_file():
        return json.loads(memo.read_text())
    names = task_manager().all_tasks
    write_json(memo, names)
    return names


def _unknown(tasks: list[str], known: list[str]) -> list[str]:
    names = set(known)
    return [task for task in tasks if task not in names and not Path(task).is_file()]
