"""Scored chunks are written as pandas writes them, faster (serving._batch's CSV writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.serving._batch import _ChunkWriter, _csv_text, _float_text


def written(frames: list[pd.DataFrame], path: Path) -> str:
    writer = _ChunkWriter(path, "csv")
    for frame in frames:
        writer.write(frame)
    writer.close()
    return path.read_text()


FRAMES = {
    "numbers and labels": pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "", "C4", None, "é ü"],
            "n": [1, 2, 3, 4, 5, -6],
            "prediction": ["yes", "no", "yes", "no", "yes", "no"],
            "proba_yes": [0.1 + 0.2, 1.0, 0.0, -0.0, 1e-20, np.nan],
            "big": [1e16, 123456.0, np.inf, -np.inf, 2.5e-7, 1 / 3],
            "tiny": [1e-5, 1e-300, 5e-324, 1e100, -1.5e-10, 1e22],
        }
    ),
    "one column with gaps": pd.DataFrame({"prediction": [1.5, np.nan, 2.0]}),
    "one label column with a blank": pd.DataFrame({"prediction": ["a", "", "b"]}),
    "text that needs quotes": pd.DataFrame(
        {"id": ["a,b", 'say "hi"', "two\nlines"], "p": [1.0, 2.0, 3.0]}
    ),
    "booleans and dates": pd.DataFrame(
        {"flag": [True, False], "at": pd.to_datetime(["2024-01-01 00:00", "2024-01-02 10:00"])}
    ),
    "integers with gaps": pd.DataFrame(
        {"id": pd.array([1, None, 3], dtype="Int64"), "p": [0.5] * 3}
    ),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_the_text_is_what_pandas_writes(name: str, tmp_path: Path) -> None:
    frame = FRAMES[name]
    expected = pd.concat([frame, frame], ignore_index=True).to_csv(index=False)
    assert written([frame, frame], tmp_path / "out.csv") == expected


def test_numbers_and_plain_labels_take_the_fast_path() -> None:
    assert _csv_text(FRAMES["numbers and labels"]) is not None
    assert _csv_text(FRAMES["one column with gaps"]) is None
    assert _csv_text(FRAMES["text that needs quotes"]) is None
    assert _csv_text(FRAMES["booleans and dates"]) is None


def test_numbers_are_written_as_repr_writes_them_at_every_magnitude() -> None:
    rng = np.random.default_rng(0)
    exponents = rng.uniform(-310, 308, 20_000)
    numbers = np.concatenate(
        [
            rng.choice([-1.0, 1.0], 20_000) * 10.0**exponents,
            rng.random(20_000),  # probabilities
            np.round(rng.normal(0, 1e6, 5_000)),  # whole numbers
            np.round(rng.normal(0, 100, 5_000), 2),  # prices
            [0.0, -0.0, np.inf, -np.inf, 1e-4, 9.999e-5, 1e16, 9999999999999998.0, 5e-324],
            [2.0**53, 2.0**53 + 2, 1.7976931348623157e308, 2.2250738585072014e-308],
        ]
    )
    numbers = numbers[np.isfinite(numbers) | np.isinf(numbers)]
    text = _float_text(numbers).to_pylist()
    assert text == [repr(x) for x in numbers.tolist()]
    with_gap = _float_text(np.array([1.5, np.nan]))
    assert with_gap.to_pylist() == ["1.5", None]
