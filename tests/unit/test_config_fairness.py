"""problem.sensitive_columns, problem.fairness and success gates with several clauses, some of
them on group disparities: what loopml.yaml accepts, and the errors for what it does not."""

from __future__ import annotations

import pytest

from loopml._metric_names import fairness_measure
from loopml.config import Gate, parse_config
from loopml.errors import ConfigError

BASE = """\
name: loans
problem:
  task: {task}
  target: approved
{extra}data:
  source: {{type: csv, path: data/loans.csv}}
"""


def config(task: str = "binary", **problem: str) -> str:
    extra = "".join(f"  {key}: {value}\n" for key, value in problem.items())
    return BASE.format(task=task, extra=extra)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return str(info.value)


def test_a_gate_joins_clauses_with_and_and_every_clause_must_pass() -> None:
    gate = Gate.parse("roc_auc >= 0.75 AND selection_rate_ratio >= 0.8 and rmse_difference < 3")
    assert [str(c) for c in gate.clauses] == [
        "roc_auc >= 0.75",
        "selection_rate_ratio >= 0.8",
        "rmse_difference < 3",
    ]
    assert [c.fairness for c in gate.clauses] == [False, True, True]
    assert str(gate) == "roc_auc >= 0.75 and selection_rate_ratio >= 0.8 and rmse_difference < 3"
    assert Gate.parse(str(gate)) == gate
    good = {"roc_auc": 0.8, "selection_rate_ratio": 0.9, "rmse_difference": 1.0}
    assert gate.passes(good)
    assert not gate.passes({**good, "selection_rate_ratio": 0.79})
    assert not gate.passes({"roc_auc": 0.8, "rmse_difference": 1.0})  # a value not computed


def test_the_headline_is_the_first_clause_on_a_metric() -> None:
    gate = Gate.parse("selection_rate_ratio >= 0.8 and pr_auc >= 0.4")
    assert (gate.metric, gate.op, gate.threshold) == ("pr_auc", ">=", 0.4)
    assert [str(c) for c in gate.fairness] == ["selection_rate_ratio >= 0.8"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("selection_rate_ratio", ("selection_rate", "ratio")),
        ("true_positive_rate_difference", ("true_positive_rate", "difference")),
        ("roc_auc_ratio", ("roc_auc", "ratio")),
        ("selection_rate", None),
        ("speed_ratio", None),
        ("ratio", None),
    ],
)
def test_fairness_measure_names(name: str, expected: tuple[str, str] | None) -> None:
    assert fairness_measure(name) == expected


def test_an_unknown_clause_metric_names_the_disparity_forms() -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'parity_ratio'.*_difference .*_ratio"):
        Gate.parse("roc_auc >= 0.7 and parity_ratio >= 0.8")


def test_sensitive_columns_and_fairness_settings_are_read() -> None:
    cfg = parse_config(
        config(
            sensitive_columns="[sex, age_band]",
            success='"roc_auc >= 0.7 and selection_rate_ratio >= 0.8"',
            fairness="{min_group_size: 50, intersections: false, bootstrap: 0}",
        )
    )
    assert cfg.problem.sensitive_columns == ["sex", "age_band"]
    assert cfg.problem.fairness.min_group_size == 50
    assert not cfg.problem.fairness.intersections and not cfg.problem.fairness.as_features
    assert cfg.problem.gate is not None and len(cfg.problem.gate.clauses) == 2


def test_a_fairness_clause_needs_sensitive_columns() -> None:
    message = error_of(config(success='"roc_auc >= 0.7 and selection_rate_ratio >= 0.8"'))
    assert "compares groups, but problem.sensitive_columns is empty" in message
    assert "problem.success" in message


@pytest.mark.parametrize(
    ("task", "success", "says"),
    [
        ("regression", "rmse <= 3 and selection_rate_ratio >= 0.8", "binary tasks only"),
        ("multiclass", "true_positive_rate_difference <= 0.1", "binary tasks only"),
        ("binary", "roc_auc >= 0.7 and rmse_ratio >= 0.8", "'rmse' does not apply to binary"),
    ],
)
def test_a_fairness_clause_must_fit_the_task(task: str, success: str, says: str) -> None:
    text = config(task, sensitive_columns="[sex]", success=f'"{success}"')
    assert says in error_of(text)


def test_the_target_cannot_be_sensitive_and_a_column_cannot_be_listed_twice() -> None:
    assert "cannot be a sensitive column" in error_of(config(sensitive_columns="[approved]"))
    assert "lists 'sex' twice" in error_of(config(sensitive_columns="[sex, sex]"))


def test_bad_fairness_settings_are_config_errors() -> None:
    message = error_of(config(sensitive_columns="[sex]", fairness="{min_group_size: 0}"))
    assert "problem.fairness.min_group_size" in message
    assert "problem.fairness.typo" in error_of(config(fairness="{typo: 1}"))
