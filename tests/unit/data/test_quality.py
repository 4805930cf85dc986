"""loopml.data._quality: every check on small hand-made tables, with exact counts."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd

from loopml.config import Expectation, QualityConfig
from loopml.data import TableSpec, validate
from loopml.data._quality_columns import spelling_groups
from loopml.types import Finding, QualityReport

N = 60  # above the 50 rows id-like detection needs


def check(frame: pd.DataFrame, target: str | None = None, **kwargs: Any) -> QualityReport:
    quality = kwargs.pop("quality", QualityConfig())
    spec_keys = ("task", "id_columns", "time_column", "label_time_column", "categories")
    spec = TableSpec(target=target, **{k: kwargs.pop(k) for k in spec_keys if k in kwargs})
    return validate(frame, spec=spec, quality=quality, **kwargs)


def only(report: QualityReport, check_id: str, column: str | None = None) -> Finding:
    found = [f for f in report.findings if f.id == check_id and column in (None, f.column)]
    assert len(found) == 1, [f.to_dict() for f in report.findings]
    return found[0]


def ids(report: QualityReport) -> list[tuple[str, str | None]]:
    return [(f.id, f.column) for f in report.findings]


def test_a_clean_table_has_no_findings() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=N),
            "colour": rng.choice(["red", "green", "blue"], N),
            "y": rng.choice(["a", "b"], N),
        }
    )
    report = check(frame, target="y")
    assert report.findings == ()
    assert (report.n_rows, report.n_columns) == (N, 3)
    assert not report.fails()


# --------------------------------------------------------------------------------------------
# missing values, duplicates


def test_missing_values_count_blanks_and_grade_by_share() -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, np.nan, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            "b": ["x", " ", None, "", "y", None, None, None, None, None],
        }
    )
    report = check(frame)
    a = only(report, "missing-values", "a")
    assert (a.severity, a.count, a.examples) == ("info", 2, (1, 3))
    assert a.message == "column 'a': 2 of 10 rows (20.0%) are missing."
    b = only(report, "missing-values", "b")
    assert (b.severity, b.count) == ("warning", 8)
    assert "2 of them blank text" in b.message
    assert "quality.max_missing_fraction" in b.suggestion
    stricter = check(frame, quality=QualityConfig(max_missing_fraction=0.1))
    assert only(stricter, "missing-values", "a").severity == "warning"


def test_duplicate_rows_are_counted_ignoring_id_columns() -> None:
    frame = pd.DataFrame(
        {"id": [1, 2, 3, 4, 5], "a": [1, 2, 1, 1, 3], "b": ["x", "y", "x", "x", "x"]}
    )
    assert "duplicate-rows" not in [f.id for f in check(frame).findings]  # ids differ
    finding = only(check(frame, id_columns=["id"]), "duplicate-rows")
    assert (finding.severity, finding.count) == ("warning", 2)
    assert finding.examples == ({"row": 2, "same_as_row": 0}, {"row": 3, "same_as_row": 0})
    assert "ignoring the id columns 'id'" in finding.message
    assert "cleaning.duplicates" in finding.suggestion


def test_duplicate_ids() -> None:
    frame = pd.DataFrame({"id": [1, 2, 2, 3, 3, 3, None], "a": range(7)})
    finding = only(check(frame, id_columns=["id"]), "duplicate-ids")
    assert (finding.column, finding.count, finding.examples) == ("id", 3, (2.0, 3.0))
    composite = pd.DataFrame({"k1": [1, 1, 2, 2], "k2": ["a", "b", "a", "a"], "v": range(4)})
    finding = only(check(composite, id_columns=["k1", "k2"]), "duplicate-ids")
    assert (finding.column, finding.count, finding.examples) == ("k1, k2", 1, ("2 / a",))


def test_declared_columns_that_are_absent() -> None:
    frame = pd.DataFrame({"customer_id": [1, 2], "a": [1, 2]})
    report = check(frame, id_columns=["customerid"], time_column="ts")
    assert ids(report) == [("column-not-found", "customerid"), ("column-not-found", "ts")]
    assert "Did you mean 'customer_id'?" in report.findings[0].message
    assert report.findings[0].severity == "error"


def test_duplicate_column_names() -> None:
    frame = pd.DataFrame([[1, 2, 3], [4, 5, 6]], columns=["a", "a", "b"])
    finding = only(check(frame), "duplicate-column-names")
    assert (finding.severity, finding.column, finding.count) == ("error", "a", 1)


# --------------------------------------------------------------------------------------------
# per-column checks


def test_constant_and_near_constant_columns() -> None:
    frame = pd.DataFrame(
        {
            "const": [7] * 200,
            "const_text": ["same"] * 150 + [None] * 50,
            "rare": [0] * 198 + [1] * 2,
        }
    )
    report = check(frame, quality=QualityConfig(near_constant_fraction=0.99))
    const = only(report, "constant-column", "const")
    assert (const.severity, const.count, const.examples) == ("warning", 200, (7,))
    assert "data.drop_columns" in const.suggestion
    assert only(report, "constant-column", "const_text").count == 150
    rare = only(report, "near-constant-column", "rare")
    assert (rare.severity, rare.count, rare.examples) == ("info", 198, (0, 1))
    assert "99.00% of non-missing values are 0" in rare.message
    looser = check(frame, quality=QualityConfig(near_constant_fraction=0.995))
    assert "near-constant-column" not in [f.id for f in looser.findings]


def test_id_like_columns_unless_declared() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "code": [f"C{i:04d}" for i in range(N)],
            "order_id": rng.permutation(N),
            "row": np.arange(N),  # a row number: unique and increasing
            "price": rng.normal(size=N),  # unique, but continuous numbers are no id
            "customer_id": np.arange(N),
        }
    )
    report = check(frame, id_columns=["customer_id"])
    assert [c for i, c in ids(report) if i == "id-like-column"] == ["code", "order_id", "row"]
    code = only(report, "id-like-column", "code")
    assert (code.severity, code.count) == ("warning", N)
    assert code.examples == ("C0000", "C0001", "C0002", "C0003", "C0004")
    assert "data.id_columns" in code.suggestion


def test_high_cardinality() -> None:
    labels = [f"city {i}" for i in range(30)] * 2
    frame = pd.DataFrame({"city": labels})
    finding = only(check(frame, quality=QualityConfig(high_cardinality=20)), "high-cardinality")
    assert (finding.severity, finding.count) == ("info", 30)
    assert "more than quality.high_cardinality = 20" in finding.message
    relaxed = check(frame, quality=QualityConfig(high_cardinality=30))
    assert "high-cardinality" not in [f.id for f in relaxed.findings]


def test_mixed_types() -> None:
    frame = pd.DataFrame({"size": ["S", "M", "L", "12", "XL", "14", "M", "S"] * 5})
    finding = only(check(frame), "mixed-types")
    assert (finding.severity, finding.count) == ("warning", 10)  # 10 numbers, 30 words
    assert "mixes numbers (10 values) and text (30 values)" in finding.message
    assert set(finding.examples) == {"12", "14", "S", "M", "L"}


def test_mixed_python_types_in_an_object_column() -> None:
    frame = pd.DataFrame({"v": pd.Series([1, "a", 2, "b", "c", "a"], dtype=object)})
    finding = only(check(frame), "mixed-types")
    assert finding.count == 2


def test_numbers_as_text() -> None:
    numbers = [str(i) for i in range(40)]
    report = check(pd.DataFrame({"n": numbers}))
    clean = only(report, "numbers-as-text")
    assert (clean.severity, clean.count) == ("info", 40)
    dirty = only(check(pd.DataFrame({"n": [*numbers, "n/a"]})), "numbers-as-text")
    assert (dirty.severity, dirty.count, dirty.examples) == ("warning", 1, ("n/a",))
    assert "those become missing" in dirty.message


def test_inconsistent_spellings_list_the_groups() -> None:
    answers = ["Yes"] * 10 + ["yes "] * 3 + ["Y"] * 2 + ["No"] * 12 + ["no"] * 1 + ["maybe"] * 4
    finding = only(check(pd.DataFrame({"answer": answers})), "inconsistent-spellings")
    assert finding.severity == "warning"
    assert finding.examples == (["Yes", "yes ", "Y"], ["No", "no"])
    assert finding.count == 6  # rows not using their group's most common spelling
    assert "'Yes' / 'yes ' / 'Y'; 'No' / 'no'" in finding.message
    assert "cleaning.categories" in finding.suggestion


def test_spelling_groups_rules() -> None:
    counts = pd.Series(
        {
            "California": 30,
            "Califrnia": 2,
            "New  York": 1,
            "new york": 20,
            "plan 2": 10,
            "plan 3": 10,
            "male": 15,
            "M": 3,
            "Male": 1,
            "cat": 5,
            "car": 5,
        }
    )
    assert spelling_groups(counts) == [  # the group with most rows first
        ["California", "Califrnia"],
        ["new york", "New  York"],
        ["male", "M", "Male"],
    ]


def test_outliers_use_three_iqr_fences_and_count_exactly() -> None:
    values = [float(i) for i in range(100)] + [1000.0, -500.0, 300.0]
    finding = only(check(pd.DataFrame({"v": values})), "outliers")
    # quartiles of the 103 values 24.5 and 75.5, IQR 51: fences -128.5 and 228.5
    assert (finding.severity, finding.count) == ("info", 3)
    assert finding.examples == (1000.0, -500.0, 300.0)  # farthest from the median first
    assert "outside [-128.5, 228.5]" in finding.message
    assert "cleaning.outliers" in finding.suggestion
    flat = pd.DataFrame({"v": [1.0] * 80 + [2.0] * 20})  # IQR 0: no fences, no finding
    assert "outliers" not in [f.id for f in check(flat).findings]


def schooling_years() -> pd.Series:
    """Years of schooling 1 to 16, quartiles 12 and 13: the 3×IQR fences [9, 16] would flag
    the 10% of rows with 8 years or fewer."""
    counts = {**dict.fromkeys(range(1, 9), 25), 9: 50, 10: 50, 11: 100, 12: 900, 13: 500}
    counts |= {14: 100, 15: 50, 16: 50}
    values = [year for year, n in counts.items() for _ in range(n)]
    return pd.Series(np.random.default_rng(3).permutation(values), name="schooling")


def test_a_bounded_integer_column_has_no_outliers_in_its_tail() -> None:
    years = schooling_years()
    assert np.quantile(years, [0.25, 0.75]).tolist() == [12.0, 13.0]
    assert (years <= 8).mean() == 0.1
    assert "outliers" not in [f.id for f in check(years.to_frame()).findings]
    # a placeholder beyond a gap still is one, and the fences say how they were drawn
    coded = years.copy()
    coded.iloc[:3] = 99
    finding = only(check(coded.to_frame()), "outliers")
    assert (finding.count, finding.examples) == (3, (99.0,))
    assert "outside [1, 16], the fences widened over the levels that follow" in finding.message


# --------------------------------------------------------------------------------------------
# expectations


def test_expectations_each_rule_with_exact_counts() -> None:
    frame = pd.DataFrame(
        {
            "age": [25, -1, 40, 130, 200, None],
            "plan": ["gold", "silver", "Gold", "bronze", None, "gold"],
            "email": ["a", "b", "a", None, "c", "c"],
        }
    )
    quality = QualityConfig(
        expectations={
            "age": Expectation(min=0, max=120, not_null=True),
            "plan": Expectation(allowed=["gold", "silver"], severity="warning"),
            "email": Expectation(unique=True),
            "missing_col": Expectation(not_null=True, severity="warning"),
        }
    )
    report = check(frame, quality=quality)
    broken = {
        (f.column, f.message.split("break ")[1].split(" ")[0]): f
        for f in report.findings
        if f.id == "expectation-violated" and "break" in f.message
    }
    assert {k: (f.severity, f.count) for k, f in broken.items()} == {
        ("age", "quality.expectations.age.min"): ("error", 1),
        ("age", "quality.expectations.age.max"): ("error", 2),
        ("age", "quality.expectations.age.not_null"): ("error", 1),
        ("plan", "quality.expectations.plan.allowed"): ("warning", 2),
        ("email", "quality.expectations.email.unique"): ("error", 2),
    }
    assert broken["age", "quality.expectations.age.max"].examples == (130.0, 200.0)
    assert broken["plan", "quality.expectations.plan.allowed"].examples == ("Gold", "bronze")
    assert broken["age", "quality.expectations.age.not_null"].examples == (5,)
    absent = only(report, "expectation-violated", "missing_col")
    assert absent.severity == "error"  # an absent column is an error whatever the severity
    assert "named in quality.expectations.missing_col, is not in the data" in absent.message
    assert report.fails()


def test_expectation_range_counts_text_that_is_no_number() -> None:
    frame = pd.DataFrame({"n": ["1", "5", "abc", "7"]})
    report = check(frame, quality=QualityConfig(expectations={"n": Expectation(max=6)}))
    finding = only(report, "expectation-violated")
    assert finding.count == 2
    assert finding.examples == ("abc", "7")
    assert "or not numbers (1 rows)" in finding.message


def test_allowed_values_read_by_yaml_as_booleans_and_numbers() -> None:
    frame = pd.DataFrame({"flag": ["yes", "No", "y", "maybe"], "level": [1, 2, 3, 2]})
    quality = QualityConfig(
        expectations={
            "flag": Expectation(allowed=[True, False]),
            "level": Expectation(allowed=["1", 2]),
        }
    )
    report = check(frame, quality=quality)
    violated = [f for f in report.findings if f.id == "expectation-violated"]
    assert [(f.column, f.count, f.examples) for f in violated] == [
        ("flag", 1, ("maybe",)),
        ("level", 1, (3,)),
    ]


# --------------------------------------------------------------------------------------------
# the target


def test_target_absent() -> None:
    report = check(pd.DataFrame({"churned": [0, 1]}), target="churn")
    finding = only(report, "target-missing")
    assert finding.severity == "error"
    assert "Did you mean 'churned'?" in finding.message
    assert "problem.target" in finding.suggestion


def test_target_values_missing() -> None:
    frame = pd.DataFrame({"y": ["a", None, "b", " ", "a", "b"] * 2, "x": range(12)})
    finding = only(check(frame, target="y"), "target-missing")
    assert (finding.severity, finding.count, finding.examples) == ("warning", 4, (1, 3, 7, 9))
    everything = only(check(pd.DataFrame({"y": [None, None]}), target="y"), "target-missing")
    assert (everything.severity, everything.count) == ("error", 2)


def test_target_one_class() -> None:
    finding = only(check(pd.DataFrame({"y": ["yes"] * 10}), target="y"), "target-one-class")
    assert (finding.severity, finding.count, finding.examples) == ("error", 10, ("yes",))


def test_target_imbalance() -> None:
    frame = pd.DataFrame({"y": ["no"] * 190 + ["yes"] * 10})
    report = check(frame, quality=QualityConfig(imbalance_ratio=0.1), target="y")
    finding = only(report, "target-imbalance")
    assert (finding.severity, finding.count) == ("warning", 10)
    assert "class 'yes' of 'y' holds 10 of 200 labelled rows (5.00%)" in finding.message
    assert finding.examples == ({"class": "no", "rows": 190}, {"class": "yes", "rows": 10})
    assert "problem.metric" in finding.suggestion
    assert "target-imbalance" not in [f.id for f in check(frame, target="y").findings]


def test_target_rare_classes() -> None:
    frame = pd.DataFrame({"y": ["a"] * 20 + ["b"] * 20 + ["c"] * 3})
    rare = only(check(frame, target="y"), "target-rare-class")
    assert (rare.severity, rare.count) == ("warning", 3)
    assert rare.examples == ({"class": "c", "rows": 3},)
    frame = pd.DataFrame({"y": ["a"] * 20 + ["b"] * 20 + ["c"] * 3 + ["d"]})
    rare = only(check(frame, target="y"), "target-rare-class")
    assert (rare.severity, rare.count) == ("error", 4)
    assert "'c' (3), 'd' (1)" in rare.message


def test_regression_target_with_words() -> None:
    frame = pd.DataFrame({"y": ["1.5", "2", "n/a", "3"] * 5})
    finding = only(check(frame, target="y", task="regression"), "target-type")
    assert (finding.severity, finding.count, finding.examples) == ("error", 5, ("n/a",))


def test_target_spellings_are_merged_and_regression_outliers() -> None:
    frame = pd.DataFrame({"y": ["yes"] * 20 + ["Yes"] * 2 + [" YES"] + ["no"] * 20})
    report = check(frame, target="y")
    finding = only(report, "inconsistent-spellings")
    assert (finding.column, finding.count, finding.examples) == ("y", 3, (["yes", "Yes", "YES"],))
    assert "the 3 rows with another spelling are merged into the first one" in finding.message
    assert "Nothing to do for training" in finding.suggestion
    assert "target-rare-class" not in {f.id for f in report.findings}  # 'YES' is not a class
    values = np.random.default_rng(5).permutation([float(i) for i in range(100)] + [1e6])
    assert only(check(pd.DataFrame({"y": values}), target="y"), "outliers").column == "y"


# --------------------------------------------------------------------------------------------
# leakage


def binary_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "y": np.where(y == 1, "churned", "stayed"),
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "weak": y + rng.normal(scale=1.5, size=n),
            "ref": [f"R{i:05d}" for i in range(n)],  # unique labels never look predictive
        }
    )


def leaks(report: QualityReport) -> dict[str | None, str]:
    return {f.column: f.severity for f in report.findings if f.id == "suspected-leakage"}


def test_a_feature_that_predicts_a_binary_target_almost_perfectly() -> None:
    frame = binary_frame()
    rng = np.random.default_rng(1)
    frame["refund_amount"] = np.where(frame["y"] == "churned", 50, 0) + rng.normal(size=len(frame))
    report = check(frame, target="y")
    assert leaks(report) == {"refund_amount": "warning"}
    finding = only(report, "suspected-leakage")
    assert re.search(r"ROC-AUC 0\.99\d out of fold, quality.leakage_auc = 0.98", finding.message)
    assert finding.count == 400
    assert "data.drop_columns" in finding.suggestion
    assert leaks(check(frame, target="y", quality=QualityConfig(leakage_auc=1.0))) == {}
    assert leaks(check(binary_frame(), target="y")) == {}  # noise, weak and unique columns


def test_a_renamed_copy_of_the_target_is_an_error() -> None:
    frame = binary_frame()
    frame["status"] = frame["y"].map({"churned": "C", "stayed": "S"})
    frame["flag"] = (frame["y"] == "churned").astype(int)
    report = check(frame, target="y")
    assert leaks(report) == {"status": "error", "flag": "error"}
    status = only(report, "suspected-leakage", "status")
    assert "copy of the target 'y' up to a relabelling" in status.message
    assert {"value": "C", "target": "churned"} in status.examples


def test_leakage_for_multiclass_and_regression() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    stage = np.array(["p", "q", "r"])[y]
    frame = pd.DataFrame({"y": y, "stage": stage, "noise": rng.normal(size=300)})
    frame.loc[:1, "stage"] = "z"  # not quite a copy: two rows differ
    report = check(frame, target="y", task="multiclass")
    assert leaks(report) == {"stage": "warning"}
    assert "balanced accuracy" in only(report, "suspected-leakage").message
    t = rng.normal(size=300)
    frame = pd.DataFrame(
        {"y": t, "exp_y": np.exp(t), "cents": t * 100, "noise": rng.normal(size=300)}
    )
    report = check(frame, target="y")
    assert leaks(report) == {"exp_y": "warning", "cents": "error"}
    assert "R² on the target's ranks" in only(report, "suspected-leakage", "exp_y").message


def two_columns(n: int = 1000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "exam_1": rng.integers(20, 100, n).astype(float),
            "exam_2": rng.integers(20, 100, n).astype(float),
            "hours": rng.uniform(0, 40, n),
            "club": rng.choice(["chess", "drama", "none"], n),
        }
    )
    frame["noise"] = rng.normal(size=n)
    return frame


def test_a_target_computed_from_two_columns_is_suspected_leakage() -> None:
    frame = two_columns()
    frame["y"] = (frame["exam_1"] + frame["exam_2"]) / 2  # the final grade: their average
    report = check(frame, target="y")
    assert leaks(report) == {"exam_1, exam_2": "warning"}
    finding = only(report, "suspected-leakage")
    assert re.search(
        r"columns 'exam_1' and 'exam_2' together predict the target almost perfectly \(R² 1\.0000 "
        r"out of fold with a linear model on the two; a pair is flagged from 0\.995 = "
        r"1 - \(1 - quality\.leakage_auc\) / 4\)",
        finding.message,
    )
    assert finding.count == 1000
    assert set(finding.examples[0]) == {"exam_1", "exam_2", "y"}
    assert "data.drop_columns" in finding.suggestion
    # a pass mark on the average, and a product, are found too
    frame["y"] = np.where(frame["exam_1"] + frame["exam_2"] >= 120, "pass", "fail")
    assert leaks(check(frame, target="y")) == {"exam_1, exam_2": "warning"}
    assert "ROC-AUC" in only(check(frame, target="y"), "suspected-leakage").message
    frame["y"] = frame["exam_1"] * frame["hours"]
    finding = only(check(frame, target="y"), "suspected-leakage")
    assert finding.column == "exam_1, hours"
    assert "the mean of the 10 nearest rows" in finding.message


def test_two_strong_but_honest_columns_are_not_leakage() -> None:
    frame = two_columns()
    noise = np.random.default_rng(4).normal(scale=8, size=len(frame))
    frame["y"] = (frame["exam_1"] + frame["exam_2"]) / 2 + noise  # R² about 0.8
    assert leaks(check(frame, target="y")) == {}
    frame["y"] = np.where(frame["exam_1"] + frame["exam_2"] + 2 * noise >= 120, "pass", "fail")
    assert leaks(check(frame, target="y")) == {}
    # with the limit at 1 nothing is flagged, as for a single column
    frame["y"] = frame["exam_1"] - frame["exam_2"]
    assert leaks(check(frame, target="y")) == {"exam_1, exam_2": "warning"}
    assert leaks(check(frame, target="y", quality=QualityConfig(leakage_auc=1.0))) == {}


def test_a_pair_with_a_column_that_leaks_alone_is_not_reported_twice() -> None:
    frame = two_columns()
    frame["y"] = frame["exam_1"] * 3 + 1
    assert leaks(check(frame, target="y")) == {"exam_1": "error"}  # a copy, rescaled


def test_timestamps_after_the_label_time() -> None:
    label_at = pd.date_range("2024-01-01", periods=10, freq="D")
    frame = pd.DataFrame(
        {
            "label_at": label_at,
            "signup_at": label_at - pd.Timedelta(days=30),
            "closed_at": (
                label_at + pd.to_timedelta([1, -1, 2, -2, 3, -3, 0, 0, 0, 5], unit="D")
            ).strftime("%Y-%m-%d"),
        }
    )
    report = check(frame, label_time_column="label_at")
    finding = only(report, "suspected-leakage")
    assert (finding.column, finding.severity, finding.count) == ("closed_at", "warning", 4)
    assert finding.examples[0] == {
        "closed_at": "2024-01-02T00:00:00",
        "label_at": "2024-01-01T00:00:00",
    }
    missing = check(frame, label_time_column="labelled_at")
    assert ids(missing) == [("column-not-found", "labelled_at")]


# --------------------------------------------------------------------------------------------
# train / holdout


def test_train_holdout_mismatch() -> None:
    rng = np.random.default_rng(3)
    n = 500

    def table(shift: float, colours: list[str], probs: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "stable": rng.normal(size=n),
                "moved": rng.normal(loc=shift, size=n),
                "colour": rng.choice(colours, n, p=probs),
                "same_mix": rng.choice(["a", "b"], n),
            }
        )

    train = table(0.0, ["red", "green"], [0.5, 0.5])
    train["extra"] = 1.0
    holdout = table(1.0, ["red", "green"], [0.9, 0.1])
    report = check(train, holdout=holdout)
    found = {f.column: f for f in report.findings if f.id == "train-holdout-mismatch"}
    assert sorted(found) == ["colour", "extra", "moved"]
    assert "KS statistic" in found["moved"].message
    assert "PSI" in found["colour"].message
    assert "not in the holdout" in found["extra"].message
    assert found["moved"].count == n
    assert all(f.severity == "warning" for f in found.values())
    same = check(train.drop(columns="extra"), holdout=table(0.0, ["red", "green"], [0.5, 0.5]))
    assert same.findings == ()


# --------------------------------------------------------------------------------------------
# sampling, ordering, the report


def test_sampling_estimates_and_says_so_while_exact_counts_stay_exact() -> None:
    rng = np.random.default_rng(4)
    n = 5000
    frame = pd.DataFrame(
        {
            "a": np.where(rng.random(n) < 0.2, np.nan, 1.0),
            "rare": np.where(np.arange(n) < 20, 1, 0),
            "answer": rng.choice(["Yes", "yes"], n, p=[0.9, 0.1]),
        }
    )
    report = check(frame, max_rows=1000, seed=7)
    missing = only(report, "missing-values", "a")
    assert missing.count == int(frame["a"].isna().sum())  # exact despite the sample
    assert "estimated" not in missing.message
    spelling = only(report, "inconsistent-spellings")
    assert "estimated on a seeded sample of 1,000 of 5,000 rows" in spelling.message
    assert spelling.count % 5 == 0  # sample counts scaled by 5000 / 1000
    assert abs(spelling.count - 500) < 150
    assert check(frame, max_rows=1000, seed=7) == report  # the same seed, the same report
    full = check(frame)
    assert "estimated" not in only(full, "inconsistent-spellings").message


def test_findings_are_sorted_error_warning_info_and_fail_by_level() -> None:
    frame = pd.DataFrame(
        {
            "y": ["a", "b"] * 30,
            "x": np.random.default_rng(6).normal(size=60),
            "const": [1] * 60,
            "gappy": [1.0, np.nan, 2.0] * 20,  # unrelated to the target
        }
    )
    quality = QualityConfig(expectations={"gappy": Expectation(not_null=True)})
    report = check(frame, target="y", quality=quality)
    assert ids(report) == [
        ("expectation-violated", "gappy"),
        ("constant-column", "const"),
        ("missing-values", "gappy"),
    ]
    assert [f.severity for f in report.findings] == ["error", "warning", "info"]
    assert report.fails() and report.fails("warning")
    assert not report.fails("never")
    relaxed = QualityConfig(expectations={"gappy": Expectation(not_null=True, severity="warning")})
    report = check(frame, target="y", quality=relaxed)
    assert not report.fails()
    assert report.fails("warning")
    assert len(report.errors) == 0 and len(report.warnings) == 2


def test_report_is_json_serialisable_with_origin() -> None:
    frame = binary_frame()
    frame["when"] = pd.Timestamp("2024-01-01")
    frame["amount"] = np.random.default_rng(8).permutation([*range(399), 10**6])
    before = frame.copy()
    report = check(frame, target="y", task="auto", origin="csv:data.csv", id_columns=["ref"])
    pd.testing.assert_frame_equal(frame, before)  # the input is not modified
    data = json.loads(json.dumps(report.to_dict()))
    assert data["origin"] == "csv:data.csv"
    assert data["counts"] == {"error": 0, "warning": 1, "info": 1}
    assert [f["id"] for f in data["findings"]] == ["constant-column", "outliers"]


def test_unhashable_cells_are_compared_as_text() -> None:
    frame = pd.DataFrame({"tags": pd.Series([["a"], ["a"], ["b"], None], dtype=object)})
    report = check(frame, id_columns=["tags"])
    assert only(report, "duplicate-ids").examples == ("['a']",)


def test_empty_table() -> None:
    report = check(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    assert report.findings == ()
    assert report.n_rows == 0
