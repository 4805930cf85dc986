"""Seeded synthetic tables for the profile benchmarks: numbers, categories, dates, text, gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _numbers(rng: np.random.Generator, n_rows: int, count: int) -> dict[str, np.ndarray]:
    """Normal, log-normal, integer and shifted exponential columns, some with missing values."""
    cols = {}
    for i in range(count):
        kind = i % 4
        if kind == 0:
            x = rng.normal(50 + i, 10, n_rows)
        elif kind == 1:
            x = rng.lognormal(3, 1, n_rows)
        elif kind == 2:
            x = rng.integers(0, 100, n_rows).astype(float)
        else:
            x = rng.exponential(5, n_rows) - 1
        x[rng.random(n_rows) < 0.02 * (i % 5)] = np.nan
        cols[f"num_{i:02d}"] = x
    return cols


def _categories(rng: np.random.Generator, n_rows: int, count: int) -> dict[str, pd.Series]:
    """Zipf-like categories of 3 to 1,000 labels, some with missing values."""
    words = np.array(["red", "green", "blue", "amber", "teal", "violet", "black", "white"])
    cols = {}
    for i in range(count):
        k = (3, 8, 25, 60, 1000)[i % 5]
        labels = np.array([f"{words[j % len(words)]}_{j}" for j in range(k)], dtype=object)
        probs = 1.0 / np.arange(1, k + 1) ** 1.1
        values = labels[rng.choice(k, size=n_rows, p=probs / probs.sum())]
        values[rng.random(n_rows) < 0.03 * (i % 3)] = None
        cols[f"cat_{i:02d}"] = pd.Series(values, dtype="str")
    return cols


def mixed_table(n_rows: int, n_columns: int, *, seed: int = 0) -> pd.DataFrame:
    """A table like real exports: skewed numbers, categories, dates, free text, missing values.

    The column mix keeps its proportions for any ``n_columns`` >= 10: about half numbers, a
    fifth categories, and the rest booleans, timestamps, date strings, text and an id, plus a
    binary target ``churned`` that depends on a few of the columns.
    """
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {"customer_id": np.arange(1, n_rows + 1)}
    n_num = max(2, n_columns * 12 // 25)
    n_cat = max(2, n_columns // 5)
    n_bool = max(1, n_columns // 16)
    n_dt = max(1, n_columns // 16)
    n_text = max(1, n_columns // 25)
    n_datestr = 1
    cols.update(_numbers(rng, n_rows, n_num))
    cols.update(_categories(rng, n_rows, n_cat))
    for i in range(n_bool):
        cols[f"flag_{i}"] = rng.random(n_rows) < 0.3 + 0.1 * i
    start = np.datetime64("2021-01-01T00:00:00", "s")
    for i in range(n_dt):
        seconds = rng.integers(0, 3 * 365 * 86400, n_rows)
        stamps = pd.Series(start + seconds.astype("timedelta64[s]"))
        stamps[rng.random(n_rows) < 0.05] = pd.NaT
        cols[f"time_{i}"] = stamps
    for i in range(n_datestr):
        days = rng.integers(0, 900, n_rows)
        cols[f"date_text_{i}"] = pd.Series(
            (np.datetime64("2022-01-01") + days.astype("timedelta64[D]")).astype(str), dtype="str"
        )
    vocabulary = np.array(
        ["the", "order", "arrived", "late", "and", "box", "was", "damaged", "again", "today"]
    )
    for i in range(n_text):
        parts = [vocabulary[rng.integers(0, len(vocabulary), n_rows)] for _ in range(6)]
        text = pd.Series(parts[0], dtype="str")
        for part in parts[1:]:
            text = text + " " + pd.Series(part, dtype="str")
        cols[f"comment_{i}"] = text
    frame = pd.DataFrame(cols)
    rest = n_columns - frame.shape[1] - 1
    for i in range(max(0, rest)):
        cols_i = rng.normal(0, 1, n_rows) + 0.5 * frame["num_00"].fillna(50).to_numpy() / 10
        frame[f"extra_{i:02d}"] = cols_i
    signal = (
        0.04 * (frame["num_00"].fillna(50).to_numpy() - 50)
        + 0.3 * (frame["cat_00"].to_numpy() == "red_0")
        + rng.normal(0, 1, n_rows)
    )
    frame["churned"] = np.where(signal > 0.8, "yes", "no")
    return frame.iloc[:, :n_columns] if frame.shape[1] > n_columns else frame
