"""loopml.data._draft for clustering and anomaly detection: drafts without a target (or with
an anomaly label column) that parse, and the flags' mistakes named."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import parse_config
from loopml.data._draft import draft_config
from loopml.errors import ConfigError

N = 400


def shoppers(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Ids, e-mail addresses, visit dates, two numbers and a category; an ``outcome`` column
    (``anomaly`` for the 10 rows planted far from the rest, else ``normal``)."""
    rng = np.random.default_rng(seed)
    spend = rng.normal(100, 10, n)
    visits = rng.normal(5, 1, n)
    planted = np.arange(n) % 40 == 0
    spend[planted] += 150
    visits[planted] += 12
    return pd.DataFrame(
        {
            "shopper_id": np.arange(1, n + 1),
            "email": [f"user{i}@example.com" for i in range(n)],
            "visited_at": [f"2024-02-{(i % 28) + 1:02d}" for i in range(n)],
            "spend": spend.round(2),
            "visits": visits.round(1),
            "channel": rng.choice(["app", "store"], n),
            "outcome": np.where(planted, "anomaly", "normal"),
        }
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "shoppers.csv"
    shoppers().to_csv(path, index=False)
    return path


def test_clustering_draft_has_no_target_and_gates_on_stability(data: Path) -> None:
    shoppers().drop(columns=["outcome"]).to_csv(data, index=False)
    text = draft_config(data, None, data.parent, name="s", task="clustering")
    cfg = parse_config(text)

    assert (cfg.problem.task, cfg.problem.target) == ("clustering", None)
    assert (cfg.problem.metric, cfg.problem.max_clusters) == ("silhouette", 10)
    assert cfg.problem.success == "stability >= 0.8"
    assert "target:" not in text and "positive_class" not in text
    assert cfg.data.id_columns == ["shopper_id"]
    assert cfg.data.time_column == "visited_at"
    assert cfg.data.drop_columns == ["email"]


def test_anomaly_draft_with_labels_detects_the_anomaly_value_and_measures_a_gate(
    data: Path,
) -> None:
    text = draft_config(data, "outcome", data.parent, name="s", task="anomaly")
    cfg = parse_config(text)

    assert (cfg.problem.task, cfg.problem.target) == ("anomaly", "outcome")
    # "anomaly" is not a name loopml knows as positive: the minority value is taken
    assert cfg.problem.positive_class == "anomaly"
    assert "(2.5% of labelled rows)" in text
    assert cfg.problem.metric == "pr_auc"
    assert re.search(r"# baseline pr_auc \d\.\d{3} ± \d\.\d{3} \(3-fold isolation forest", text)
    assert re.fullmatch(r"pr_auc >= 0\.\d\d", cfg.problem.success or "")
    assert cfg.problem.contamination is None
    assert "  # contamination: 0.025   # REVIEW:" in text
    # the label column is no input: not dropped, not an id
    assert "outcome" not in cfg.data.drop_columns + cfg.data.id_columns


def test_anomaly_draft_without_labels_gates_nothing_it_cannot_measure(data: Path) -> None:
    text = draft_config(data, None, data.parent, name="s", task="anomaly")
    cfg = parse_config(text)

    assert (cfg.problem.task, cfg.problem.target, cfg.problem.positive_class) == (
        "anomaly",
        None,
        None,
    )
    assert (cfg.problem.metric, cfg.problem.success) == ("anomaly_rate", None)
    assert '  # success: "anomaly_rate <= 0.05"' in text
    # the data's label column is no feature of a detector trained without it
    assert cfg.data.drop_columns == ["email", "outcome"]
    assert (
        "  # REVIEW: column 'outcome' looks like a label of rows (2 values, 2.5% of rows are "
        "anomaly): it is dropped from the features; `loopml init --task anomaly --target "
        "outcome` uses it" in text
    )


@pytest.mark.parametrize("task", ["anomaly", "clustering"])
def test_a_draft_without_a_target_drops_label_like_columns_only(tmp_path: Path, task: str) -> None:
    """A rare binary column named like a label, or whose value names an anomaly, is dropped;
    a balanced binary column, or a rare one with an ordinary name and values, stays."""
    frame = shoppers().drop(columns=["outcome", "email"])
    rare = np.arange(N) % 20 == 0  # 5%
    frame["Class"] = rare.astype(int)
    frame["review"] = np.where(rare, "fraud", "ok")
    frame["is_weekend"] = np.arange(N) % 2
    frame["has_coupon"] = rare.astype(int)
    frame.to_csv(tmp_path / "s.csv", index=False)

    text = draft_config(tmp_path / "s.csv", None, tmp_path, name="s", task=task)
    cfg = parse_config(text)

    assert cfg.data.drop_columns == ["Class", "review"]
    assert "column 'Class' looks like a label of rows (2 values, 5.0% of rows are 1)" in text
    assert "column 'review' looks like a label of rows (2 values, 5.0% of rows are fraud)" in text


@pytest.mark.parametrize("target", ["outcome", None])
def test_the_commented_suggestions_of_an_anomaly_draft_parse_once_uncommented(
    data: Path, target: str | None
) -> None:
    text = draft_config(data, target, data.parent, name="s", task="anomaly")
    uncommented = re.sub(r"(?m)^  # (success|contamination):", r"  \1:", text)
    cfg = parse_config(uncommented)

    assert cfg.problem.contamination == (0.025 if target else 0.01)
    assert cfg.problem.success is not None


def test_anomaly_labels_without_signal_draft_no_gate(tmp_path: Path) -> None:
    frame = shoppers()
    # the labels mark rows at random: the scores rank them no better than chance
    frame["outcome"] = np.where(np.random.default_rng(1).random(N) < 0.2, "anomaly", "normal")
    frame.to_csv(tmp_path / "s.csv", index=False)
    text = draft_config(tmp_path / "s.csv", "outcome", tmp_path, name="s", task="anomaly")
    cfg = parse_config(text)

    assert cfg.problem.success is None
    assert "little signal, so no gate is drafted" in text
    assert '  # success: "pr_auc >= 0.5"   # REVIEW' in text


def test_an_explicit_supervised_task_is_said_to_be_given(data: Path) -> None:
    text = draft_config(data, "spend", data.parent, name="s", task="regression")
    assert parse_config(text).problem.task == "regression"
    assert "task: regression            # as given to init" in text


def test_a_supervised_task_without_target_is_refused(data: Path) -> None:
    with pytest.raises(ConfigError, match=r"--target is required: name the column to predict"):
        draft_config(data, None, data.parent)
    with pytest.raises(ConfigError, match=r"--target is required for task binary"):
        draft_config(data, None, data.parent, task="binary")


def test_clustering_with_a_target_is_refused(data: Path) -> None:
    with pytest.raises(ConfigError, match=r"task clustering has no target, but --target 'outcome'"):
        draft_config(data, "outcome", data.parent, task="clustering")


def test_an_unknown_task_is_refused(data: Path) -> None:
    with pytest.raises(ConfigError, match=r"--task must be one of auto, .*anomaly, got 'cluster'"):
        draft_config(data, None, data.parent, task="cluster")
