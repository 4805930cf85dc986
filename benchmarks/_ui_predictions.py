"""A prediction log of a million rows for benchmarks/ui.py: the demo's customers scored by
its champion once, logged through loopml's own writer (``PredictionLog``) over ``days`` days,
with a late label for every other prediction, as the service and ``/v1/feedback`` log them."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

#: Distinct customers scored; the log repeats them over the days (each with its own time).
DISTINCT = 20_000
BATCH = 5_000


def monitor_daily(config: Path) -> None:
    """The demo's windows are seconds of demo time; a month of traffic is watched by day."""
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?m)^  window: \S+", "  window: 1d", text), encoding="utf-8")


def fill_log(config: Path, rows: int, *, days: int = 30, seed: int = 0) -> float:
    """Log ``rows`` predictions of the champion over the last ``days`` days; seconds taken."""
    from loopml import Project
    from loopml.demo import generate_customers
    from loopml.serving import Feedback, LoggedPrediction, PredictionLog

    project = Project(config)
    bundle, info = project.registry.load("champion")
    columns = [c.name for c in bundle.schema.feature_columns]
    frame = generate_customers(DISTINCT, seed=seed, drift=0.5)
    scored = bundle.predict_frame(frame[[c for c in frame.columns if c in columns]])
    features = [_plain(r) for r in frame[columns].to_dict("records")]
    labels = frame[project.config.problem.target].tolist()
    proba = scored.drop(columns="prediction").to_dict("records")
    predictions = scored["prediction"].tolist()
    start = time.time() - days * 86_400
    step = days * 86_400 / rows
    started = time.perf_counter()
    url = project.config.serving.prediction_log.url
    with PredictionLog(url, base_dir=project.root, mode="sync") as plog:
        for first in range(0, rows, BATCH):
            entries, feedback = [], []
            for i in range(first, min(first + BATCH, rows)):
                k = i % DISTINCT
                when = start + i * step
                entries.append(
                    LoggedPrediction(
                        f"bench-{i}", when, info.version, features[k], predictions[k],
                        proba[k], 1.0,
                    )
                )  # fmt: skip
                if i % 2 == 0:
                    feedback.append(Feedback(f"bench-{i}", labels[k], when + 3600))
            plog.record(entries)
            plog.feedback(feedback)
    return time.perf_counter() - started


def label_one_window(config: Path, rows: int = 1000) -> None:
    """Late labels, stamped now, for ``rows`` unlabelled predictions of the tenth day (as
    ``/v1/feedback`` stores them)."""
    from loopml import Project
    from loopml.serving import Feedback, PredictionLog

    project = Project(config)
    url = project.config.serving.prediction_log.url
    with PredictionLog(url, base_dir=project.root, mode="sync") as plog:
        first, _ = plog.span()
        day = math.floor(first / 86_400) * 86_400 + 10 * 86_400
        unlabelled = [r for r in plog.read(day, day + 86_400) if not r.has_label][:rows]
        plog.feedback([Feedback(r.request_id, r.prediction, time.time()) for r in unlabelled])


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready values, as the service logs them (missing as None, times as text)."""
    out = {}
    for key, value in record.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[key] = None
        elif hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        elif hasattr(value, "item"):
            out[key] = value.item()
        else:
            out[key] = value
    return out
