"""Data values that can be checked without reading data are refused at validation, before anything is written:
weights outside (0, 1], missing paths, unknown formats and chat templates, empty mixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.errors import ConfigError
from tests.conftest import compose_valid_cfg as compose_cfg
from tests.conftest import run_align
from tests.data.conftest import hh_rows, write_jsonl


@pytest.fixture(scope="module")
def hh_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("hh") / "hh.jsonl", hh_rows(8))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["data=mixture", "data.sources=[{path: HH, weight: 1.5}]"],
         r"Invalid value for data.sources\[0\].weight: 1.5. Expected the fraction of the source's rows to use, "
         r"in \(0, 1\]. As in the handbook's dataset_mixer, 0.5 uses the first half"),
        (["data=mixture", "data.sources=[{path: HH}, {path: HH, weight: 0}]"], r"data.sources\[1\].weight: 0.0\. "),
        (["data=mixture", "data.sources=[{path: HH, weight: -0.5}]"], r"data.sources\[0\].weight: -0.5\. "),
        (["data=mixture"], r"Invalid value for data.sources: \[\]. Expected a list of sources"),
        (["data=mixture", "data.sources=[{weight: 0.5}]"], r"Invalid value for data.sources\[0\].path: null"),
        (["data=mixture", "data.sources=[{path: ./missing.jsonl}]"],
         r"data.sources\[0\].path: './missing.jsonl'. Expected an existing file or directory .* no such path exists"),
        (["data=file"], r"Invalid value for data.path: null. Expected a local file or directory"),
        (["data=file", "data.path=HuggingFaceH4/ultrachat_200k"], r"for a Hub dataset use data=mixture"),
        (["data=file", "data.path=HH", "data.format=xml"], r"data.format: 'xml'. Expected one of auto, messages"),
        (["data=file", "data.path=HH", "data.test_split_size=1.5"], r"data.test_split_size: 1.5. Expected a fraction"),
        (["data=file", "data.path=HH", "data.max_samples=0"], r"data.max_samples: 0. Expected a positive number"),
        (["model.chat_template=zepyhr"], r"model.chat_template: 'zepyhr'. Expected null .*named template \(zephyr"),
    ],
)
def test_bad_data_values_are_refused_at_validation(hh_file: Path, overrides: list[str], match: str):
    with pytest.raises(ConfigError, match=match):
        compose_cfg(*(o.replace("HH", str(hh_file)) for o in overrides))


def test_valid_sources_pass_validation_without_reading_them(hh_file: Path):
    cfg = compose_cfg("method=dpo", "data=mixture",
                      f"data.sources=[{{path: {hh_file}, weight: 0.5}}, {{path: org/name, split: train_prefs, "
                      "test_split: test_prefs}]", "model.chat_template=zephyr")
    assert [s.weight for s in cfg.data.sources] == [0.5, 1.0] and cfg.data.sources[1].test_split == "test_prefs"


def test_a_refused_weight_writes_nothing(tmp_path: Path, hh_file: Path):
    out = run_align("method=dpo", "data=mixture", f"data.sources=[{{path: {hh_file}, weight: 2}}]",
                    f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("align: error: Invalid value for data.sources[0].weight: 2.")
    assert not (tmp_path / "run").exists()
