"""loopml.data.profile: exact statistics on small frames, correlations, target relationships."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from loopml.config import QualityConfig
from loopml.data import Profile, infer_schema, profile, validate
from loopml.data._correlation import (
    correlation_ratio,
    cramers_v,
    pearson_matrix,
    rank_columns,
    spearman_matrix,
)
from loopml.data._schema import ColumnSchema, Schema
from loopml.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [0.0, -2.0, 3.5, np.nan, 10.0, 0.0, 7.0, np.nan],
            "plan": ["basic", "pro", "basic", None, "gold", "basic", "pro", "basic"],
            "signup": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-01-02",
                    None,
                    "2024-01-10",
                    "2024-02-01",
                    "2024-01-05",
                    "2024-01-07",
                    "2024-01-03",
                ]
            ),
            "note": [
                "late and badly damaged",
                "fine thanks, no complaints",
                "box was open again",
                "no",
                None,
                "arrived early, thanks a lot",
                "ok ok ok ok ok",
                "asked for a refund twice",
            ],
        }
    )


@pytest.fixture(scope="module")
def small_profile(small: pd.DataFrame) -> Profile:
    return profile(small)


# --------------------------------------------------------------------------------------------
# columns


def test_counts_missing_and_distinct_are_exact(small_profile: Profile) -> None:
    p = small_profile
    assert (p.n_rows, p.n_columns) == (8, 4)
    got = {c.name: (c.role, c.count, c.missing, c.distinct) for c in p.columns}
    assert got == {
        "amount": ("numeric", 6, 2, 5),
        "plan": ("categorical", 7, 1, 3),
        "signup": ("datetime", 7, 1, 7),
        "note": ("text", 7, 1, 7),
    }
    assert p.column("amount").missing_share == 0.25
    assert p.memory > 0
    assert p.sampled == {}
    assert p.sample_size == 8


def test_numeric_summary_matches_pandas(small: pd.DataFrame, small_profile: Profile) -> None:
    n = small_profile.column("amount").numeric
    assert n is not None
    values = small["amount"].dropna()
    assert (n.minimum, n.maximum) == (-2.0, 10.0)
    assert n.mean == pytest.approx(values.mean(), rel=1e-12)
    assert n.std == pytest.approx(values.std(), rel=1e-12)  # sample standard deviation
    assert n.skew == pytest.approx(
        float(((values - values.mean()) ** 3).mean() / values.std(ddof=0) ** 3), rel=1e-9
    )
    assert (n.zeros, n.negatives, n.infinite) == (2, 1, 0)
    expected = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    assert list(n.quantiles) == ["5%", "25%", "50%", "75%", "95%"]
    assert list(n.quantiles.values()) == pytest.approx(expected, rel=1e-12)
    assert n.histogram.total == 6
    assert len(n.histogram.edges) == len(n.histogram.counts) + 1
    assert n.histogram.edges[0] == -2.0 and n.histogram.edges[-1] == 10.0


def test_whole_numbers_get_one_bin_per_value() -> None:
    frame = pd.DataFrame({"stars": [1, 2, 2, 3, 3, 3, 5, 5]})
    h = profile(frame).column("stars").numeric.histogram  # type: ignore[union-attr]
    assert h.edges == (0.5, 1.5, 2.5, 3.5, 4.5, 5.5)
    assert h.counts == (1, 2, 3, 0, 2)


def test_skewed_positive_numbers_get_log_bins() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.lognormal(3, 1.5, 5000)})
    h = profile(frame).column("income").numeric.histogram  # type: ignore[union-attr]
    assert h.log is True
    assert h.total == 5000
    ratios = np.diff(np.log(h.edges))
    assert ratios == pytest.approx(np.full(len(ratios), ratios[0]), rel=1e-9)


def test_infinite_values_are_counted_apart() -> None:
    frame = pd.DataFrame({"x": [1.0, np.inf, -np.inf, 3.0, np.nan]})
    n = profile(frame).column("x").numeric
    assert n is not None
    assert (n.infinite, n.minimum, n.maximum, n.histogram.total) == (2, 1.0, 3.0, 2)


def test_top_categories_with_the_rest_counted_as_other() -> None:
    values = [f"c{i:02d}" for i in range(25) for _ in range(25 - i)]  # c00 x25 ... c24 x1
    col = profile(pd.DataFrame({"code": values})).column("code")
    assert col.role == "categorical"
    assert col.distinct == 25
    top = col.categories.top  # type: ignore[union-attr]
    assert len(top) == 20
    assert top[:3] == (("c00", 25), ("c01", 24), ("c02", 23))
    assert col.categories.other == 5 + 4 + 3 + 2 + 1  # type: ignore[union-attr]


def test_datetime_summary(small_profile: Profile) -> None:
    d = small_profile.column("signup").datetime
    assert d is not None
    assert (d.minimum, d.maximum) == ("2024-01-01T00:00:00", "2024-02-01T00:00:00")
    assert d.histogram.total == 7
    assert d.histogram.edges[0] == "2024-01-01T00:00:00"
    assert d.histogram.edges[-1] == "2024-02-01T00:00:00"


def test_date_strings_are_parsed_and_unreadable_ones_counted() -> None:
    dates = [f"2024-03-{d:02d}" for d in range(1, 21)] * 3 + ["soon"]
    col = profile(pd.DataFrame({"when": dates})).column("when")
    assert col.role == "datetime"
    assert (col.count, col.invalid, col.missing) == (60, 1, 0)
    assert col.datetime.minimum == "2024-03-01T00:00:00"  # type: ignore[union-attr]


def test_text_lengths(small_profile: Profile) -> None:
    t = small_profile.column("note").text
    assert t is not None
    assert (t.min_length, t.max_length) == (2, 27)
    assert t.mean_length == pytest.approx(np.mean([22, 26, 18, 2, 27, 14, 24]))
    assert t.mean_words == pytest.approx(4.0)
    assert t.top[0] == ("late and badly damaged", 1)
    assert t.histogram.total == 7


def test_personal_data_columns_are_counted_but_their_values_withheld() -> None:
    frame = pd.DataFrame({"email": [f"user{i}@example.com" for i in range(60)], "x": range(60)})
    col = profile(frame).column("email")
    assert col.pii == "email"
    assert (col.count, col.missing, col.distinct) == (60, 0, 60)
    assert (col.numeric, col.categories, col.text, col.datetime) == (None, None, None, None)
    assert "user0@example.com" not in json.dumps(profile(frame).to_dict())


def test_a_given_schema_decides_the_roles() -> None:
    frame = pd.DataFrame({"zip": [1010, 2020, 1010, 3030] * 5, "y": [1.0, 2.0, 3.0, 4.0] * 5})
    schema = Schema(
        columns=(ColumnSchema("zip", "categorical", "int64", 0.0, 3, reason="declared"),),
        target="y",
    )
    assert profile(frame).column("zip").role == "numeric"
    col = profile(frame, schema=schema).column("zip")
    assert (col.role, col.reason) == ("categorical", "declared")
    assert col.categories.top[0] == ("1010", 10)  # type: ignore[union-attr]
    assert infer_schema(frame, "y")["zip"].role == "numeric"


def test_unhashable_values_are_profiled_as_text() -> None:
    frame = pd.DataFrame({"tags": [["a"], ["b", "c"], None, ["a"]] * 5})
    col = profile(frame).column("tags")
    assert (col.count, col.missing, col.distinct) == (15, 5, 2)


def test_empty_and_columnless_frames() -> None:
    empty = profile(pd.DataFrame({"a": pd.Series([], dtype=float)}))
    assert (empty.n_rows, empty.column("a").count, empty.missingness.share) == (0, 0, 0.0)
    no_columns = profile(pd.DataFrame(index=range(3)))
    assert (no_columns.n_rows, no_columns.n_columns, no_columns.columns) == (3, 0, ())


# --------------------------------------------------------------------------------------------
# missingness


def test_missingness_shares_per_row_counts_and_patterns(small_profile: Profile) -> None:
    m = small_profile.missingness
    assert m.cells == 5
    assert m.share == 5 / 32
    assert m.by_column == {"amount": 0.25, "plan": 0.125, "signup": 0.125, "note": 0.125}
    assert m.per_row == (4, 3, 1, 0, 0)  # rows with 0, 1, 2, 3, 4 missing values
    assert m.complete_rows == 4
    patterns = {p.columns: p.count for p in m.patterns}
    assert patterns == {("amount", "plan"): 1, ("signup",): 1, ("note",): 1, ("amount",): 1}


# --------------------------------------------------------------------------------------------
# correlations


@pytest.fixture(scope="module")
def numbers() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    a = rng.normal(size=400)
    return pd.DataFrame(
        {
            "a": a,
            "b": 2 * a + rng.normal(size=400),
            "c": np.exp(a) + rng.normal(scale=0.1, size=400),
            "d": rng.integers(0, 5, 400).astype(float),  # ties, for Spearman
        }
    )


def test_pearson_and_spearman_equal_pandas(numbers: pd.DataFrame) -> None:
    p = profile(numbers)
    assert p.correlations.pearson.columns == ("a", "b", "c", "d")
    np.testing.assert_allclose(p.correlations.pearson.values, numbers.corr(), rtol=1e-10)
    np.testing.assert_allclose(
        p.correlations.spearman.values, numbers.corr(method="spearman"), rtol=1e-10
    )
    assert p.correlations.pearson.get("a", "b") == p.correlations.pearson.get("b", "a")


def test_pearson_with_missing_values_uses_pairwise_complete_rows(numbers: pd.DataFrame) -> None:
    holed = numbers.copy()
    rng = np.random.default_rng(4)
    for col in holed:
        holed.loc[rng.random(len(holed)) < 0.2, col] = np.nan
    np.testing.assert_allclose(pearson_matrix(holed.to_numpy()), holed.corr(), rtol=1e-9)


def test_constant_columns_have_undefined_correlation() -> None:
    values = np.column_stack([np.arange(10.0), np.ones(10)])
    r = pearson_matrix(values)
    assert r[0, 0] == 1.0
    assert np.isnan(r[0, 1]) and np.isnan(r[1, 1])
    assert np.isnan(spearman_matrix(values)[0, 1])


def test_cramers_v_on_a_known_table() -> None:
    table = np.array([[30, 10, 5], [10, 25, 20]])
    n = table.sum()
    chi2 = chi2_contingency(table, correction=False)[0]
    r, k = table.shape
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_corr = r - (r - 1) ** 2 / (n - 1)
    k_corr = k - (k - 1) ** 2 / (n - 1)
    expected = math.sqrt(phi2 / min(r_corr - 1, k_corr - 1))
    assert cramers_v(table) == pytest.approx(expected, rel=1e-12)
    # chi² = 24.675 on n = 100: V = 0.4967 uncorrected, 0.4784 with the bias correction
    assert cramers_v(table) == pytest.approx(0.47840, abs=1e-5)


def test_cramers_v_limits() -> None:
    assert cramers_v(np.array([[500, 0], [0, 500]])) == pytest.approx(1.0, abs=1e-9)
    assert cramers_v(np.array([[250, 250], [250, 250]])) == 0.0  # bias correction clips at 0
    assert math.isnan(cramers_v(np.array([[10, 20]])))  # one level: undefined


def test_cramers_v_matrix_of_the_profile() -> None:
    rng = np.random.default_rng(5)
    colour = rng.choice(["red", "green", "blue"], 2000)
    same = np.where(colour == "red", "warm", "cool")  # a function of colour
    noise = rng.choice(["x", "y"], 2000)
    p = profile(pd.DataFrame({"colour": colour, "same": same, "noise": noise}))
    v = p.correlations.cramers_v
    assert v.columns == ("colour", "same", "noise")
    assert v.get("colour", "same") == pytest.approx(1.0, abs=0.01)
    assert v.get("colour", "noise") < 0.05
    assert v.get("noise", "noise") == 1.0


def test_correlation_ratio() -> None:
    values = np.array([[1.0], [1.0], [5.0], [5.0]])
    assert correlation_ratio(values, np.array([0, 0, 1, 1]), 2)[0] == pytest.approx(1.0)
    assert correlation_ratio(values, np.array([0, 1, 0, 1]), 2)[0] == pytest.approx(0.0)
    # between-group share of the variance: means 1 and 3, grand mean 2 -> 4/6
    values = np.array([[0.0], [2.0], [2.0], [4.0]])
    eta = correlation_ratio(values, np.array([0, 0, 1, 1]), 2)[0]
    assert eta == pytest.approx(math.sqrt(4 / 8))


def test_adjusted_correlation_ratio_discounts_many_small_groups() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(size=(600, 1))
    groups = rng.integers(0, 60, 600)  # noise: the groups explain nothing
    assert correlation_ratio(values, groups, 60)[0] > 0.25  # raw η grows with the group count
    assert correlation_ratio(values, groups, 60, adjusted=True)[0] < 0.1


def test_ranks_match_pandas_with_ties_and_missing_values() -> None:
    rng = np.random.default_rng(12)
    values = rng.integers(0, 20, size=(500, 3)).astype(float)
    values[rng.random(values.shape) < 0.1] = np.nan
    expected = pd.DataFrame(values).rank(method="average", na_option="keep").to_numpy()
    np.testing.assert_array_equal(rank_columns(values), expected)


# --------------------------------------------------------------------------------------------
# target


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 3000
    tenure = rng.uniform(0, 10, n)
    plan = rng.choice(["basic", "pro", "gold"], n)
    noise = rng.normal(size=n)
    score = -0.8 * tenure + np.where(plan == "basic", 1.5, 0.0) + rng.normal(size=n)
    return pd.DataFrame(
        {
            "tenure": tenure,
            "plan": plan,
            "noise": noise,
            "colour": rng.choice(["a", "b"], n),
            "signup": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
            "churned": np.where(score > np.median(score), "yes", "no"),
        }
    )


def test_classification_target_associations_are_ordered(churn: pd.DataFrame) -> None:
    t = profile(churn, target="churned").target
    assert t is not None
    assert (t.task, t.classes, t.positive, t.rows) == ("binary", ("no", "yes"), "yes", 3000)
    order = [a.feature for a in t.associations]
    assert order[:2] == ["tenure", "plan"]
    scores = {a.feature: a.score for a in t.associations}
    assert scores["tenure"] > 0.5
    assert scores["noise"] < 0.05 and scores["colour"] < 0.05
    methods = {a.feature: a.method for a in t.associations}
    assert methods == {
        "tenure": "correlation ratio",
        "noise": "correlation ratio",
        "signup": "correlation ratio",
        "plan": "Cramér's V",
        "colour": "Cramér's V",
    }


def test_classification_plot_data(churn: pd.DataFrame) -> None:
    t = profile(churn, target="churned").target
    plots = {a.feature: a.plot for a in t.associations}  # type: ignore[union-attr]
    box = plots["tenure"]
    assert box["kind"] == "box" and box["groups"] == ["no", "yes"]
    assert sum(box["n"]) == 3000
    by_class = churn.groupby("churned")["tenure"]
    assert box["median"] == pytest.approx(by_class.median().tolist(), rel=1e-5)
    assert box["q1"] == pytest.approx(by_class.quantile(0.25).tolist(), rel=1e-5)
    for lower, q1, upper, q3 in zip(box["lower"], box["q1"], box["upper"], box["q3"], strict=True):
        assert lower <= q1 <= q3 <= upper
    rate = plots["plan"]
    assert rate["kind"] == "rate"
    assert set(rate["categories"]) == {"basic", "pro", "gold"}
    expected = (churn["churned"] == "yes").groupby(churn["plan"]).mean()
    got = dict(zip(rate["categories"], rate["shares"]["yes"], strict=True))
    assert got == pytest.approx(expected.to_dict(), rel=1e-5)
    assert rate["overall"] == {"yes": pytest.approx(0.5, abs=1e-6)}
    assert plots["signup"]["kind"] == "trend"
    assert sum(plots["signup"]["n"]) == 3000


def test_regression_target_associations(churn: pd.DataFrame) -> None:
    rng = np.random.default_rng(8)
    frame = churn.drop(columns="churned").assign(
        spend=lambda f: 3 * f["tenure"] + rng.normal(scale=0.5, size=len(f))
    )
    t = profile(frame, target="spend", task="regression").target
    assert t is not None and t.task == "regression" and t.positive is None
    first = t.associations[0]
    assert (first.feature, first.method, first.plot["kind"]) == ("tenure", "|Spearman|", "scatter")
    assert first.score == pytest.approx(
        abs(frame["tenure"].corr(frame["spend"], method="spearman")), rel=1e-9
    )
    assert len(first.plot["x"]) == 500
    plan = next(a for a in t.associations if a.feature == "plan")
    assert (plan.method, plan.plot["kind"], plan.plot["by"]) == ("correlation ratio", "box", "plan")


def test_task_is_inferred_like_the_project_does() -> None:
    frame = pd.DataFrame({"x": range(90), "y": ["a", "b", "c"] * 30})
    assert profile(frame, target="y").target.task == "multiclass"  # type: ignore[union-attr]
    frame = pd.DataFrame({"x": range(90), "y": np.linspace(0, 1, 90)})
    assert profile(frame, target="y").target.task == "regression"  # type: ignore[union-attr]


def test_the_target_column_is_profiled_and_marked() -> None:
    frame = pd.DataFrame({"x": range(10), "y": ["a", "b"] * 5})
    col = profile(frame, target="y").column("y")
    assert (col.is_target, col.role) == (True, "categorical")


# --------------------------------------------------------------------------------------------
# sampling


def test_large_tables_sample_the_costly_parts_and_say_so() -> None:
    rng = np.random.default_rng(9)
    n = 5000
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "g": rng.choice(["a", "b"], n), "y": rng.choice([0, 1], n)}
    )
    frame.loc[:9, "x"] = np.nan
    p = profile(frame, target="y", sample_rows=1000, seed=1)
    where = "1,000 of 5,000 rows (seed 1)"
    assert p.sampled == {
        "quantiles": where,
        "correlations": where,
        "text words": where,
        "target": where,
        "roles": where,
    }
    assert p.sample_size == 1000
    assert p.correlations.rows == 1000
    assert p.target.rows == 1000  # type: ignore[union-attr]
    x = p.column("x")
    assert (x.count, x.missing) == (4990, 10)  # exact, from every row
    assert x.numeric.histogram.total == 4990  # type: ignore[union-attr]
    assert x.numeric.mean == pytest.approx(frame["x"].mean(), rel=1e-12)  # type: ignore[union-attr]
    assert x.numeric.quantiles["50%"] != pytest.approx(frame["x"].median(), rel=1e-12)  # type: ignore[union-attr]
    schema = infer_schema(frame, "y")
    assert "roles" not in profile(frame, target="y", schema=schema, sample_rows=1000).sampled
    assert profile(frame, target="y", sample_rows=5000).sampled == {}


def test_the_same_seed_gives_the_same_profile() -> None:
    rng = np.random.default_rng(10)
    frame = pd.DataFrame({"x": rng.normal(size=3000), "y": rng.normal(size=3000)})
    first = profile(frame, target="y", sample_rows=1000, seed=3).to_dict()
    assert profile(frame, target="y", sample_rows=1000, seed=3).to_dict() == first
    assert profile(frame, target="y", sample_rows=1000, seed=4).to_dict() != first


def test_to_dict_is_strict_json(churn: pd.DataFrame) -> None:
    frame = churn.assign(const=1.0)
    text = json.dumps(profile(frame, target="churned").to_dict(), allow_nan=False)
    assert '"const"' in text


# --------------------------------------------------------------------------------------------
# errors


def test_an_unknown_target_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"target column 'churn' is not in the data.*x, y"):
        profile(pd.DataFrame({"x": [1], "y": [2]}), target="churn")


def test_an_unknown_task_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"task must be one of .* got 'clusters'"):
        profile(pd.DataFrame({"x": [1]}), target="x", task="clusters")


def test_sample_rows_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"sample_rows must be a positive number.*got 0"):
        profile(pd.DataFrame({"x": [1]}), sample_rows=0)


def test_missing_cells_are_counted_as_the_findings_count_them() -> None:
    frame = pd.DataFrame(
        {
            "city": ["Oslo", "", "  ", None, "Bergen", "Oslo"] * 10,
            "amount": [1.0, np.nan, 2.0, 3.0, 4.0, 5.0] * 10,
        }
    )
    p = profile(frame)
    report = validate(frame, quality=QualityConfig())
    found = {f.column: f.count for f in report.findings if f.id == "missing-values"}
    assert found == {"city": 30, "amount": 10}
    assert {c.name: c.missing for c in p.columns} == found
    city = p.column("city")
    assert city.categories is not None
    assert dict(city.categories.top) == {"Oslo": 20, "Bergen": 10}  # blanks are no category
    assert p.missingness.cells == 40
    assert p.missingness.by_column["city"] == 0.5
