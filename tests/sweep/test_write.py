"""results.csv and report.md of a partial sweep: rows in rank order then the failed and missing jobs,
the ranked table with the best job of each method, the plots, and why each unfinished job has no result."""

from __future__ import annotations

import shutil
from pathlib import Path

from align.sweep.read import load_sweep
from align.sweep.write import write_report
from tests.sweep.conftest import PNG_SIGNATURE, rows


def test_results_csv_ranks_done_jobs_then_lists_the_others(partial_sweep: Path):
    write_report(load_sweep(partial_sweep), "eval_rewards/accuracies", minimize=False)
    table = rows(partial_sweep)
    assert [(r["method"], r["beta"], r["status"]) for r in table] == [
        ("dpo", "0.5", "done"),
        ("ipo", "0.1", "done"),
        ("dpo", "0.1", "done"),
        ("ipo", "0.5", "done"),
        ("dpo", "0.9", "failed"),
        ("ipo", "0.9", "failed"),
    ]
    assert list(table[0]) == ["job", "status", "method", "beta", "eval_rewards/accuracies", "eval_loss", "train_loss"]
    assert table[0]["job"] == "method.beta=0.5,method.max_steps=4,method=dpo" and table[0]["eval_loss"] == "0.68"
    assert table[-1]["eval_loss"] == ""


def test_report_md_ranks_marks_the_best_and_explains_failures(partial_sweep: Path):
    shutil.rmtree(partial_sweep / "method.beta=0.5,method.max_steps=4,method=ipo")
    written = write_report(load_sweep(partial_sweep), "eval_loss", minimize=True)
    assert [p.name for p in written] == [
        "results.csv",
        "eval_loss_vs_beta.png",
        "eval_rewards_accuracies_vs_beta.png",
        "train_loss_vs_beta.png",
        "report.md",
    ]
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in written if p.suffix == ".png")
    markdown = (partial_sweep / "report.md").read_text()
    assert "Metric: **eval_loss** (lower is better). 3 job(s) done, 2 failed, 1 missing." in markdown
    assert "Best: **ipo** beta=0.1 with eval_loss = 0.3." in markdown
    table = [line for line in markdown.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [line.split(" | ")[:3] for line in table] == [
        ["| 1 ★", "ipo", "0.1"],
        ["| 2 ★", "dpo", "0.5"],
        ["| 3", "dpo", "0.1"],
    ]
    best = "method.beta=0.1,method.max_steps=4,method=ipo"
    assert table[0].endswith(f"| [`{best}`]({best}/metrics.json) |")
    assert "![eval_loss_vs_beta](eval_loss_vs_beta.png)" in markdown
    failed = "method.beta=0.9,method.max_steps=4,method=dpo"
    error = "align: error: Invalid value for method.beta: 0.9. Expected a number."
    assert f"- failed: [`{failed}`]({failed}/): {error}" in markdown
    assert "- missing: `method=ipo method.beta=0.5 method.max_steps=4`: not started (no directory)" in markdown
    assert f"Regenerate with `python -m align.report {partial_sweep} --metric eval_loss`." in markdown
    assert not [p for p in partial_sweep.iterdir() if p.name.startswith(".")], "no temp files left"
