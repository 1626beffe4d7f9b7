"""What dry_run shows about the data: each source's detected format, row counts after weighting, and one
example rendered through the chat template."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from align.config.schema import ArithmeticDataConfig, ModelConfig, TinyBuild
from align.data import load
from align.data.preview import describe
from align.model.load import load_tokenizer
from tests.data.conftest import file_data, hh_rows, mixture_data, shared, write_jsonl


def preview(data, kind: str, tokenizer, method: str) -> list[str]:
    return describe(data, load(data, kind, method), kind, tokenizer)


def tiny_tokenizer(chat_template: str | None = None):
    return load_tokenizer(OmegaConf.structured(ModelConfig(build=TinyBuild(), chat_template=chat_template)))


def test_a_mixture_shows_formats_weighted_counts_and_a_rendered_example(tmp_path: Path):
    hh = write_jsonl(tmp_path / "hh.jsonl", hh_rows(20))
    data = mixture_data({"path": str(shared("dpo_en_demo.json")), "weight": 0.1}, {"path": str(hh), "weight": 0.5},
                        test_split_size=0.1, max_samples=1000)
    lines = preview(data, "preference", tiny_tokenizer(), "dpo")
    assert lines[0] == "data: mixture, 36 train / 4 test rows in preference format"
    assert lines[1].endswith("dpo_en_demo.json: ShareGPT pairwise (preference data); 300 rows x weight 0.1 "
                             "-> 27 train / 3 test")
    assert lines[2] == (f"  data.sources[1]: {hh}: Anthropic HH (preference data); 20 rows x weight 0.5 "
                        "-> 9 train / 1 test")
    assert lines[3] == "example (train row 1, rendered with the chat template):"
    assert lines[4] == "  chosen:" and "  rejected:" in lines
    assert any(line.startswith("    <|user|>") for line in lines) and any("<|end|>" in line for line in lines)


def test_a_file_used_as_another_kind_says_so_and_renders_with_the_chosen_template():
    lines = preview(file_data(shared("dpo_en_demo.json")), "sft", tiny_tokenizer("chatml"), "sft")
    assert "ShareGPT pairwise (preference data, used as sft); 300 rows -> 285 train / 15 test" in lines[1]
    assert lines[3] == "  prompt + completion:" and lines[4].startswith("    <|im_start|>")
    assert lines[-1].endswith("<|im_end|>") and "characters ...]" in "".join(lines)  # the middle is cut


def test_the_generated_default_is_described_too():
    data = OmegaConf.structured(ArithmeticDataConfig(num_train=8, num_test=4))
    lines = preview(data, "sft", tiny_tokenizer(), "sft")
    assert lines[0] == "data: arithmetic, 8 train / 4 test rows in sft format"
    assert lines[2] == "  prompt + completion:" and lines[3] == "    <|user|>"
