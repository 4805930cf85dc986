"""loopml.config: the project file, validated with errors that name key, file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from loopml.config import (
    ALL_METRICS,
    CLASSIFICATION_METRICS,
    MODEL_FAMILIES,
    REGRESSION_METRICS,
    Gate,
    GateClause,
    ProblemConfig,
    load_config,
    parse_config,
)
from loopml.errors import ConfigError

# Line numbers below count from 1 in this text: "training:" appended to it lands on line 7.
BASE = """\
name: churn
problem:
  task: binary
  target: churned
data:
  source: {type: csv, path: data/customers.csv}
"""


def with_problem(*lines: str, task: str = "binary") -> str:
    """BASE with ``task`` and extra ``problem`` keys (each lands on line 4, 5, ...)."""
    extra = "".join(f"  {line}\n" for line in lines)
    return BASE.replace("  task: binary\n", f"  task: {task}\n{extra}")


def error_of(text: str, source: str = "loopml.yaml") -> str:
    with pytest.raises(ConfigError, match=r"invalid|YAML|empty|mapping") as info:
        parse_config(text, source=source)
    return str(info.value)


# --------------------------------------------------------------------------------------------
# valid files


def test_minimal_file_gets_every_default() -> None:
    cfg = parse_config(BASE)

    assert cfg.name == "churn"
    assert cfg.problem == ProblemConfig(task="binary", target="churned")
    assert cfg.problem.gate is None
    assert cfg.data.source.type == "csv"
    assert cfg.data.source.path == "data/customers.csv"
    assert cfg.data.source.options == {}
    assert (cfg.data.id_columns, cfg.data.drop_columns) == ([], [])
    assert (cfg.data.time_column, cfg.data.group_column) == (None, None)
    t = cfg.training
    assert (t.budget_seconds, t.cv_folds, t.holdout_fraction) == (60.0, 5, 0.2)
    assert (t.split, t.seed, t.n_jobs, t.tune) == ("auto", 42, -1, True)
    assert t.models == list(MODEL_FAMILIES)
    assert cfg.tracking.uri == "sqlite:///.loopml/mlflow.db"
    assert (cfg.scoring.input, cfg.scoring.output, cfg.scoring.chunk_rows) == (None, None, 50_000)
    assert (cfg.experiment_name, cfg.model_name) == ("churn", "churn")


def test_full_file_keeps_every_value() -> None:
    text = """\
name: churn.v2
problem:
  task: binary
  target: churned
  positive_class: "yes"
  metric: pr_auc
  success: "roc_auc >= 0.80"
data:
  source: {type: parquet, path: "data/*.parquet", options: {columns: [a, b]}}
  id_columns: [customer_id]
  time_column: signup_at
  group_column: household
  drop_columns: [email]
training: {budget_seconds: 120, cv_folds: 3, holdout_fraction: 0.25, split: time, seed: 7,
           n_jobs: 2, models: [linear, lightgbm], tune: false}
tracking: {uri: "http://127.0.0.1:5000", experiment: exp, registered_model: churn-model}
scoring: {input: in.csv, output: out.csv, chunk_rows: 1000}
"""
    cfg = parse_config(text)

    assert cfg.problem.positive_class == "yes"
    assert cfg.problem.metric == "pr_auc"
    assert cfg.problem.gate == Gate.parse("roc_auc >= 0.8")
    assert cfg.data.source.type == "parquet"
    assert cfg.data.source.options == {"columns": ["a", "b"]}
    assert cfg.data.id_columns == ["customer_id"]
    assert (cfg.data.time_column, cfg.data.group_column) == ("signup_at", "household")
    assert cfg.data.drop_columns == ["email"]
    assert cfg.training.models == ["linear", "lightgbm"]
    assert (cfg.training.split, cfg.training.seed, cfg.training.tune) == ("time", 7, False)
    assert (cfg.experiment_name, cfg.model_name) == ("exp", "churn-model")
    assert (cfg.scoring.input, cfg.scoring.output, cfg.scoring.chunk_rows) == (
        "in.csv",
        "out.csv",
        1000,
    )


def test_config_is_frozen() -> None:
    cfg = parse_config(BASE)
    with pytest.raises(ValidationError, match="frozen"):
        cfg.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("split", ["auto", "stratified", "random"])
def test_splits_that_need_no_extra_column(split: str) -> None:
    assert parse_config(BASE + f"training:\n  split: {split}\n").training.split == split


def test_time_split_with_a_time_column_is_valid() -> None:
    cfg = parse_config(BASE + "  time_column: signup_at\ntraining:\n  split: time\n")
    assert (cfg.training.split, cfg.data.time_column) == ("time", "signup_at")


def test_group_split_with_a_group_column_is_valid() -> None:
    cfg = parse_config(BASE + "  group_column: household\ntraining:\n  split: group\n")
    assert (cfg.training.split, cfg.data.group_column) == ("group", "household")


def test_task_auto_accepts_any_known_gate_metric() -> None:
    # the data decides the task later; resolve_problem checks the gate against it then
    cfg = parse_config(with_problem('success: "rmse <= 3"', task="auto"))
    assert cfg.problem.gate == Gate.parse("rmse <= 3.0")


# --------------------------------------------------------------------------------------------
# unknown keys: the allowed keys and the line


def test_unknown_top_level_key_names_allowed_keys_and_line() -> None:
    message = error_of(BASE + "trainig:\n  seed: 1\n")
    assert message == (
        "loopml.yaml is invalid:\n"
        "trainig: unknown key (loopml.yaml, line 7). Allowed keys here: name, problem, data, "
        "training, tracking, scoring, quality, privacy, cleaning, profile, features, "
        "serving, monitoring, retraining, execution. Remove it or fix its spelling."
    )


def test_unknown_problem_key_names_allowed_keys_and_line() -> None:
    message = error_of(with_problem("metirc: roc_auc"))
    assert message.splitlines()[1] == (
        "problem.metirc: unknown key (loopml.yaml, line 4). Allowed keys here: task, target, "
        "positive_class, metric, success, constraints, threshold, costs, sensitive_columns, "
        "fairness, contamination, max_clusters. Remove it or fix its spelling."
    )


def test_unknown_source_key_is_reported_without_the_discriminator_tag() -> None:
    text = BASE.replace("path: data/customers.csv}", "path: a.csv, sep: ';'}")
    message = error_of(text)
    assert message.splitlines()[1] == (
        "data.source.sep: unknown key (loopml.yaml, line 6). Allowed keys here: type, path, "
        "options. Remove it or fix its spelling."
    )


def test_unknown_training_key_points_at_its_own_line() -> None:
    message = error_of(BASE + "training:\n  seed: 1\n  budget: 30\n")
    assert "training.budget: unknown key (loopml.yaml, line 9)." in message
    assert "Allowed keys here: budget_seconds, cv_folds, holdout_fraction, split," in message


def test_source_name_is_used_in_messages() -> None:
    message = error_of(BASE + "extra: 1\n", source="projects/churn/loopml.yaml")
    assert message.startswith("projects/churn/loopml.yaml is invalid:\n")
    assert "(projects/churn/loopml.yaml, line 7)" in message


# --------------------------------------------------------------------------------------------
# wrong types and out-of-range values


@pytest.mark.parametrize(
    ("appended", "expected"),
    [
        (
            "training:\n  budget_seconds: -5\n",
            "training.budget_seconds: Input should be greater than 0, got -5 "
            "(loopml.yaml, line 8).",
        ),
        (
            "training:\n  cv_folds: abc\n",
            "training.cv_folds: Input should be an integer from 2 to 20 or 'auto', got 'abc' "
            "(loopml.yaml, line 8).",
        ),
        (
            "training:\n  cv_folds: 1\n",
            "training.cv_folds: Input should be an integer from 2 to 20 or 'auto', got 1 "
            "(loopml.yaml, line 8).",
        ),
        (
            "training:\n  holdout_fraction: 0.95\n",
            "training.holdout_fraction: Input should be less than 0.9, got 0.95 "
            "(loopml.yaml, line 8).",
        ),
        (
            "training:\n  n_jobs: 0\n",
            "training.n_jobs: n_jobs must be a positive number of cores or -1 for all, got 0 "
            "(loopml.yaml, line 8).",
        ),
        (
            "training:\n  models: [linear, xgbost]\n",
            "training.models.1: Input should be 'linear', 'random_forest', 'extra_trees', "
            "'hist_gradient_boosting', 'lightgbm', 'xgboost', 'catboost', 'knn', 'mlp', "
            "'decision_tree', 'realmlp' or 'tabm', "
            "got 'xgbost' (loopml.yaml, line 8).",
        ),
        (
            "training:\n  models: []\n",
            "training.models: List should have at least 1 item after validation, not 0, got [] "
            "(loopml.yaml, line 8).",
        ),
        (
            "training:\n  split: kfold\n",
            "training.split: Input should be 'auto', 'stratified', 'random', 'time' or 'group', "
            "got 'kfold' (loopml.yaml, line 8).",
        ),
        (
            "  id_columns: customer_id\n",
            "data.id_columns: Input should be a valid list, got 'customer_id' "
            "(loopml.yaml, line 7).",
        ),
        (
            "scoring:\n  chunk_rows: 0\n",
            "scoring.chunk_rows: Input should be greater than or equal to 1, got 0 "
            "(loopml.yaml, line 8).",
        ),
    ],
    ids=lambda v: v.split(":")[0] if v.startswith(("training", "data", "scoring")) else None,
)
def test_wrong_values_name_key_value_and_line(appended: str, expected: str) -> None:
    assert error_of(BASE + appended).splitlines()[1:] == [expected]


def test_unknown_task_lists_the_allowed_tasks() -> None:
    message = error_of(BASE.replace("task: binary", "task: classification"))
    assert message.splitlines()[1] == (
        "problem.task: Input should be 'auto', 'binary', 'multiclass', 'regression', "
        "'clustering' or 'anomaly', got 'classification' (loopml.yaml, line 3)."
    )


def test_unknown_metric_lists_the_known_metrics() -> None:
    message = error_of(with_problem("metric: auc"))
    assert message.splitlines()[1] == (
        f"problem.metric: unknown metric 'auc'; did you mean 'roc_auc'? Allowed: "
        f"{', '.join(ALL_METRICS)} (loopml.yaml, line 4)."
    )


def test_unsupported_source_type_is_named() -> None:
    message = error_of(BASE.replace("type: csv", "type: excel"))
    assert message.splitlines()[1] == (
        "data.source: Input tag 'excel' found using 'type' does not match any of the expected "
        "tags: 'csv', 'parquet', 'json', 'jsonl', 'sql', 'duckdb', 'http' (loopml.yaml, line 6)."
    )


@pytest.mark.parametrize(
    ("name", "shown"), [("-churn", "'-churn'"), ("my churn", "'my churn'"), ("2024", "2024")]
)
def test_bad_project_names(name: str, shown: str) -> None:
    message = error_of(BASE.replace("name: churn", f"name: {name}"))
    assert message.splitlines()[1].startswith("name: ")
    assert message.splitlines()[1].endswith(f", got {shown} (loopml.yaml, line 1).")


def test_section_of_the_wrong_shape() -> None:
    message = error_of("name: churn\nproblem: 5\ndata:\n  source: {type: csv, path: a.csv}\n")
    assert message.splitlines()[1] == (
        "problem: Input should be a valid dictionary or instance of ProblemConfig, got 5 "
        "(loopml.yaml, line 2)."
    )


def test_every_problem_is_reported_at_once() -> None:
    message = error_of(BASE + "training:\n  cv_folds: 1\n  budget_seconds: 0\n")
    assert sorted(message.splitlines()[1:]) == [
        "training.budget_seconds: Input should be greater than 0, got 0 (loopml.yaml, line 9).",
        "training.cv_folds: Input should be an integer from 2 to 20 or 'auto', got 1 "
        "(loopml.yaml, line 8).",
    ]


# --------------------------------------------------------------------------------------------
# missing keys


def test_missing_target_and_data_are_both_reported() -> None:
    message = error_of("name: churn\nproblem:\n  task: binary\n")
    assert message.splitlines()[1:] == [
        "problem.target: problem.target is required for task binary: name the column to "
        "predict (task clustering needs none, and anomaly only for a label column) "
        "(loopml.yaml, line 2; problem.task on line 3).",
        "data: required key is missing (loopml.yaml, line 1). Add it.",
    ]


def test_missing_name_is_reported() -> None:
    message = error_of(BASE.replace("name: churn\n", ""))
    assert message.splitlines()[1] == "name: required key is missing (loopml.yaml, line 1). Add it."


def test_missing_source_path_is_reported_at_the_source() -> None:
    text = "name: churn\nproblem:\n  target: y\ndata:\n  source:\n    type: csv\n"
    assert error_of(text).splitlines()[1] == (
        "data.source.path: required key is missing (loopml.yaml, line 5). Add it."
    )


def test_missing_source_type_names_the_type_key() -> None:
    text = "name: churn\nproblem:\n  target: y\ndata:\n  source:\n    path: a.csv\n"
    assert error_of(text).splitlines()[1] == (
        "data.source: Unable to extract tag using discriminator 'type' (loopml.yaml, line 5)."
    )


def test_empty_target_is_rejected() -> None:
    message = error_of(BASE.replace("target: churned", "target: ''"))
    assert message.splitlines()[1] == (
        "problem.target: String should have at least 1 character, got '' (loopml.yaml, line 4)."
    )


# --------------------------------------------------------------------------------------------
# impossible combinations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            with_problem('positive_class: "yes"', task="regression"),
            "problem.positive_class: positive_class only applies to binary tasks, not regression "
            "(loopml.yaml, line 4; problem.task on line 3).",
        ),
        (
            with_problem("positive_class: a", task="multiclass"),
            "problem.positive_class: positive_class only applies to binary tasks, not multiclass "
            "(loopml.yaml, line 4; problem.task on line 3).",
        ),
        (
            with_problem("metric: roc_auc", task="regression"),
            "problem.metric: metric 'roc_auc' is a classification metric but task is regression; "
            f"use one of {', '.join(REGRESSION_METRICS)} (loopml.yaml, line 4; problem.task on "
            "line 3).",
        ),
        (
            with_problem("metric: rmse", task="binary"),
            "problem.metric: metric 'rmse' is a regression metric but task is binary; "
            f"use one of {', '.join(CLASSIFICATION_METRICS)} (loopml.yaml, line 4; problem.task "
            "on line 3).",
        ),
        (
            with_problem("metric: mae", task="multiclass"),
            "problem.metric: metric 'mae' is a regression metric but task is multiclass; "
            f"use one of {', '.join(CLASSIFICATION_METRICS)} (loopml.yaml, line 4; problem.task "
            "on line 3).",
        ),
        (
            with_problem('success: "rmse <= 0.5"', task="binary"),
            "problem.success: success gate metric 'rmse' does not apply to binary; use one of "
            f"{', '.join(CLASSIFICATION_METRICS)} (loopml.yaml, line 4; problem.task on line 3).",
        ),
        (
            with_problem('success: "accuracy >= 0.5"', task="regression"),
            "problem.success: success gate metric 'accuracy' does not apply to regression; use "
            f"one of {', '.join(REGRESSION_METRICS)} (loopml.yaml, line 4; problem.task on "
            "line 3).",
        ),
        (
            BASE + "training:\n  split: time\n",
            "training.split: 'time' needs data.time_column, which is not set; set it, or choose "
            "another split (loopml.yaml, line 8).",
        ),
        (
            BASE + "training:\n  split: group\n",
            "training.split: 'group' needs data.group_column, which is not set; set it, or "
            "choose another split (loopml.yaml, line 8).",
        ),
        (
            BASE.replace("task: binary", "task: regression") + "training:\n  split: stratified\n",
            "training.split: 'stratified' needs classes to stratify on; use random for "
            "regression (loopml.yaml, line 8; problem.task on line 3).",
        ),
        (
            BASE + "  id_columns: [customer_id, churned]\n",
            "data.id_columns: lists the target 'churned' (problem.target); remove it from the id "
            "columns (loopml.yaml, line 7; problem.target on line 4).",
        ),
        (
            BASE + "  drop_columns: [churned]\n",
            "data.drop_columns: lists the target 'churned' (problem.target); remove it from the "
            "dropped columns (loopml.yaml, line 7; problem.target on line 4).",
        ),
        (
            BASE + "  time_column: churned\n",
            "data.time_column: is the target 'churned' (problem.target); the time column must be "
            "another column (loopml.yaml, line 7; problem.target on line 4).",
        ),
        (
            BASE + "scoring:\n  input: new.csv\n",
            "scoring.input: scoring.input is set but scoring.output is not; give both, or "
            "neither (loopml.yaml, line 8).",
        ),
    ],
    ids=[
        "regression+positive_class",
        "multiclass+positive_class",
        "regression+classification_metric",
        "binary+regression_metric",
        "multiclass+regression_metric",
        "binary+regression_gate",
        "regression+classification_gate",
        "time_split_without_time_column",
        "group_split_without_group_column",
        "stratified_regression",
        "target_in_id_columns",
        "target_in_drop_columns",
        "target_is_time_column",
        "scoring_input_without_output",
    ],
)
def test_impossible_combinations(text: str, expected: str) -> None:
    assert error_of(text).splitlines()[1:] == [expected]


# --------------------------------------------------------------------------------------------
# success gates in the file


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        (
            "roc_auc >> 0.8",
            "problem.success: success gate 'roc_auc >> 0.8' is not of the form "
            "'<metric> <op> <number>', e.g. 'roc_auc >= 0.80' (several clauses: joined by "
            "'and') (loopml.yaml, line 4).",
        ),
        (
            "roc_auc >= high",
            "problem.success: success gate 'roc_auc >= high' is not of the form "
            "'<metric> <op> <number>', e.g. 'roc_auc >= 0.80' (several clauses: joined by "
            "'and') (loopml.yaml, line 4).",
        ),
        (
            "auc >= 0.8",
            "problem.success: success gate names unknown metric 'auc'; did you mean 'roc_auc'? "
            f"Known: {', '.join(ALL_METRICS)}, got 'auc >= 0.8' (loopml.yaml, line 4).",
        ),
    ],
)
def test_bad_success_gate_strings(gate: str, expected: str) -> None:
    assert error_of(with_problem(f'success: "{gate}"')).splitlines()[1:] == [expected]


def test_regression_gate_on_r2_is_accepted() -> None:
    cfg = parse_config(with_problem('success: "r2 >= 0.5"', task="regression"))
    assert cfg.problem.gate == Gate.parse("r2 >= 0.5")


# --------------------------------------------------------------------------------------------
# not a project file at all


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    assert error_of(text) == (
        "loopml.yaml is empty. Run `loopml init DATA --target COLUMN` for a draft."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: [unclosed\n",
            "loopml.yaml is not valid YAML (loopml.yaml, line 2): expected ',' or ']', "
            "but got '<stream end>'.",
        ),
        (
            "name: a\n\tproblem: 1\n",
            "loopml.yaml is not valid YAML (loopml.yaml, line 2): found character '\\t' that "
            "cannot start any token.",
        ),
        (
            "name: a\nproblem:\n  target: y\n data: 1\n",
            "loopml.yaml is not valid YAML (loopml.yaml, line 4): expected <block end>, "
            "but found '<block mapping start>'.",
        ),
    ],
    ids=["unclosed_bracket", "tab", "bad_indent"],
)
def test_invalid_yaml_names_the_line(text: str, expected: str) -> None:
    assert error_of(text) == expected


@pytest.mark.parametrize("text", ["- name\n- problem\n", "just a string\n", "42\n"])
def test_document_that_is_not_a_mapping(text: str) -> None:
    assert error_of(text) == (
        "loopml.yaml must be a mapping of sections (name, problem, data, ...)."
    )


def test_duplicate_section_is_an_error() -> None:
    text = BASE + "training:\n  budget_seconds: 600\n" + "training:\n  seed: 1\n"
    with pytest.raises(
        ConfigError, match=r"key 'training' appears twice \(lines \d+ and \d+\); keep one"
    ):
        parse_config(text)


# --------------------------------------------------------------------------------------------
# load_config


def test_load_config_from_file_and_from_directory(tmp_path: Path) -> None:
    (tmp_path / "loopml.yaml").write_text(BASE, encoding="utf-8")
    by_file = load_config(tmp_path / "loopml.yaml")
    by_dir = load_config(tmp_path)
    assert by_file == by_dir == parse_config(BASE)


def test_load_config_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"project file {missing} not found. Run `loopml init DATA --target COLUMN` to write "
            "one, or pass -c/--config."
        ),
    ):
        load_config(missing)


def test_load_config_directory_without_project_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"project file {tmp_path / 'loopml.yaml'}")):
        load_config(tmp_path)


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "loopml.yaml"
    path.write_bytes(BASE.replace("churn\n", "caf\xe9\n", 1).encode("latin-1"))
    with pytest.raises(ConfigError, match=re.escape(f"cannot read project file {path}: ")):
        load_config(path)


def test_load_config_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "loopml.yaml"
    path.write_text(BASE + "training:\n  cv_folds: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"got 0 ({path}, line 8).")):
        load_config(path)


# --------------------------------------------------------------------------------------------
# Gate


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("roc_auc >= 0.80", "roc_auc", ">=", 0.8),
        ("  log_loss<0.5  ", "log_loss", "<", 0.5),
        ("accuracy > .9", "accuracy", ">", 0.9),
        ("mae <= 1e-3", "mae", "<=", 0.001),
        ("rmse <= 2.5E2", "rmse", "<=", 250.0),
        ("balanced_accuracy>=1", "balanced_accuracy", ">=", 1.0),
        ("mape <= -0.5", "mape", "<=", -0.5),
    ],
)
def test_gate_parse(text: str, metric: str, op: str, threshold: float) -> None:
    gate = Gate.parse(text)
    assert gate.clauses == (GateClause(metric=metric, op=op, threshold=threshold),)  # type: ignore[arg-type]
    assert (gate.metric, gate.op, gate.threshold) == (metric, op, threshold)


@pytest.mark.parametrize(
    "text",
    ["", "roc_auc", "roc_auc >= ", ">= 0.8", "roc_auc = 0.8", "roc_auc => 0.8"],
)
def test_gate_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not of the form '<metric> <op> <number>'"):
        Gate.parse(text)


@pytest.mark.parametrize(
    ("text", "meant"),
    [("auc >= 0.8", "roc_auc"), ("ROC_AUC > 0.8", "roc_auc"), ("logloss <= 0.3", "log_loss")],
)
def test_gate_parse_rejects_unknown_metric_and_says_which_was_meant(text: str, meant: str) -> None:
    name = text.split()[0]
    with pytest.raises(
        ValueError,
        match=rf"^success gate names unknown metric '{name}'; did you mean '{meant}'\? Known: ",
    ):
        Gate.parse(text)


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("auc", "roc_auc"),
        ("AUC", "roc_auc"),
        ("logloss", "log_loss"),
        ("mse", "rmse"),
        ("r2_score", "r2"),
        ("average_precision", "pr_auc"),
        ("balanced accuracy", "balanced_accuracy"),
        ("acuracy", "accuracy"),
    ],
)
def test_unknown_metric_suggests_the_one_meant(written: str, meant: str) -> None:
    message = error_of(with_problem(f"metric: {written}"))
    assert message.splitlines()[1].startswith(
        f"problem.metric: unknown metric {written!r}; did you mean {meant!r}? Allowed: "
    )


def test_unknown_metric_without_a_likely_meaning_lists_the_allowed_ones() -> None:
    message = error_of(with_problem("metric: speed"))
    assert message.splitlines()[1] == (
        f"problem.metric: unknown metric 'speed'; allowed: {', '.join(ALL_METRICS)} "
        "(loopml.yaml, line 4)."
    )


def test_gate_parse_r2() -> None:
    assert Gate.parse("r2 >= 0.5").clauses == (GateClause(metric="r2", op=">=", threshold=0.5),)


@pytest.mark.parametrize(
    ("op", "below", "equal", "above"),
    [(">=", False, True, True), (">", False, False, True), ("<=", True, True, False),
     ("<", True, False, False)],
)  # fmt: skip
def test_gate_passes_at_and_around_the_threshold(
    op: str, below: bool, equal: bool, above: bool
) -> None:
    gate = Gate.parse(f"accuracy {op} 0.75")
    values = [{"accuracy": v} for v in (0.7499, 0.75, 0.7501)]
    assert [gate.passes(v) for v in values] == [below, equal, above]
    assert not gate.passes({}) and not gate.passes({"accuracy": float("nan")})


def test_gate_str_round_trips() -> None:
    gate = Gate.parse("roc_auc >= 0.80")
    assert str(gate) == "roc_auc >= 0.8"
    assert Gate.parse(str(gate)) == gate


def test_expectation_range_points_at_min_and_names_the_line_of_max() -> None:
    text = BASE + "quality:\n  expectations:\n    age:\n      min: 5\n      max: 1\n"
    assert error_of(text).splitlines()[1:] == [
        "quality.expectations.age.min: min 5.0 is greater than max 1.0 "
        "(loopml.yaml, line 10; quality.expectations.age.max on line 11)."
    ]


def test_training_cv_folds_accepts_auto() -> None:
    assert parse_config(BASE + "training:\n  cv_folds: auto\n").training.cv_folds == "auto"
    assert parse_config(BASE + "training:\n  cv_folds: 20\n").training.cv_folds == 20
    assert parse_config(BASE).training.cv_folds == 5  # the default stays five folds


def test_training_max_trials_caps_the_search() -> None:
    assert parse_config(BASE).training.max_trials is None  # the budget alone decides
    assert parse_config(BASE + "training:\n  max_trials: 20\n").training.max_trials == 20
    message = error_of(BASE + "training:\n  max_trials: 0\n")
    assert "training.max_trials" in message and "line 8" in message


def test_monitoring_section_checks_its_window_and_webhook() -> None:
    from pydantic import ValidationError

    from loopml.config import MonitoringConfig, parse_duration

    assert MonitoringConfig(window="6h").window_seconds == 21_600.0
    assert parse_duration("2w") == 1_209_600.0
    with pytest.raises(ValidationError, match="write a number and a unit"):
        MonitoringConfig(window="daily")
    with pytest.raises(ValidationError, match="not an http"):
        MonitoringConfig(webhook="hooks.example.com/x")
    with pytest.raises(ValidationError, match="alpha"):
        MonitoringConfig(alpha=1.5)


def test_retraining_section_defaults_windows_and_durations() -> None:
    cfg = parse_config(BASE).retraining
    assert (cfg.on_drift, cfg.on_metric_drop, cfg.schedule) == (True, 0.02, None)
    assert (cfg.data_window_seconds, cfg.holdout_seconds) == (30 * 86_400.0, 7 * 86_400.0)
    assert (cfg.promote_if, cfg.alpha, cfg.bootstrap) == ("significant", 0.05, 1000)
    given = parse_config(BASE + "retraining: {schedule: 2w, promote_if: better}\n").retraining
    assert (given.schedule_seconds, given.promote_if) == (1_209_600.0, "better")
    message = error_of(BASE + "retraining:\n  schedule: weekly\n")
    assert "retraining.schedule" in message and "write a number and a unit" in message
    message = error_of(BASE + "retraining:\n  promote_if: always\n")
    assert "retraining.promote_if" in message
    message = error_of(BASE + "retraining:\n  data_window: 3d\n")
    assert "holdout_window '7d' is longer than data_window '3d'" in message


@pytest.mark.parametrize(
    ("execution", "message"),
    [
        ("{address: tcp://h:8786}", "execution.address: is set but execution.engine is local"),
        ("{engine: dask, address: h:8786}", "is not a Dask scheduler address; write it as tcp"),
        ("{engine: dask, address: tcp://h:1, workers: 2}", "execution.workers: sizes a local"),
        ("{engine: spark}", "execution.engine: Input should be 'local' or 'dask'"),
    ],
)
def test_execution_mistakes_name_the_key_and_the_fix(execution: str, message: str) -> None:
    text = "name: t\nproblem: {target: y}\ndata: {source: {type: csv, path: a.csv}}\n"
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(text + f"execution: {execution}\n")


def test_execution_defaults_to_the_local_engine() -> None:
    text = "name: t\nproblem: {target: y}\ndata: {source: {type: csv, path: a.csv}}\n"
    assert parse_config(text).execution.engine == "local"
