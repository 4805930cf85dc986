"""The sections of ``loopml.yaml`` for the second half of the loop: ``serving:`` (the
prediction service and its log), ``monitoring:`` and ``retraining:``; ``loopml.config``
re-exports them."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from loopml._config_sources import Section as _Section


class PredictionLogConfig(_Section):
    """Where the service logs what it predicted (``serving.prediction_log``)."""

    # an SQLAlchemy URL; default: a SQLite file in the workspace, never the MLflow database
    url: str = "sqlite:///.loopml/predictions.db"
    mode: Literal["async", "sync"] = "async"  # sync: each request waits for its rows' write
    batch_size: int = Field(default=256, ge=1)  # rows per write in async mode
    queue_size: int = Field(default=10_000, ge=1)  # rows waiting at most; past it they drop
    flush_seconds: float = Field(default=1.0, gt=0)  # the longest a queued row waits


class ServingLimits(_Section):
    max_body_bytes: int = Field(default=1_048_576, ge=1024)  # larger bodies get 413
    max_instances: int = Field(default=1000, ge=1)  # instances per request; more get 413


class ChallengerConfig(_Section):
    """``serving.challenger``: the online comparison of champion and challenger.

    ``ab``: a share ``fraction`` of the requests is answered by the model the ``challenger``
    alias names, the rest by the champion; the split hashes the value of ``sticky_column``
    in the request's first instance (one entity always meets the same model) or, without
    one, the request id. ``shadow``: the champion answers every request and the challenger
    predicts it too after the answer is sent, logged under variant ``shadow``. ``off``: the
    champion alone, at no cost.
    """

    mode: Literal["off", "ab", "shadow"] = "off"
    fraction: float = Field(default=0.1, gt=0, lt=1)  # ab: the challenger's share of requests
    sticky_column: str | None = None  # ab: an input column whose value picks the variant

    @field_validator("sticky_column")
    @classmethod
    def _sticky(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("sticky_column is empty; name an input column or delete the key")
        return value


class ServingConfig(_Section):
    """``loopml serve``: where it listens, which runtime, auth, limits, the prediction log."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # auto: ONNX Runtime where the pipeline converts, else the compiled numpy path, else the
    # pipeline on a DataFrame (frame)
    runtime: Literal["auto", "onnx", "python", "frame"] = "auto"
    # the environment variable holding the API key; unset: no auth (localhost only)
    api_key_env: str | None = None
    extra_columns: Literal["ignore", "reject"] = "ignore"  # id and unknown columns
    limits: ServingLimits = Field(default_factory=ServingLimits)
    reload_poll_seconds: float = Field(default=5.0, ge=0)  # 0: only /v1/admin/reload swaps
    prediction_log: PredictionLogConfig = Field(default_factory=PredictionLogConfig)
    challenger: ChallengerConfig = Field(default_factory=ChallengerConfig)


#: A duration as written in ``loopml.yaml`` or on the CLI: "90s", "30m", "6h", "1d", "2w".
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str | float) -> float:
    """Seconds in ``text`` ("90s", "30m", "6h", "1d", "2w", or a number of seconds).

    Raises
    ------
    ValueError
        Not a positive duration in that form (the message says the form).
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        found = _DURATION.match(str(text))
        if found is None:
            raise ValueError(
                f"{text!r} is not a duration; write a number and a unit: 90s, 30m, 6h, 1d or 2w"
            )
        seconds = float(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return seconds


class MonitoringConfig(_Section):
    """``loopml monitor``: the statistics' thresholds, the windows, where alerts go."""

    # a feature drifts when its Benjamini-Hochberg adjusted p-value is below alpha ...
    alpha: float = Field(default=0.01, gt=0, lt=1)
    # ... and its effect (PSI by default) is at least min_effect: huge windows do not alarm
    # on trivial shifts. 0.005, not 0.01: a 0.1-sd mean shift has a decile PSI of about
    # 0.01 (0.007 to 0.014 over 10k-row windows), so 0.01 would miss half of them, while the
    # largest PSI of 20 features in a 10k-row window without drift stays near 0.002-0.004
    # (benchmarks/results/drift.md)
    min_effect: float = Field(default=0.005, ge=0)
    numeric_effect: Literal["psi", "wasserstein"] = "psi"
    categorical_effect: Literal["psi", "jensen_shannon"] = "psi"
    window: str = "1d"  # the length of each window: 90s, 30m, 6h, 1d, 2w
    min_rows: int = Field(default=200, ge=1)  # fewer rows: the window is reported, not tested
    # an alarm when the metric on late labels (or estimated) falls this far below the holdout
    max_metric_drop: float = Field(default=0.02, ge=0)
    webhook: str | None = None  # alarms are POSTed here as JSON (and always logged)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window)


class RetrainingConfig(_Section):
    """``loopml retrain``: when to retrain, on which data, and when the challenger wins.

    A retraining starts when one trigger fires (or ``--force``): the latest monitoring window
    alarmed (``on_drift``), the champion's primary metric on the latest labelled traffic is
    ``on_metric_drop`` or more worse than on its holdout, or the champion is older than
    ``schedule``. The challenger trains on the sources plus the labelled traffic of
    ``data_window`` except the most recent ``holdout_window``, the common holdout on which
    champion and challenger are compared with a paired test.
    """

    on_drift: bool = True
    # how much worse the primary metric may get: in its units for scores (AUC, accuracy),
    # relative to the holdout's for errors (RMSE, log loss), as monitoring.max_metric_drop;
    # None: no metric trigger
    on_metric_drop: float | None = Field(default=0.02, ge=0)
    schedule: str | None = None  # retrain when the champion is older than this, e.g. "7d"
    data_window: str = "30d"  # labelled logged traffic used (holdout included)
    holdout_window: str = "7d"  # the most recent labelled traffic: never trained on
    min_labelled_rows: int = Field(default=200, ge=1)  # in the holdout window, to compare
    # significant: paired test at alpha; better: a higher point estimate; never: record only
    promote_if: Literal["significant", "better", "never"] = "significant"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    bootstrap: int = Field(default=1000, ge=100)  # paired bootstrap resamples
    seed: int = 0  # of the bootstrap resamples
    # `loopml watch`: time between two cycles (monitor, then this policy); None: the
    # monitoring window (monitoring.window). `--every` overrides it.
    watch_every: str | None = None

    @field_validator("schedule", "data_window", "holdout_window", "watch_every")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _windows(self) -> RetrainingConfig:
        if self.holdout_seconds > self.data_window_seconds:
            raise ValueError(
                f"holdout_window {self.holdout_window!r} is longer than data_window "
                f"{self.data_window!r}; the holdout is the most recent part of the data window"
            )
        return self

    @property
    def data_window_seconds(self) -> float:
        return parse_duration(self.data_window)

    @property
    def holdout_seconds(self) -> float:
        return parse_duration(self.holdout_window)

    @property
    def schedule_seconds(self) -> float | None:
        return None if self.schedule is None else parse_duration(self.schedule)
