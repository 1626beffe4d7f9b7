"""The issue's acceptance runs: a few real training steps of `python -m align` on each kind of user data
(the real samples in ../shared/data, an Anthropic-HH-format file, a weighted mixture given on the command
line), and a bad row that stops the run naming its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_align
from tests.data.conftest import hh_rows, shared, write_jsonl
from tests.methods.conftest import train

# A few steps on a few rows: these check that the data reaches the trainer, not that the model learns.
FEW = ("method.max_steps=2", "method.logging_steps=1", "data.max_samples=64", "data.test_split_size=0.1")


@pytest.fixture(scope="module")
def hh_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("hh") / "hh.jsonl", hh_rows(40, turns=2))


@pytest.mark.parametrize(
    ("method", "sample"),
    [("sft", "alpaca_en_demo.json"), ("dpo", "dpo_en_demo.json"), ("kto", "kto_en_demo.json"),
     ("cpt", "c4_demo.jsonl")],
)
def test_real_samples_train(tmp_path: Path, method: str, sample: str):
    metrics = train(tmp_path / "run", f"method={method}", "data=file", f"data.path={shared(sample)}", *FEW)
    assert metrics["method"] == method and metrics["train_steps"] == 2


@pytest.mark.parametrize("method", ["dpo", "reward"])
def test_dpo_and_reward_modelling_on_an_hh_file(tmp_path: Path, hh_file: Path, method: str):
    metrics = train(tmp_path / "run", f"method={method}", "data=file", f"data.path={hh_file}", *FEW)
    assert metrics["train_steps"] == 2 and "eval_loss" in metrics


def test_a_weighted_mixture_from_the_command_line(tmp_path: Path, hh_file: Path):
    sources = f"data.sources=[{{path: {shared('dpo_en_demo.json')}, weight: 0.1}}, {{path: {hh_file}, weight: 0.5}}]"
    metrics = train(tmp_path / "run", "method=dpo", "data=mixture", sources, *FEW)
    assert metrics["train_steps"] == 2


def test_a_row_missing_rejected_names_its_line_and_field(tmp_path: Path):
    rows = hh_rows(4)
    del rows[2]["rejected"]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = run_align("method=dpo", "data=file", f"data.path={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f"align: error: {path} line 3 has no 'rejected' (missing or null). The format of this source is Anthropic HH "
        """(chosen, rejected); a row looks like {"chosen": "\\n\\nHuman: Say hi\\n\\nAssistant: Hello!", """
        """"rejected": "\\n\\nHuman: Say hi\\n\\nAssistant: Go away."}."""
    )
    assert "Loading weights" not in out.stderr and not (tmp_path / "run").exists()  # checked before anything is written
