"""`data=file` and `data=mixture`: sources read, converted to the method's format, weighted and concatenated.

A source's `weight` is the fraction of its rows used, the first ones, as the handbook's dataset_mixer takes
them; its test rows come from `test_split`, or are held out (`test_split_size`) from the rows it gives.
The mixture is shuffled with `seed` and cut to `max_samples`. Every step is a `datasets` operation on
cached tables, so the formatting (and the trainer's tokenization after it) runs once per distinct input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from align.data import adapters, formats, source_type, sources
from align.data.adapters import Adapter
from align.errors import DataError


@dataclass
class SourceReport:
    """What one source gave: its detected format and row counts (shown by dry_run)."""

    key: str
    path: str
    adapter: Adapter
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
    _check_fits(found, kind, method)
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
        mixed = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
        mixed = mixed.shuffle(seed=data.seed)
        if data.max_samples is not None and len(mixed) > data.max_samples:
            mixed = mixed.select(range(data.max_samples))
        splits[name] = mixed
    return Mixed(DatasetDict(splits), reports)


def _weighted(data: Any, key: str, source: Any, parts: list, adapter: Adapter) -> tuple[Any, Any, SourceReport]:
    """(train, test or None, report) of one source in its adapter's format: its first `weight` of rows, and
    its test split or a held-out part of those rows."""
    train = _adapt(parts, adapter, key)
    report = SourceReport(key, source.path, adapter, len(train), source.weight)
    if source.weight < 1:
        train = train.select(range(max(1, int(source.weight * len(train)))))
    test = None
    if source.test_split is not None:
        test = _adapt(sources.read(source, key, source.test_split), adapter, key)
    elif int(data.test_split_size * len(train)) >= 1:
        split = train.train_test_split(test_size=data.test_split_size, seed=data.seed)
        train, test = split["train"], split["test"]
    report.train, report.test = len(train), len(test) if test is not None else 0
    return train, test, report


def _check_fits(found: list, kind: str, method: str | None) -> None:
    """One paragraph naming each source that cannot become `kind` data (and, in a mixture, those that can)."""
    fits = [adapter is not None and adapter.shape in formats.ACCEPTS[kind] for *_, adapter in found]
    if all(fits):
        return
    described = []
    for (key, source, parts, adapter), ok in zip(found, fits, strict=True):
        columns = parts[0].dataset.column_names
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
    from datasets import Features, List, Value, concatenate_datasets

    message = List({"role": Value("string"), "content": Value("string")})
    types = {"text": Value("string"), "label": Value("bool")}
    features = Features({column: types.get(column, message) for column in adapter.output})
    converted = []
    for part in parts:
        missing = [c for c in adapter.columns if c not in part.dataset.column_names]
        if missing:
            raise DataError(
                f"{part.label} ({key}) lacks the column(s) {', '.join(missing)} of {adapter.describe()}, the format "
                f"detected for this source. Rows look like {adapter.example}."
            )
        try:
            converted.append(part.dataset.map(
                adapters.convert_batch,
                batched=True,
                with_indices=True,
                fn_kwargs={"adapter": adapter.name, "version": adapters.VERSION},
                remove_columns=part.dataset.column_names,
                features=features,
                desc=f"Formatting {part.label} ({adapter.name})",
            ))
        except adapters.RowProblem as problem:
            reason, index = problem.args
            raise DataError(
                f"{part.where(index)} {reason}. The format of this source is {adapter.describe()}; a row looks "
                f"like {adapter.example}."
            ) from None
    return converted[0] if len(converted) == 1 else concatenate_datasets(converted)


def _reconcile(datasets: list, kind: str) -> list:
    """Sources in one column layout: SFT conversations and prompt/completion pairs mix as conversations;
    prompts keep a reference completion only if every source has one."""
    if kind == "sft" and len({tuple(d.column_names) for d in datasets}) > 1:
        return [formats.as_messages(d) for d in datasets]
    if kind == "prompt" and len({tuple(d.column_names) for d in datasets}) > 1:
        return [d.select_columns(["prompt"]) for d in datasets]
    return datasets
