"""The contract between reading requests, the compiled row path and the service (issue 10).

A request's instances are read once, by the column roles of the model's schema, into a
:data:`RowBatch`; every runtime (the numpy fast path, the DataFrame fallback, ONNX Runtime)
predicts from that same batch, so the service, the parity tests and the benchmark compare
runtimes on identical input.

``RowBatch`` holds one 1-D numpy array per feature column of the schema (in schema order),
typed exactly as ``FrameCoercer.transform`` types that column's role:

========================  ===============================================================
role                      array
========================  ===============================================================
numeric, boolean          ``float64``; missing is ``NaN`` (booleans are 0.0 / 1.0)
categorical               ``object`` of normalised labels (``str``); missing is ``nan``
datetime                  ``datetime64[ns]``; missing is ``NaT``
text                      ``object`` of ``str``; missing is ``""``
========================  ===============================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from loopml.errors import DataError

#: Feature column -> its values, typed by role (see the module docstring).
RowBatch = Mapping[str, np.ndarray]
#: The instances of a request, as decoded from JSON.
Records = Sequence[Mapping[str, Any]]

#: The metrics the service exports on ``/metrics``; dashboards and alerts may use only these.
METRICS = {
    "loopml_requests_total": "counter: requests by endpoint and HTTP status",
    "loopml_request_duration_seconds": "histogram: request latency by endpoint",
    "loopml_request_errors_total": "counter: 4xx and 5xx responses by endpoint and status",
    "loopml_predictions_total": "counter: instances predicted by model version and variant",
    "loopml_shadow_failures_total": "counter: shadow requests not predicted (failed, queue full)",
    "loopml_prediction_warnings_total": "counter: instance warnings by kind",
    "loopml_model_info": "gauge (1): the loaded model's name, version and runtime as labels",
    "loopml_model_reloads_total": "counter: model swaps by outcome (ok, failed)",
    "loopml_prediction_log_queue_depth": "gauge: predictions waiting to be written",
    "loopml_prediction_log_dropped_total": "counter: predictions not logged (queue full)",
    "loopml_prediction_log_failed_total": "counter: predictions the database refused to store",
}


#: Gauges ``loopml monitor`` leaves for the service to export (from the latest window of its
#: last run, labelled with the model version); absent until monitoring has run. The file is
#: JSON: ``{"written": SECONDS, "gauges": [{"name", "help", "labels": {...}, "value"}]}``.
MONITORING_METRICS = {
    "loopml_monitoring_alarm": "gauge: 1 when the latest monitored window raised an alarm",
    "loopml_monitoring_window_end_seconds": "gauge: end of the latest monitored window",
    "loopml_monitoring_run_seconds": "gauge: when monitoring last ran (seconds since epoch)",
    "loopml_features_drifted": "gauge: features that drifted in the latest window",
    "loopml_feature_drift_effect": "gauge: each feature's drift effect in the latest window",
    "loopml_feature_drift_adjusted_p_value": "gauge: each feature's BH-adjusted p-value",
    "loopml_prediction_drift_effect": "gauge: the predictions' drift effect",
    "loopml_model_performance": "gauge: the primary metric, realised or estimated (kind)",
}


@dataclass(frozen=True)
class FieldProblem:
    """Why one field of one instance cannot be used: a 422 entry."""

    index: int  # the instance's position in the request
    field: str  # the column name
    message: str  # what is wrong and how to fix it

    def to_dict(self) -> dict[str, Any]:
        return {
            "loc": ["body", "instances", self.index, self.field],
            "msg": self.message,
            "type": "value_error",
        }


class RequestError(DataError):
    """A request the model cannot answer as sent; the service answers 422 with every problem."""

    def __init__(self, problems: Sequence[FieldProblem]):
        self.problems = tuple(problems)
        shown = "; ".join(
            f"instance {p.index}, field {p.field!r}: {p.message}" for p in self.problems[:5]
        )
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"the request cannot be scored: {shown}{more}")


@dataclass(frozen=True)
class ReadBatch:
    """Instances read into typed columns, with what the reader noticed about each."""

    rows: RowBatch
    n: int
    #: per instance: unseen categories, out-of-range values (predicted anyway, flagged)
    warnings: list[list[str]] = field(default_factory=list)
    #: columns sent but not used (id columns, unknown columns), ignored unless rejected
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class Predictions:
    """One prediction per instance, and class probabilities for classifiers."""

    predictions: list[Any]
    #: per instance, class label (as in the problem's classes) -> probability; None: regression
    probabilities: list[dict[str, float]] | None = None
    #: an anomaly model's raw score per instance (a robust z-score); None for other models
    scores: list[float] | None = None


class Predictor(Protocol):
    """A loaded model that predicts a :data:`RowBatch`; one per runtime."""

    #: "python" (the compiled numpy path), "frame" (the pipeline on a DataFrame), "onnx"
    runtime: str

    def predict(self, rows: RowBatch, n: int) -> Predictions: ...


@dataclass(frozen=True)
class LoggedPrediction:
    """One instance as the prediction log keeps it."""

    request_id: str  # unique per instance: the request's id, suffixed "-<index>" past the first
    time: float  # seconds since the epoch (UTC) when the request arrived
    model_version: str
    features: Mapping[str, Any]  # the instance after the privacy policy, JSON-ready values
    prediction: Any
    probabilities: Mapping[str, float] | None
    latency_ms: float
    variant: str = "champion"  # who answered: champion, or challenger/shadow when compared


@dataclass(frozen=True)
class Feedback:
    """A late label for a logged prediction."""

    request_id: str
    label: Any
    time: float  # when the label arrived (seconds since the epoch, UTC)


class PredictionSink(Protocol):
    """Where the service sends what it predicted and the labels that come later."""

    def record(self, entries: Sequence[LoggedPrediction]) -> None:
        """Queue (async mode) or write (sync mode) the entries; never blocks on a full queue."""

    def feedback(self, labels: Sequence[Feedback]) -> list[str]:
        """Store labels; return the request ids that are not in the log (nothing is stored
        then: all or nothing)."""

    def close(self) -> None:
        """Flush what is queued and release the database."""
