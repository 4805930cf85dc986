"""``problem.task: clustering`` and ``anomaly`` in loopml.yaml: no target needed, their own
settings and metrics, and a clear error for each combination that cannot work."""

from __future__ import annotations

import pandas as pd
import pytest

from loopml.config import parse_config
from loopml.data import resolve_problem
from loopml.errors import ConfigError

BASE = """\
name: shop
problem:
{problem}data:
  source: {{type: csv, path: rows.csv}}
"""


def config(**problem: str) -> str:
    return BASE.format(problem="".join(f"  {k}: {v}\n" for k, v in problem.items()))


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return str(info.value)


def test_clustering_and_anomaly_need_no_target() -> None:
    clustering = parse_config(config(task="clustering", max_clusters="6"))
    anomaly = parse_config(config(task="anomaly", contamination="0.02"))

    assert clustering.problem.target is None and clustering.problem.max_clusters == 6
    assert anomaly.problem.unsupervised and anomaly.problem.contamination == 0.02


def test_every_supervised_task_still_needs_its_target() -> None:
    message = error_of(config(task="binary"))
    assert "problem.target is required for task binary" in message
    assert "clustering needs none" in message


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ({"task": "clustering", "target": "churned"}, "task clustering has no target"),
        ({"task": "binary", "target": "y", "contamination": "0.1"}, "contamination applies"),
        ({"task": "anomaly", "max_clusters": "4"}, "max_clusters applies to task clustering"),
        ({"task": "anomaly", "contamination": "0.7"}, "contamination"),
        ({"task": "binary", "target": "y", "metric": "silhouette"}, "does not apply to binary"),
        ({"task": "clustering", "metric": "roc_auc"}, "does not apply to clustering"),
        ({"task": "anomaly", "threshold": "f1"}, "problem.contamination"),
        ({"task": "clustering", "positive_class": "yes"}, "positive_class does not apply"),
        (
            {"task": "clustering", "success": "'silhouette_ratio >= 0.8'",
             "sensitive_columns": "[region]"},
            "supervised tasks only",
        ),
        ({"task": "clustering", "success": "'rmse < 3'"}, "does not apply to clustering"),
    ],
)  # fmt: skip
def test_a_setting_that_cannot_work_is_named(problem: dict[str, str], expected: str) -> None:
    assert expected in error_of(config(**problem))


def test_an_anomaly_gate_on_labels_needs_the_label_column() -> None:
    cfg = parse_config(config(task="anomaly", success="'pr_auc >= 0.5'"))
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0]})

    with pytest.raises(ConfigError, match="need a label column"):
        resolve_problem(frame, cfg.problem)


def test_an_anomaly_label_column_is_read_like_a_binary_target() -> None:
    cfg = parse_config(config(task="anomaly", target="fraud"))
    frame = pd.DataFrame({"amount": range(8), "fraud": ["no"] * 6 + ["Yes", "yes "]})

    problem = resolve_problem(frame, cfg.problem)

    assert problem.metric == "pr_auc" and problem.classes == (False, True)
    assert str(problem.anomaly_label).casefold() == "yes"  # spelling variants merged
    assert problem.anomaly_truth(frame["fraud"]).tolist() == [False] * 6 + [True, True]
