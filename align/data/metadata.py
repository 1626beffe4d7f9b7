"""A Hub mixture's row counts from the Hub's metadata (the split sizes and columns its dataset card records), without
downloading a row: what a dry run lists for a large mixture such as SmolLM3's. `count` gives None where the
metadata lacks a count, and the dry run then loads the data as a run does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from align.data import adapters, source_type, sources
from align.data.mixture import SourceReport, check_fits, mixture_held_out, source_configs, source_label, split_sizes
from align.errors import DataError


@dataclass(frozen=True)
class Counted:
    """What the metadata says of the data: each source with its rows after weighting, and the mixture's splits."""

    sources: list[SourceReport]
    train: int
    test: int


def count(data: Any, kind: str, method: str | None = None) -> Counted | None:
    """The rows of a mixture of Hub sources in `kind` format, as data.load would give them; None when a source is
    local or the metadata lacks one of its splits. SourceUnreachable when the Hub cannot be reached, DataError
    when the metadata shows columns that cannot become `kind` data."""
    if source_type(data) != "mixture" or any(sources.is_local(str(s.path)) for _, s in source_configs(data)):
        return None
    found, sizes = [], []
    for key, source in source_configs(data):
        info = _info(source, key)
        rows = _rows(info, source.split)
        test_rows = 0 if source.test_split is None else _rows(info, source.test_split)
        if rows is None or test_rows is None:
            return None
        columns, adapter = _detected(info.features, source)
        found.append((key, source, columns, adapter))
        sizes.append((rows, test_rows))
    check_fits([entry for entry in found if entry[3] is not None], kind, method)
    reports, train, test = [], 0, 0
    for (key, source, _, adapter), (rows, test_rows) in zip(found, sizes, strict=True):
        kept, held = split_sizes(rows, source.weight, data.test_split_size, source.test_split is not None)
        report = SourceReport(key, source_label(source), adapter, rows, source.weight, kept - held, test_rows or held)
        # a pair becomes a desirable and an undesirable row for KTO (formats.convert)
        factor = 2 if adapter is not None and adapter.shape == "preference" and kind == "unpaired" else 1
        train, test = train + factor * report.train, test + factor * report.test
        reports.append(report)
    held = mixture_held_out(data, train)
    train, test = train - held, test + held
    if data.max_samples is not None:
        train, test = min(train, data.max_samples), min(test, data.max_samples)
    return Counted(reports, train, test)


def _info(source: Any, key: str) -> Any:
    """The dataset's info from its card (datasets reads the metadata, not the data files)."""
    from datasets import load_dataset_builder

    try:
        return load_dataset_builder(source.path, source.config, revision=source.revision).info
    except (ConnectionError, OSError) as error:
        raise sources.unreachable(source, key, error, "read the metadata of") from None
    except ValueError as error:  # e.g. a configuration the dataset does not have
        raise DataError(f"Could not read the Hub dataset {source.path!r} ({key}): {' '.join(str(error).split())}") \
            from None


def _rows(info: Any, split: str) -> int | None:
    """The rows of `split` as the metadata records them; None when it does not (or for a slice such as train[:10%])."""
    recorded = (info.splits or {}).get(split)
    return recorded.num_examples if recorded is not None and recorded.num_examples else None


def _detected(features: Any, source: Any) -> tuple[list[str], Any]:
    """The source's columns (those it selects, else the metadata's) and the adapter they make, None when unknown."""
    columns = list(source.columns or features or [])
    if not columns:
        return columns, None
    # Anthropic HH has string chosen/rejected where conversations have lists: tell them apart by the column types
    strings = {name: "" for name, feature in (features or {}).items() if getattr(feature, "dtype", None) == "string"}
    forced = "auto" if source.format in sources.FILE_FORMATS else source.format
    return columns, adapters.detect(columns, strings, forced)
