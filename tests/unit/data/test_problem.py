"""loopml.data._problem: the task, classes, positive class and metric the data allows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from loopml.config import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    CategoryCleaning,
    Gate,
    ProblemConfig,
    parse_config,
)
from loopml.data._problem import Problem, infer_task, prepare_target, resolve_problem
from loopml.errors import ConfigError, DataError


def frame_with(target: list[object], name: str = "y") -> pd.DataFrame:
    return pd.DataFrame({name: target, "x": range(len(target))})


def resolve(target: list[object], **cfg: object) -> Problem:
    return resolve_problem(frame_with(target), ProblemConfig(target="y", **cfg))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# infer_task


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 1, 0], "binary"),
        (["yes", "no", None], "binary"),
        ([True, False, None], "binary"),
        ([0.5, 1.5, 0.5], "binary"),
        (["a", "b", "c"], "multiclass"),
        ([1, 2, 3], "multiclass"),
        ([1.0, 2.0, 3.0, None], "multiclass"),
        (list(range(20)), "multiclass"),
        (list(range(21)), "regression"),
        ([1.5, 2.5, 3.5], "regression"),
        ([1.0, 2.0, 2.5], "regression"),
    ],
)
def test_infer_task(values: list[object], task: str) -> None:
    assert infer_task(pd.Series(values)) == task


# --------------------------------------------------------------------------------------------
# target problems


def test_absent_target_suggests_a_close_match() -> None:
    frame = pd.DataFrame({"churned": ["yes", "no"], "age": [1, 2]})
    expected = (
        "target column 'churn' (problem.target) is not in the data. Did you mean 'churned'? "
        "Columns are: churned, age."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        resolve_problem(frame, ProblemConfig(target="churn"))


def test_absent_target_with_wrong_case_suggests_the_column() -> None:
    frame = pd.DataFrame({"churned": ["yes", "no"]})
    with pytest.raises(DataError, match=r"Did you mean 'churned'\?"):
        resolve_problem(frame, ProblemConfig(target="Churned"))


def test_absent_target_without_a_close_match_lists_the_columns() -> None:
    frame = pd.DataFrame({"churned": ["yes", "no"], "age": [1, 2]})
    expected = "target column 'zzz' (problem.target) is not in the data. Columns are: churned, age."
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        resolve_problem(frame, ProblemConfig(target="zzz"))


def test_absent_target_lists_at_most_twenty_columns() -> None:
    frame = pd.DataFrame({f"c{i}": [1] for i in range(30)})
    with pytest.raises(DataError, match=r"Columns are: c0, c1, .*, c19\.$") as info:
        resolve_problem(frame, ProblemConfig(target="zzz"))
    assert "c20" not in str(info.value)


@pytest.mark.parametrize("missing", [[None, None, None], [np.nan, np.nan, np.nan]])
def test_all_missing_target(missing: list[object]) -> None:
    with pytest.raises(
        DataError, match=r"^target column 'y' has no values: every row is missing\.$"
    ):
        resolve(missing)


def test_one_class() -> None:
    expected = (
        "target column 'y' has only one value ('a') in 3 rows; a model needs at least two "
        "classes or distinct values. Check the filter or the file."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        resolve(["a", None, "a", "a"])


def test_one_class_after_trimming_spaces() -> None:
    with pytest.raises(DataError, match=r"has only one value \('a'\) in 3 rows"):
        resolve(["a", " a", "a "], task="binary")


def test_constant_regression_target() -> None:
    with pytest.raises(DataError, match=r"^target column 'y' has only one value \(.*\) in 3 rows"):
        resolve([2.0, 2.0, 2.0], task="regression")


@pytest.mark.parametrize(
    ("values", "task", "shown"), [([2.0, 2.0], "regression", "2.0"), ([1, 1, 1], "binary", "1")]
)
def test_one_value_is_shown_as_written(values: list[object], task: str, shown: str) -> None:
    with pytest.raises(DataError, match=rf"has only one value \({re.escape(shown)}\) in"):
        resolve(values, task=task)


def test_rare_class() -> None:
    expected = (
        "target class(es) 'c' of 'y' have fewer than 2 rows, too few to keep one in both the "
        "training data and the holdout. Merge rare classes or collect more rows."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        resolve(["a", "a", "b", "b", "c", "a"])


def test_rare_class_threshold_is_configurable() -> None:
    with pytest.raises(DataError, match=r"^target class\(es\) 'b' of 'y' have fewer than 3 rows"):
        resolve_problem(
            frame_with(["a", "a", "a", "b", "b"]), ProblemConfig(target="y"), min_class_rows=3
        )


def test_binary_task_with_three_classes() -> None:
    expected = (
        "problem.task is binary but target 'y' has 3 classes (a, b, c...). Use task: multiclass."
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(expected)}$"):
        resolve(["a", "a", "b", "b", "c", "c", "a"], task="binary")


def test_non_numeric_regression_target() -> None:
    expected = (
        "target column 'y' holds non-numeric values (e.g. 'n/a' in 1 rows) but the task is "
        "regression. Fix the values or set problem.task to binary/multiclass."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        resolve([1.5, "n/a", 3.0], task="regression")


# --------------------------------------------------------------------------------------------
# resolved problems


def test_binary_with_yes_no() -> None:
    problem = resolve(["yes", "no", "no", "yes", "no", "no"])
    assert problem == Problem(
        task="binary",
        target="y",
        metric="roc_auc",
        gate=None,
        classes=("no", "yes"),
        positive_class="yes",
    )
    assert problem.is_classification


def test_multiclass_default_metric_and_classes() -> None:
    problem = resolve(["b", "a", "c", "a", "b", "c"])
    assert (problem.task, problem.metric, problem.classes) == (
        "multiclass",
        "log_loss",
        ("a", "b", "c"),
    )
    assert problem.positive_class is None


def test_regression_default_metric() -> None:
    problem = resolve([1.5, 2.5, 3.5, 4.0])
    assert (problem.task, problem.metric, problem.classes, problem.positive_class) == (
        "regression",
        "rmse",
        (),
        None,
    )
    assert not problem.is_classification


def test_declared_task_wins_over_inference() -> None:
    assert resolve([1, 2, 3, 1, 2, 3], task="regression").task == "regression"


def test_missing_target_rows_are_noted() -> None:
    problem = resolve(["a", "b", None, "a", "b"])
    assert problem.notes == ("1 rows without a target value are left out of training",)


def test_integral_floats_become_integer_classes() -> None:
    problem = resolve([0.0, 1.0, np.nan, 1.0, 0.0])
    assert problem.classes == (0, 1)
    assert all(type(c) is int for c in problem.classes)
    assert problem.positive_class == 1


def test_class_labels_are_trimmed() -> None:
    assert resolve([" a", "a ", "b", "b"], task="binary").classes == ("a", "b")


def test_metric_and_gate_are_kept() -> None:
    problem = resolve(["a", "b", "a", "b"], metric="f1", success="accuracy >= 0.7")
    assert problem.metric == "f1"
    assert problem.gate == Gate.parse("accuracy >= 0.7")


# --------------------------------------------------------------------------------------------
# positive class


@pytest.mark.parametrize(
    ("values", "positive"),
    [
        (["yes", "no", "no", "yes"], "yes"),
        (["No", "Yes", "No", "Yes"], "Yes"),
        ([0, 1, 1, 0], 1),
        ([True, False, False, True], True),
        (["stayed", "churned", "stayed", "churned"], "churned"),
        (["ok", "fraud", "ok", "fraud", "fraud"], "fraud"),
        (["b", "a", "b", "a", "b"], "a"),  # no known name: the minority class
    ],
)
def test_positive_class_inference(values: list[object], positive: object) -> None:
    assert resolve(values).positive_class == positive


@pytest.mark.parametrize(("declared", "positive"), [("no", "no"), (" YES ", "yes"), ("yes", "yes")])
def test_declared_positive_class_matches_case_and_spaces(declared: str, positive: str) -> None:
    assert resolve(["yes", "no", "no", "yes"], positive_class=declared).positive_class == positive


def test_declared_positive_class_matches_numbers_written_as_text() -> None:
    assert resolve([1, 0, 1, 0], positive_class="0").positive_class == 0


def test_declared_positive_class_not_present() -> None:
    expected = "problem.positive_class 'maybe' is not a value of 'y'; the classes are 'no', 'yes'."
    with pytest.raises(ConfigError, match=f"^{re.escape(expected)}$"):
        resolve(["yes", "no", "no", "yes"], positive_class="maybe")


def test_unquoted_yes_in_the_project_file_selects_the_yes_class() -> None:
    cfg = parse_config(
        "name: churn\nproblem:\n  target: y\n  positive_class: yes\n"
        "data:\n  source: {type: csv, path: a.csv}\n"
    )
    assert (
        resolve_problem(frame_with(["yes", "no", "no", "yes"]), cfg.problem).positive_class == "yes"
    )


# --------------------------------------------------------------------------------------------
# metric and gate against the data


@pytest.mark.parametrize(
    ("values", "metric", "task", "allowed"),
    [
        (["yes", "no", "yes", "no"], "rmse", "binary", CLASSIFICATION_METRICS),
        ([1.5, 2.5, 3.5, 4.5], "roc_auc", "regression", REGRESSION_METRICS),
    ],
)
def test_metric_not_applicable_to_the_inferred_task(
    values: list[object], metric: str, task: str, allowed: dict[str, bool]
) -> None:
    expected = (
        f"problem.metric {metric!r} does not apply to a {task} task (inferred from 'y'); "
        f"use one of {', '.join(allowed)}, or set problem.task."
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(expected)}$"):
        resolve(values, metric=metric)


def test_gate_not_applicable_to_the_inferred_task() -> None:
    expected = (
        "problem.success: success gate metric 'mae' does not apply to binary; use one of "
        f"{', '.join(CLASSIFICATION_METRICS)} (the task is binary, inferred from 'y')."
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(expected)}$"):
        resolve(["yes", "no", "yes", "no"], success="mae <= 0.1")


# --------------------------------------------------------------------------------------------
# prepare_target and Problem serialisation


def test_prepare_target_for_regression_gives_floats() -> None:
    result = prepare_target(pd.Series(["1.5", 2, None], name="y"), "regression")
    assert result.dtype == np.float64
    assert result.tolist()[:2] == [1.5, 2.0]
    assert np.isnan(result.iloc[2])


def test_prepare_target_keeps_integers_and_booleans() -> None:
    ints = pd.Series([1, 0, 1])
    assert prepare_target(ints, "binary") is ints
    flags = pd.Series([True, False])
    assert prepare_target(flags, "binary") is flags


def test_prepare_target_strips_text_and_keeps_missing_as_none() -> None:
    result = prepare_target(pd.Series([" a", "b ", None]), "binary")
    assert result.tolist() == ["a", "b", None]


def test_problem_round_trips_through_a_dict() -> None:
    problem = Problem(
        task="binary",
        target="y",
        metric="roc_auc",
        gate=Gate.parse("roc_auc >= 0.8"),
        classes=(np.int64(0), np.int64(1)),
        positive_class=np.int64(1),
    )
    data = problem.to_dict()
    assert data == {
        "task": "binary",
        "target": "y",
        "metric": "roc_auc",
        "gate": "roc_auc >= 0.8",
        "classes": [0, 1],
        "positive_class": 1,
        "labels": {},
    }
    assert all(type(c) is int for c in data["classes"])
    assert Problem.from_dict(data) == problem
    merged = Problem("binary", "y", "roc_auc", None, ("No", "Yes"), "Yes", labels={"YES": "Yes"})
    assert Problem.from_dict(merged.to_dict()) == merged
    del data["labels"]  # a model registered before labels were merged
    assert Problem.from_dict(data) == problem


def test_problem_without_gate_round_trips() -> None:
    problem = resolve([1.5, 2.5, 3.5])
    assert Problem.from_dict(problem.to_dict()) == problem


def test_task_is_inferred_from_trimmed_labels() -> None:
    problem = resolve([" a", "a ", "b", "b", "a", "b"])
    assert (problem.task, problem.classes) == ("binary", ("a", "b"))


# --------------------------------------------------------------------------------------------
# spelling variants of the target's labels


SPELLED = ["Yes"] * 6 + ["yes "] * 2 + ["YES", " No"] + ["No"] * 8 + ["no"]


def test_spelling_variants_of_a_label_are_one_class() -> None:
    assert infer_task(pd.Series(SPELLED)) == "binary"
    problem = resolve(SPELLED)
    assert (problem.task, problem.classes, problem.positive_class) == (
        "binary",
        ("No", "Yes"),
        "Yes",
    )
    assert problem.labels == {"yes": "Yes", "YES": "Yes", "no": "No"}
    assert problem.notes == (
        "target labels spelled differently merged into one class each by the "
        "cleaning.categories rules ('yes' → 'Yes'; 'YES' → 'Yes'; 'no' → 'No'; 4 rows)",
    )
    y = prepare_target(pd.Series(SPELLED), problem.task, problem)
    assert y.value_counts().to_dict() == {"No": 10, "Yes": 9}


def test_target_labels_follow_the_category_cleaning_rules() -> None:
    typo = ["standard"] * 20 + ["premium"] * 15 + ["standdard"]  # a typo merged as in features
    assert resolve(typo).classes == ("premium", "standard")
    kept = CategoryCleaning(normalize=False, merge_similar=False)
    frame = frame_with(SPELLED)
    problem = resolve_problem(frame, ProblemConfig(target="y"), categories=kept, min_class_rows=1)
    assert (problem.task, problem.classes) == ("multiclass", ("No", "YES", "Yes", "no", "yes"))
    assert problem.labels == {}
    assert infer_task(frame["y"], categories=kept) == "multiclass"


def test_labels_of_a_new_file_are_mapped_onto_the_trained_classes() -> None:
    problem = resolve(SPELLED)
    scored = pd.Series(["yes", " YES ", "Y", "n", "NO", "Maybe", None, "  "], name="y")
    result = prepare_target(scored, "binary", problem)
    assert result.tolist()[:6] == ["Yes", "Yes", "Yes", "No", "No", "Maybe"]
    assert result.iloc[6:].isna().all()  # missing and blank are missing


def test_numbers_written_as_text_map_onto_integer_classes() -> None:
    problem = resolve([0, 1, 1, 0])
    result = prepare_target(pd.Series(["1", "0 ", ""]), "binary", problem)
    assert result.tolist()[:2] == [1, 0] and pd.isna(result.iloc[2])


def test_blank_target_cells_are_missing() -> None:
    problem = resolve(["a", "b", " ", "a", "b", ""])
    assert problem.classes == ("a", "b")
    assert problem.notes == ("2 rows without a target value are left out of training",)
    with pytest.raises(DataError, match=r"holds non-numeric values \(e\.g\. 'x' in 1 rows\)"):
        prepare_target(pd.Series(["1.5", " ", "x"], name="y"), "regression")
    assert prepare_target(pd.Series(["1.5", " "]), "regression").isna().tolist() == [False, True]
