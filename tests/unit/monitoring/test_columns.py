"""Reading a window's column (loopml.monitoring._columns) and the KS statistic on ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loopml.data import normalize_category, to_numeric
from loopml.monitoring._columns import label_counts, numbers_of, sorted_quantiles
from loopml.monitoring._drift import ks_statistic


def test_sorted_quantiles_are_numpys() -> None:
    x = np.sort(np.random.default_rng(0).exponential(size=777))
    assert np.allclose(sorted_quantiles(x, 1001), np.quantile(x, np.linspace(0, 1, 1001)))


def test_numbers_of_logged_values_match_the_pipelines_reading() -> None:
    logged = pd.Series([3.5, None, 1, "2,500", " ", "oops", float("nan"), 2], dtype=object)
    x, missing, invalid = numbers_of(logged)
    assert x.tolist() == [1.0, 2.0, 3.5, 2500.0]
    assert (missing, invalid) == (3, 1)  # None, blank text, NaN; "oops"
    assert x.tolist() == sorted(to_numeric(logged).dropna().tolist())
    fast, fast_missing, fast_invalid = numbers_of(pd.Series([2.0, None, 1], dtype=object))
    assert (fast.tolist(), fast_missing, fast_invalid) == ([1.0, 2.0], 1, 0)


def test_label_counts_normalise_only_the_distinct_values() -> None:
    logged = pd.Series([" A", "a", "B", None, "", 1, 1.0, 2.5], dtype=object)
    counts, missing = label_counts(logged)
    assert counts.to_dict() == {"a": 2, "b": 1, "1": 2, "2.5": 1}
    assert missing == 2
    # numbers logged as JSON read like the training column's numbers
    ints, _ = label_counts(pd.Series([10001, 10001, 94105], dtype=object))
    trained = normalize_category(pd.Series([10001, 94105])).tolist()
    assert sorted(ints.index) == sorted(trained)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_on_a_sketch_of_discrete_values_is_exact(seed: int) -> None:
    """Ties in the reference (atoms of the sketch) and in the window: the sup is taken at
    both sides of every jump, so it equals scipy's statistic on the samples."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 12, 4000).astype(float)
    win = rng.integers(0, 13, 1500).astype(float)
    q = np.quantile(ref, np.linspace(0, 1, 1001))
    want = stats.ks_2samp(ref, win).statistic
    assert ks_statistic(q, np.sort(win)) == pytest.approx(want, abs=1.5e-3)


def test_ks_on_a_continuous_sketch_is_close_to_the_exact_statistic() -> None:
    rng = np.random.default_rng(5)
    ref, win = rng.normal(size=50_000), rng.normal(0.03, 1, size=10_000)
    q = np.quantile(ref, np.linspace(0, 1, 1001))
    assert ks_statistic(q, np.sort(win)) == pytest.approx(
        stats.ks_2samp(ref, win).statistic, abs=5e-4
    )
