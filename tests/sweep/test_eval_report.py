"""A sweep whose jobs ran evaluations: ranked by an evaluation's metric by default (win_rate first), a column
per evaluation metric in results.csv, the best beta of each method in report.md, the metric against beta per
method, a clear error for an evaluation metric no job has, and the results table in the sweep's W&B group."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.figure
import pytest

from align import report
from align.sweep.rank import choose_metric
from align.sweep.read import load_sweep
from tests.sweep.conftest import EVALUATED, PNG_SIGNATURE, make_job, metrics, rows
from tests.sweep.test_report import align_report

BEST_BY_WIN_RATE = "Best beta by win_rate: dpo beta=0.1 (0.62), ipo beta=0.5 (0.55)."


def test_results_csv_has_a_column_per_evaluation_metric(evaluated_sweep: Path):
    assert report.main([str(evaluated_sweep)]) == 0
    table = rows(evaluated_sweep)
    assert list(table[0])[:9] == [
        "job",
        "status",
        "method",
        "beta",
        "win_rate",
        "mt_bench_score",
        "mt_bench_turn1",
        "mt_bench_turn2",
        "eval_loss",
    ]
    assert [(r["method"], r["beta"], r["status"]) for r in table] == [
        ("dpo", "0.1", "done"),
        ("ipo", "0.5", "done"),
        ("dpo", "0.5", "done"),
        ("ipo", "0.1", "done"),
    ], "ranked by win_rate, highest first"
    for row in table:
        win_rate, score, _ = EVALUATED[row["method"], row["beta"]]
        assert float(row["win_rate"]) == win_rate and float(row["mt_bench_score"]) == score
        assert float(row["win_rate_ties"]) == 0.05


def test_report_md_names_the_best_beta_of_each_method(evaluated_sweep: Path, capsys: pytest.CaptureFixture):
    assert report.main([str(evaluated_sweep)]) == 0
    markdown = (evaluated_sweep / "report.md").read_text()
    assert "Metric: **win_rate** (higher is better). 4 job(s) done, 0 failed, 0 missing." in markdown
    assert BEST_BY_WIN_RATE in markdown.splitlines()
    assert capsys.readouterr().out.splitlines()[-1] == f"align.report: {BEST_BY_WIN_RATE}"
    assert "![win_rate_vs_beta](win_rate_vs_beta.png)" in markdown
    assert report.main([str(evaluated_sweep), "--metric", "eval_rewards/accuracies"]) == 0
    markdown = (evaluated_sweep / "report.md").read_text()
    assert "Best beta by eval_rewards/accuracies: dpo beta=0.5 (0.7), ipo beta=0.1 (0.66)." in markdown
    assert BEST_BY_WIN_RATE not in markdown


def test_other_swept_keys_are_named_beside_the_best_beta(tmp_path: Path):
    for lr, beta, win_rate in (("1e-4", "0.1", 0.6), ("1e-3", "0.1", 0.7), ("1e-4", "0.5", 0.5)):
        values = {"method": "dpo", "win_rate": win_rate}
        make_job(tmp_path, [f"method.learning_rate={lr}", f"method.beta={beta}"], values)
    assert report.main([str(tmp_path)]) == 0
    assert "Best beta by win_rate: dpo beta=0.1 learning_rate=1e-3 (0.7)." in (tmp_path / "report.md").read_text()


def test_win_rate_against_beta_one_line_per_method(evaluated_sweep: Path, monkeypatch: pytest.MonkeyPatch):
    drawn: dict[str, list[tuple[str, list[float], list[float]]]] = {}
    savefig = matplotlib.figure.Figure.savefig

    def record(fig, path, **kwargs):  # what each saved figure shows, by its axis label
        [ax] = fig.axes
        drawn[ax.get_ylabel()] = [(line.get_label(), *map(list, line.get_data())) for line in ax.get_lines()]
        return savefig(fig, path, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    assert report.main([str(evaluated_sweep)]) == 0
    path = evaluated_sweep / "win_rate_vs_beta.png"
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert (evaluated_sweep / "mt_bench_score_vs_beta.png").is_file()
    assert not (evaluated_sweep / "mt_bench_turn1_vs_beta.png").exists(), "turn means stay in results.csv"
    lines = {label: (list(xs), list(ys)) for label, xs, ys in drawn["win_rate"]}
    assert lines["dpo"] == ([0.1, 0.5], [0.62, 0.48]) and lines["ipo"] == ([0.1, 0.5], [0.41, 0.55])
    assert lines["tie with the baseline"][1] == [0.5, 0.5]
    assert set(lines) == {"dpo", "ipo", "tie with the baseline"}


def test_metric_chooses_the_ranking(evaluated_sweep: Path):
    assert report.main([str(evaluated_sweep), "--metric", "mt_bench_score"]) == 0
    assert [r["mt_bench_score"] for r in rows(evaluated_sweep)] == ["6.5", "6.1", "5.9", "5.0"]
    markdown = (evaluated_sweep / "report.md").read_text()
    assert "Best beta by mt_bench_score: dpo beta=0.5 (6.5), ipo beta=0.5 (5.9)." in markdown


@pytest.mark.parametrize(
    ("reported", "default"),
    [
        (["win_rate", "mt_bench_score", "eval_exact_match"], "win_rate"),
        (["mt_bench_turn2", "mt_bench_score", "eval_exact_match"], "mt_bench_score"),
        (["mt_bench_turn2", "lm_eval/gsm8k/acc"], "mt_bench_turn2"),
        (["lm_eval/mmlu/acc", "lm_eval/arc/acc_stderr", "lm_eval/arc/acc", "eval_exact_match"], "lm_eval/arc/acc"),
        (["eval_exact_match_extracted", "eval_exact_match", "eval_rewards/accuracies"], "eval_exact_match"),
        (["eval_exact_match_extracted", "eval_rewards/accuracies"], "eval_exact_match_extracted"),
        (["win_rate_ties", "eval_rewards/accuracies", "eval_loss"], "eval_rewards/accuracies"),
        (["eval_loss", "train_loss"], "eval_loss"),
    ],
)
def test_the_default_is_the_first_evaluation_metric(tmp_path: Path, reported: list[str], default: str):
    make_job(tmp_path, ["method.beta=0.1"], {"method": "dpo", **dict.fromkeys(reported, 0.5)})
    make_job(tmp_path, ["method.beta=0.5"], {"method": "dpo", "train_loss": 0.5})  # one job has them: enough
    assert choose_metric(load_sweep(tmp_path), None) == default


def test_an_evaluation_metric_no_job_has_is_one_paragraph(partial_sweep: Path, evaluated_sweep: Path):
    done = align_report(str(partial_sweep), "--metric", "win_rate")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == (
        f"align.report: error: Unknown metric 'win_rate': no finished job in {str(partial_sweep)!r} reports it. "
        "win_rate is written by the win_rate evaluation (run the jobs with eval=win_rate); they report no "
        "evaluation metric. Available metrics: eval_loss, eval_rewards/accuracies, train_loss.\n"
    )
    assert not (partial_sweep / "report.md").exists()
    with pytest.raises(Exception, match="lm_eval evaluation .* they report win_rate, mt_bench_score, mt_bench_turn1"):
        choose_metric(load_sweep(evaluated_sweep), "lm_eval/gsm8k/acc")


def tracked(sweep: Path, project: str = "scan-project") -> None:
    """tracking.json as start_wandb leaves it in each job directory of `sweep`."""
    for job_dir in (p for p in sweep.iterdir() if (p / "metrics.json").is_file()):
        run = {"project": project, "entity": None, "group": "S", "job_type": "dpo", "id": job_dir.name[-8:]}
        (job_dir / "tracking.json").write_text(json.dumps({"wandb": {**run, "mode": "offline"}}))


def test_the_results_table_joins_the_sweeps_wandb_group(evaluated_sweep: Path):
    from tests.tracking.conftest import offline_runs

    make_job(
        evaluated_sweep, ["method=kto", "method.beta=0.1", "eval=[mt_bench,win_rate]"], stderr="align: error: boom\n"
    )
    tracked(evaluated_sweep)
    done = align_report(str(evaluated_sweep), env={"WANDB_MODE": "offline"})
    assert done.returncode == 0, done.stderr
    [run] = offline_runs(evaluated_sweep / "wandb")
    assert (run.project, run.group, run.job_type, run.name) == ("scan-project", "S", "report", "report")
    assert run.summary["best_setting"] == BEST_BY_WIN_RATE
    assert run.summary["best/dpo/win_rate"] == 0.62 and run.summary["best/ipo/beta"] == "0.5"
    assert run.config["metric"] == "win_rate"
    [file] = (evaluated_sweep / "wandb").glob("offline-run-*/files/media/table/results_*.table.json")
    table = json.loads(file.read_text())
    assert table["columns"][:5] == ["job", "status", "method", "beta", "win_rate"]
    column = table["columns"].index("win_rate")
    assert [row[column] for row in table["data"]] == [0.62, 0.55, 0.48, 0.41, None], "ranked, then the failed job"
    assert table["data"][-1][1:3] == ["failed", "kto"]
    assert list((evaluated_sweep / "wandb").glob("offline-run-*/files/media/images/plots/win_rate_vs_beta_*.png"))
    assert f"W&B run {run.id} (project scan-project, group S; offline; upload with: wandb sync" in done.stdout


def test_no_wandb_without_tracked_jobs_or_with_no_wandb(evaluated_sweep: Path):
    assert report.main([str(evaluated_sweep)]) == 0
    assert not (evaluated_sweep / "wandb").exists(), "the jobs did not use W&B"
    tracked(evaluated_sweep)
    assert report.main([str(evaluated_sweep), "--no-wandb"]) == 0
    assert not (evaluated_sweep / "wandb").exists()


def test_wandb_mode_disabled_logs_nothing(
    evaluated_sweep: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    tracked(evaluated_sweep)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert report.main([str(evaluated_sweep)]) == 0
    assert not (evaluated_sweep / "wandb").exists() and "W&B" not in capsys.readouterr().out
    assert (evaluated_sweep / "report.md").is_file()


def test_a_sweep_without_evaluations_keeps_its_default(tmp_path: Path):
    make_job(tmp_path, ["method.beta=0.1"], metrics("dpo", 0.5, 0.7))
    assert choose_metric(load_sweep(tmp_path), None) == "eval_rewards/accuracies"


@pytest.mark.slow
def test_an_unreachable_wandb_server_means_offline(evaluated_sweep: Path):
    from tests.tracking.conftest import offline_runs

    tracked(evaluated_sweep)
    env = {
        "WANDB_API_KEY": "a" * 40,
        "WANDB_BASE_URL": "http://127.0.0.1:9",
        "WANDB_INIT_TIMEOUT": "5",
        "WANDB_MODE": "online",
    }
    done = align_report(str(evaluated_sweep), env=env)
    assert done.returncode == 0, done.stderr
    assert "W&B did not answer" in done.stderr and "; offline; upload with: wandb sync" in done.stdout
    [run] = offline_runs(evaluated_sweep / "wandb")
    assert run.job_type == "report" and run.summary["best/dpo/win_rate"] == 0.62


@pytest.mark.slow
def test_a_two_beta_dpo_sweep_with_win_rate_names_its_best_beta(default_sft_run: Path, reward_run: Path,
                                                                 tmp_path: Path):
    from tests.conftest import run_align
    from tests.eval.conftest import QUESTIONS

    if not QUESTIONS.is_file():
        pytest.skip(f"the shared MT-Bench questions {QUESTIONS} are absent")
    sweep = tmp_path / "S"
    out = run_align("-m", "method=dpo", "method.beta=0.1,0.5", f"model.name_or_path={default_sft_run / 'model'}",
                    "method.max_steps=2", "eval=win_rate", "judge=reward_model", f"judge.model={reward_run / 'model'}",
                    f"eval.win_rate.prompts={QUESTIONS}", "eval.win_rate.limit=4", "eval.win_rate.max_new_tokens=4",
                    "hydra.launcher.cpu_slots=2", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stderr[-3000:]
    done = align_report(str(sweep), "--metric", "win_rate", "--no-wandb")
    assert done.returncode == 0, done.stderr[-3000:]
    results = rows(sweep)
    assert len(results) == 2 and all(0 <= float(row["win_rate"]) <= 1 for row in results)
    line = next(line for line in (sweep / "report.md").read_text().splitlines() if line.startswith("Best beta by"))
    assert line.startswith("Best beta by win_rate: dpo beta=")
    named = line.removeprefix("Best beta by win_rate: dpo beta=").split(" ")[0]
    by_beta = {row["beta"]: float(row["win_rate"]) for row in results}
    assert by_beta[named] == max(by_beta.values())
