"""``bench score``'s report: medians over runs, goals against same-run floors, phases."""

from __future__ import annotations

from rich.console import Console

from fraudstream.bench.score import ScoreBenchResult, Throughput, median_result, score_goals
from fraudstream.cli.bench import _goal_table, _phase_table

EOS, ALO = "exactly-once", "at-least-once"


def _run(scorer_eos_p99: float, rate: float) -> ScoreBenchResult:
    return ScoreBenchResult(
        transactions=1000,
        scorer=Throughput(rate, {"process": 70.0}),
        passthrough=Throughput(20_000.0),
        latency_ms={
            ("scorer", EOS): {"p50": 30.0, "p99": scorer_eos_p99},
            ("scorer", ALO): {"p50": 20.0, "p99": 40.0},
            ("passthrough", ALO): {"p50": 15.0, "p99": 35.0},
            ("passthrough", EOS): {"p50": 25.0, "p99": 45.0},
        },
        hop_alone_ms={"p99": 14.0},
        phases_ms={
            ("scorer", EOS): {
                "commit": {"p50": 5.0, "p99": scorer_eos_p99 / 2, "count": 10.0},
                "begin": {"count": 0.0},
            }
        },
    )


def _text(table: object) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_the_goals_are_judged_on_the_medians_of_the_runs() -> None:
    runs = [_run(60.0, 9_000.0), _run(200.0, 11_000.0), _run(80.0, 10_500.0)]
    median = median_result(runs)
    assert median.latency_ms[("scorer", EOS)]["p99"] == 80.0  # not the 200 ms outlier
    assert median.scorer.rate == 10_500.0
    goals = {goal.name.split(" <=")[0].split(" >=")[0]: goal for goal in score_goals(median)}
    assert goals["scorer exactly-once p99"].met is False  # 80 > 40 + 30
    assert goals["scorer at-least-once p99"].met is True  # 40 <= 1.25 * 35
    assert goals["pass-through exactly-once p99"].met is False  # 45 > 3 * 14
    assert goals["throughput scorer / pass-through (both exactly-once)"].met is True
    text = _text(_goal_table(score_goals(median), "medians of 3 runs"))
    assert text.count("NOT MET") == 2
    assert "80.0 ms" in text
    assert "70.0 ms" in text


def test_a_goal_without_its_figure_is_not_met() -> None:
    result = ScoreBenchResult(transactions=0)
    assert [goal.met for goal in score_goals(result)] == [False] * 4


def test_the_phase_table_shows_the_timed_phases_only() -> None:
    text = _text(_phase_table(median_result([_run(60.0, 9_000.0), _run(100.0, 9_000.0)])))
    assert "commit" in text
    assert "5.00 / 40.00" in text
    assert "begin" not in text  # never timed: no row
