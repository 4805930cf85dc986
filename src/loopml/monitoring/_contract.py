"""The contract of monitoring (issue 11): what training stores, what a window reports.

Three parts meet here, built separately:

* **the reference** (:func:`loopml.monitoring.build_reference`, at training): a JSON-ready
  dict kept in ``ModelBundle.reference["monitoring"]`` so that a window reads only its own
  rows. It holds, for each feature column of the schema, mergeable statistics of the
  training part (row count, missing count; numeric: fine quantiles and range, mean, std;
  categorical: category counts), the same for the model's predictions and probabilities
  on the holdout, and the holdout's labels, predictions and probabilities. Its layout is
  :data:`REFERENCE_FORMAT` and belongs to ``_reference.py``; nothing else reads inside it.
* **the statistics** (``_drift.py``): per-feature tests of a window against the reference,
  Benjamini–Hochberg across the window's features, effect sizes; data quality;
  performance on late labels with an interval, and the confidence-based estimate before
  labels (CBPE).
* **the report** (``_monitor.py``): windows over the prediction log, alerts, the
  :class:`DriftReport` that ``loopml monitor --json`` prints.

A feature *drifts* in a window when its test's BH-adjusted p-value is below
``monitoring.alpha`` **and** its effect is at least ``monitoring.min_effect`` (so that a huge
window does not alarm on a trivial shift).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from loopml.errors import EXIT_DRIFT as _EXIT_DRIFT

#: Version of the reference layout stored in a bundle; a newer loopml reads the older ones.
REFERENCE_FORMAT = 1

#: The CLI exit code of ``loopml monitor`` when a window drifted or decayed (defined in
#: ``loopml.errors``, re-exported here).
EXIT_DRIFT = _EXIT_DRIFT


@dataclass(frozen=True)
class FeatureDrift:
    """One column's test in one window (also used for the prediction's own drift).

    ``test``: ``"ks"`` (numeric, two-sample Kolmogorov–Smirnov against the reference
    quantiles) or ``"chi2"`` (categorical, chi-square of the window's counts against the
    reference shares). ``effect_measure``: ``"psi"`` (population stability index) for
    both, or ``"wasserstein"`` (numeric, in reference standard deviations) or
    ``"jensen_shannon"`` (categorical, distance in [0, 1]) as configured.
    """

    name: str
    test: str
    statistic: float
    p_value: float
    adjusted_p_value: float  # Benjamini–Hochberg across the window's features
    effect: float
    effect_measure: str
    drifted: bool
    rows: int  # the window's non-missing values of the column

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualityDrift:
    """Data quality of one column in one window, next to the reference's."""

    name: str
    missing_rate: float
    reference_missing_rate: float
    unseen_rate: float  # categorical: labels absent from the reference counts
    out_of_range_rate: float  # numeric: outside the reference's [min, max]
    invalid_rate: float  # present but unreadable as the column's type
    drifted: bool  # a rate beyond what the reference allows (see _drift.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Performance:
    """A metric over a window's rows with an interval (realised or estimated)."""

    metric: str
    value: float | None  # None: too few rows (see ``rows``)
    low: float | None
    high: float | None
    rows: int
    method: str  # "labels" (realised, bootstrap interval) or "cbpe" (estimated)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WindowFairness:
    """A window's group disparities: gate values, and the groups behind each."""

    rows: int  # rows compared before labels (binary: every prediction)
    labelled: int  # rows with labels in the full comparison
    values: dict[str, float] = field(default_factory=dict)
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> grouping, ends

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "labelled": self.labelled,
            "values": {k: (v if math.isfinite(v) else None) for k, v in self.values.items()},
            "groups": self.groups,
        }

    def broken(self, gate: Any) -> list[str]:
        """An alarm for each fairness clause of ``gate`` (a :class:`~loopml.config.Gate` or
        None) this window's values fail."""
        out = []
        for clause in gate.fairness if gate is not None else ():
            value = self.values.get(clause.metric)
            if value is None or math.isnan(value) or clause.passes(value):
                continue
            where = self.groups.get(clause.metric, {})
            ends = f"{where.get('lowest')} lowest, {where.get('highest')} highest"
            out.append(
                f"fairness: {clause.metric} is {value:.3f}, the gate asks {clause.op} "
                f"{clause.threshold:g} ({where.get('grouping')}: {ends})"
            )
        return out


@dataclass(frozen=True)
class WindowReport:
    """What monitoring found in ``[start, end)`` (seconds since the epoch, UTC)."""

    start: float
    end: float
    rows: int
    labelled: int
    features: list[FeatureDrift]
    prediction_drift: FeatureDrift | None
    data_quality: list[QualityDrift]
    performance: Performance | None  # on late labels; None without labels
    estimated_performance: Performance | None  # CBPE; classifiers only
    alarms: list[str] = field(default_factory=list)  # plain-words reasons, empty when none
    fairness: WindowFairness | None = None  # with sensitive columns logged

    @property
    def drifted(self) -> bool:
        return bool(self.alarms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "labelled": self.labelled,
            "features": [f.to_dict() for f in self.features],
            "prediction_drift": self.prediction_drift.to_dict() if self.prediction_drift else None,
            "data_quality": [q.to_dict() for q in self.data_quality],
            "performance": self.performance.to_dict() if self.performance else None,
            "estimated_performance": (
                self.estimated_performance.to_dict() if self.estimated_performance else None
            ),
            "alarms": list(self.alarms),
            "drifted": self.drifted,
            "fairness": self.fairness.to_dict() if self.fairness is not None else None,
        }


@dataclass(frozen=True)
class VariantComparison:
    """Champion and challenger on the labelled traffic of an online comparison.

    ``mode``: ``shadow`` (both predicted the same requests: a paired test, McNemar for
    accuracy, else the paired bootstrap) or ``ab`` (each answered its own requests: a
    two-sample bootstrap of the difference). ``champion`` and ``challenger`` are the metric on
    the rows compared, each with its 95% bootstrap interval; ``difference`` is challenger minus
    champion with its ``1 - alpha`` interval and the test's two-sided p-value (None when too
    few rows were labelled, see ``note``).
    """

    mode: str
    metric: str
    champion_version: str
    challenger_version: str
    champion: Performance
    challenger: Performance
    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    test: str
    alpha: float
    greater_is_better: bool
    note: str = ""

    @property
    def favours_challenger(self) -> bool:
        if self.difference is None:
            return False
        return self.difference > 0 if self.greater_is_better else self.difference < 0

    @property
    def significant(self) -> bool:
        """The difference is real at ``alpha`` (either way)."""
        return self.p_value is not None and self.p_value < self.alpha and self.difference != 0

    def describe(self) -> str:
        """One line in plain words: the verdict and its numbers."""
        who = f"challenger version {self.challenger_version}"
        if self.difference is None:
            return f"{who} against champion version {self.champion_version}: {self.note}"
        if self.significant:
            verdict = "better" if self.favours_challenger else "worse"
            head = f"{who} is significantly {verdict} than champion {self.champion_version}"
        else:
            head = f"{who}: no significant difference from champion {self.champion_version}"
        return (
            f"{head}: {self.metric} {_shown(self.challenger.value)} vs "
            f"{_shown(self.champion.value)} ({self.difference:+.4g}, {1 - self.alpha:.0%} CI "
            f"{_signed(self.low)} to {_signed(self.high)}, p={_shown(self.p_value)}, {self.test})"
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["champion"] = self.champion.to_dict()
        out["challenger"] = self.challenger.to_dict()
        out["favours_challenger"] = self.favours_challenger
        out["significant"] = self.significant
        out["summary"] = self.describe()
        return out


def _shown(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4g}"


@dataclass(frozen=True)
class DriftReport:
    """``loopml monitor``'s result: every window of one model version's traffic."""

    model_name: str
    model_version: str
    alpha: float
    min_effect: float
    window_seconds: float
    windows: list[WindowReport]
    #: the online comparison over the whole span; None when no challenger traffic was logged
    comparison: VariantComparison | None = None

    @property
    def drifted(self) -> bool:
        return any(w.drifted for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "alpha": self.alpha,
            "min_effect": self.min_effect,
            "window_seconds": self.window_seconds,
            "drifted": self.drifted,
            "windows": [w.to_dict() for w in self.windows],
            "variant_comparison": self.comparison.to_dict() if self.comparison else None,
        }
