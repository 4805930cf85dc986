"""Windows of logged traffic (loopml.monitoring._windows) over a real prediction log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopml.monitoring._windows import read_window, window_bounds
from loopml.serving import PredictionLog
from loopml.serving._contract import Feedback, LoggedPrediction

DAY = 86_400.0


def test_windows_align_to_their_size_and_cover_the_span() -> None:
    assert window_bounds(DAY + 5, 3 * DAY, DAY) == [(DAY, 2 * DAY), (2 * DAY, 3 * DAY)]
    assert window_bounds(DAY + 5, 3 * DAY + 1, DAY)[-1] == (3 * DAY, 4 * DAY)
    assert window_bounds(10.0, 10.0, DAY) == []
    assert window_bounds(0.0, 7200.0, 3600.0) == [(0.0, 3600.0), (3600.0, 7200.0)]


@pytest.fixture
def log(tmp_path: Path) -> PredictionLog:
    plog = PredictionLog(base_dir=tmp_path, mode="sync")
    entries = [
        LoggedPrediction(f"r{i}", DAY + i * 3600.0, "2", {"age": 30 + i, "plan": "pro"},
                         "yes" if i % 2 else "no", {"no": 0.4, "yes": 0.6}, 1.0)
        for i in range(30)
    ]  # fmt: skip
    entries.append(LoggedPrediction("old", DAY + 10.0, "1", {"age": 1}, "no", None, 1.0))
    plog.record(entries)
    plog.feedback([Feedback("r1", "yes", 2 * DAY), Feedback("r3", "no", 2 * DAY)])
    return plog


def test_a_window_reads_its_own_rows_of_its_version(log: PredictionLog) -> None:
    rows = read_window(
        log, DAY, 2 * DAY, model_version="2", columns=["age", "plan", "gone"], classes=["no", "yes"]
    )

    assert rows.rows == 24  # hours 0-23 of the day; the 25th row is the next day's
    assert list(rows.features.columns) == ["age", "plan", "gone"]
    assert rows.features["age"].tolist() == list(range(30, 54))
    assert rows.features["gone"].isna().all()
    assert rows.labels[rows.labelled].tolist() == ["yes", "no"]
    assert rows.probabilities is not None
    np.testing.assert_allclose(rows.probabilities["yes"], 0.6)
    assert log.span("2") == (DAY, DAY + 29 * 3600.0)
    assert log.span("9") is None
    log.close()
