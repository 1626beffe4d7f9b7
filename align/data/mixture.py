"""`data=file` and `data=mixture`: sources read, converted to the method's format, weighted and concatenated.

A source's `weight` is the fraction of its rows used, the first ones, as the handbook's dataset_mixer takes
them; its test rows come from `test_split`, or are held out from the rows it gives: a fraction
`test_split_size` of each source's, or, when `test_split_size` is a whole number of rows (the handbook's
`test_split_size: 2000`), that many of the whole mixture. The mixture is shuffled with `seed` and cut to
`max_samples`. Every step is a `datasets` operation on cached tables, so the formatting (and the trainer's
tokenization after it) runs once per distinct input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from align.data import adapters, formats, source_type, sources
from align.data.adapters import TEMPLATE_KWARGS, Adapter
from align.errors import DataError


@dataclass
class SourceReport:
    """What one source gave: its detected format (None when unknown) and row counts (shown by dry_run)."""

    key: str
    path: str
    adapter: Adapter | None
    rows: int
    weight: float
    train: int = 0
    test: int = 0


@dataclass
class Mixed:
    splits: Any  # DatasetDict with train (and test)
    sources: list[SourceReport] = field(default_factory=list)  # none for generated data


def source_configs(data: Any) -> list[tuple[str, Any]]:
    """(config key, source) pairs: `data=file` is a mixture of one source, keyed `data`."""
    if source_type(data) == "file":
        return [("data", SimpleNamespace(path=data.path, weight=1.0, split=data.split, test_split=data.test_split,
                                          config=None, columns=None, format=data.format, revision=None))]
    return [(f"data.sources[{i}]", source) for i, source in enumerate(data.sources)]


def load(data: Any, kind: str, method: str | None = None) -> Mixed:
    """Every source read and detected first (so a misfit stops the run before any conversion), then mixed."""
    from datasets import DatasetDict, concatenate_datasets

    found = []
    for key, source in source_configs(data):
        parts = sources.read(source, key, source.split)
        forced = "auto" if source.format in sources.FILE_FORMATS else source.format
        first = parts[0].dataset
        found.append((key, source, parts, adapters.detect(first.column_names, first[0], forced)))
    check_fits([(key, source, parts[0].dataset.column_names, adapter) for key, source, parts, adapter in found],
               kind, method)
    trains, tests, reports = [], [], []
    for key, source, parts, adapter in found:
        train, test, report = _weighted(data, key, source, parts, adapter)
        trains.append(formats.convert(train, adapter.shape, kind))
        if test is not None:
            tests.append(formats.convert(test, adapter.shape, kind))
        reports.append(report)
    splits = {"train": _reconcile(trains, kind)}
    if tests:
        splits["test"] = _reconcile(tests, kind)
    for name, parts in splits.items():
        splits[name] = (parts[0] if len(parts) == 1 else concatenate_datasets(parts)).shuffle(seed=data.seed)
    held = mixture_held_out(data, len(splits["train"]))
    if held:
        split = splits["train"].train_test_split(test_size=held, seed=data.seed)
        splits["train"], tests = split["train"], [*([splits["test"]] if "test" in splits else []), split["test"]]
        splits["test"] = concatenate_datasets(_reconcile(tests, kind)) if len(tests) > 1 else tests[0]
    for name, mixed in splits.items():
        if data.max_samples is not None and len(mixed) > data.max_samples:
            splits[name] = mixed.select(range(data.max_samples))
    return Mixed(DatasetDict(splits), reports)


def mixture_held_out(data: Any, train_rows: int | None = None) -> int:
    """Rows held out of the whole mixture: `test_split_size` when it is a whole number of rows, else 0 (a fraction
    is held out of each source). DataError when they are not fewer than the mixture's `train_rows`."""
    held = int(data.test_split_size) if data.test_split_size >= 1 else 0
    if held and train_rows is not None and held >= train_rows:
        raise DataError(
            f"data.test_split_size={held} holds out {held} rows of the mixture, but it has only {train_rows} train "
            "rows. Expected fewer rows, or a fraction such as 0.05."
        )
    return held


def split_sizes(rows: int, weight: float, test_split_size: float, has_test_split: bool) -> tuple[int, int]:
    """(rows kept, of them held out for evaluation) of a source with `rows`: its first `weight` of them, and
    `test_split_size` of those unless its test rows come from a test split or from the whole mixture."""
    kept = rows if weight >= 1 else max(1, int(weight * rows))
    if has_test_split or test_split_size >= 1 or int(test_split_size * kept) < 1:
        return kept, 0
    return kept, math.ceil(test_split_size * kept)  # as datasets' train_test_split rounds a fraction


def source_label(source: Any) -> str:
    """A source as the plan names it: a local path, or a Hub id with its configuration and split."""
    if sources.is_local(source.path):
        return str(source.path)
    config = f"config {source.config}, " if source.config else ""
    return f"{source.path} ({config}split {source.split})"


def _weighted(data: Any, key: str, source: Any, parts: list, adapter: Adapter) -> tuple[Any, Any, SourceReport]:
    """(train, test or None, report) of one source in its adapter's format: its first `weight` of rows, and
    its test split or a held-out part of those rows."""
    train = _adapt(parts, adapter, key)
    report = SourceReport(key, source_label(source), adapter, len(train), source.weight)
    kept, held = split_sizes(len(train), source.weight, data.test_split_size, source.test_split is not None)
    if kept < len(train):
        train = train.select(range(kept))
    test = None
    if source.test_split is not None:
        test = _adapt(sources.read(source, key, source.test_split), adapter, key)
    elif held:
        split = train.train_test_split(test_size=held, seed=data.seed)
        train, test = split["train"], split["test"]
    report.train, report.test = len(train), len(test) if test is not None else 0
    return train, test, report


def check_fits(found: list, kind: str, method: str | None) -> None:
    """One paragraph naming each source that cannot become `kind` data (and, in a mixture, those that can).
    `found` holds (key, source, its columns, its adapter or None) per source."""
    fits = [adapter is not None and adapter.shape in formats.ACCEPTS[kind] for *_, adapter in found]
    if all(fits):
        return
    described = []
    for (key, source, columns, adapter), ok in zip(found, fits, strict=True):
        what = f"{adapter.name}, {adapter.shape} data" if adapter else "no known format"
        if source.format not in ("auto", *sources.FILE_FORMATS) and adapter is None:
            what = f"not the columns of {key}.format={source.format}"
        described.append((f"{key}.path={source.path!r}", columns, what, ok))
    if len(found) == 1:
        name, columns, what, _ = described[0]
        raise DataError(formats.mismatch(name, columns, what, kind, method) + ".")
    who = f"method {method!r}" if method else "this method"
    listing = "; ".join(
        f"{name} has columns {', '.join(columns)} ({what}){'' if ok else f', which cannot become {kind} data'}"
        for name, columns, what, ok in described
    )
    raise DataError(
        f"The sources of data=mixture cannot be reconciled into the {kind} data that {who} trains on: {listing}. "
        f"Every source needs the columns of one of: {formats.needed(kind)}. Remove or replace the sources that do "
        "not fit, or keep only fitting columns of one with data.sources[i].columns=[...]."
    )


def _adapt(parts: list, adapter: Adapter, key: str):
    """Every part converted by `adapter` (a cached `datasets.map`), concatenated; DataError names a bad row."""
    from datasets import Features, Json, List, Value, concatenate_datasets

    message = List({"role": Value("string"), "content": Value("string")})
    # Json keeps each row's own keys (a struct column would give every row the keys of all of them)
    types = {"text": Value("string"), "label": Value("bool"), TEMPLATE_KWARGS: Json()}
    converted = []
    for part in parts:
        missing = [c for c in adapter.columns if c not in part.dataset.column_names]
        if missing:
            raise DataError(
                f"{part.label} ({key}) lacks the column(s) {', '.join(missing)} of {adapter.describe()}, the format "
                f"detected for this source. Rows look like {adapter.example}."
            )
        columns = [*adapter.output, *([TEMPLATE_KWARGS] if TEMPLATE_KWARGS in part.dataset.column_names else [])]
        try:
            converted.append(part.dataset.map(
                adapters.convert_batch,
                batched=True,
                with_indices=True,
                fn_kwargs={"adapter": adapter.name, "version": adapters.VERSION},
                remove_columns=part.dataset.column_names,
                features=Features({column: types.get(column, message) for column in columns}),
                desc=f"Formatting {part.label} ({adapter.name})",
            ))
        except adapters.RowProblem as problem:
            reason, index = problem.args
            raise DataError(
                f"{part.where(index)} {reason}. The format of this source is {adapter.describe()}; a row looks "
                f"like {adapter.example}."
            ) from None
    converted = _kwargs_everywhere(converted)
    return converted[0] if len(converted) == 1 else concatenate_datasets(converted)


def _reconcile(datasets: list, kind: str) -> list:
    """Sources in one column layout: SFT conversations and prompt/completion pairs mix as conversations;
    prompts keep a reference completion only if every source has one; rows of a source without chat template
    arguments get none when another source has them."""
    datasets = _kwargs_everywhere(datasets)
    if kind == "sft" and len({tuple(d.column_names) for d in datasets}) > 1:
        return [formats.as_messages(d) for d in datasets]
    if kind == "prompt" and len({tuple(d.column_names) for d in datasets}) > 1:
        return [d.select_columns(["prompt"]) for d in datasets]
    return datasets


def _kwargs_everywhere(datasets: list) -> list:
    """Every dataset with a chat_template_kwargs column once one has it: {} (the template's defaults) for the others."""
    from datasets import Features, Json

    having = [TEMPLATE_KWARGS in d.column_names for d in datasets]
    if all(having) or not any(having):
        return datasets
    return [d if has else d.map(_no_kwargs, features=Features({**d.features, TEMPLATE_KWARGS: Json()}),
                                desc="Adding empty chat template kwargs")
            for d, has in zip(datasets, having, strict=True)]


def _no_kwargs(row: dict[str, Any]) -> dict[str, Any]:
    return {TEMPLATE_KWARGS: {}}
