"""Group fairness on the holdout: each group's metrics with bootstrap intervals (Fairlearn's
``MetricFrame``), and per grouping the largest difference and the smallest ratio between
groups, which a success gate's fairness clauses check (``selection_rate_ratio >= 0.8``).

Groups come from each sensitive column and, with ``intersections``, from each pair of them
(``sex × age_band``). Groups with fewer than ``min_group_size`` rows are listed with their
size but left out of the comparison: a handful of rows gives a rate anything from 0 to 1.
Missing values form a group of their own, ``(missing)``.

Each measure's 95% interval comes from a Poisson bootstrap (:mod:`._fairness_measures`).

The measures: the project's metric (and any metric a gate clause names) for every task;
selection rate, true-positive and false-positive rate for binary classifiers (the positive
class is the selected one); accuracy for multiclass; mean absolute error for regression. A
gate value is the worst over groupings: the largest difference, the smallest ratio.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.config import ProjectConfig
from loopml.data import Problem
from loopml.errors import DataError
from loopml.evaluation._fairness_measures import Measure, measures

if TYPE_CHECKING:
    from loopml.config import Gate

MISSING = "(missing)"
JOIN = " × "
CI = (0.025, 0.975)


@dataclass(frozen=True)
class FairnessSettings:
    """Which columns define groups, and how they are compared."""

    columns: tuple[str, ...]
    min_group_size: int = 30
    intersections: bool = True
    n_bootstrap: int = 200
    seed: int = 0
    metrics: tuple[str, ...] = ()  # metrics compared besides the project's (a gate's)
    only: tuple[str, ...] = ()  # compare only these measures (monitoring before labels)

    @classmethod
    def from_config(cls, config: ProjectConfig, gate: Gate | None = None) -> FairnessSettings:
        problem = config.problem
        gate = gate if gate is not None else problem.gate
        named = [c.metric.rsplit("_", 1)[0] for c in (gate.fairness if gate else ())]
        return cls(
            columns=tuple(problem.sensitive_columns),
            min_group_size=problem.fairness.min_group_size,
            intersections=problem.fairness.intersections,
            n_bootstrap=problem.fairness.bootstrap,
            seed=config.training.seed,
            metrics=tuple(dict.fromkeys(named)),
        )


@dataclass(frozen=True)
class GroupStats:
    """One group's size and measures (none when it is too small to compare)."""

    grouping: str  # "sex", or "sex × age_band"
    group: str  # "female", or "female × 18-25"
    rows: int
    values: dict[str, float] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)  # 95% bootstrap interval
    high: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Disparity:
    """How far apart the groups of one grouping are on one measure."""

    grouping: str
    measure: str
    difference: float  # largest minus smallest group value
    ratio: float  # smallest over largest
    difference_interval: tuple[float, float]
    ratio_interval: tuple[float, float]
    lowest: str  # the group with the smallest value
    highest: str


@dataclass(frozen=True)
class FairnessReport:
    columns: tuple[str, ...]
    min_group_size: int
    groups: tuple[GroupStats, ...]
    disparities: tuple[Disparity, ...]
    n_bootstrap: int

    def values(self) -> dict[str, float]:
        """Gate values: ``<measure>_difference`` (largest over groupings) and
        ``<measure>_ratio`` (smallest)."""
        out: dict[str, float] = {}
        for name, worst in self._worst().items():
            out[name] = worst.difference if name.endswith("_difference") else worst.ratio
        return out

    def worst(self, name: str) -> Disparity | None:
        """The grouping behind the gate value ``name``, or None."""
        return self._worst().get(name)

    def _worst(self) -> dict[str, Disparity]:
        out: dict[str, Disparity] = {}
        for d in self.disparities:
            if not math.isnan(d.difference):
                key = f"{d.measure}_difference"
                if key not in out or d.difference > out[key].difference:
                    out[key] = d
            if not math.isnan(d.ratio):
                key = f"{d.measure}_ratio"
                if key not in out or d.ratio < out[key].ratio:
                    out[key] = d
        return out

    def measures(self) -> list[str]:
        """The measures compared, in the order of the table."""
        return list(next((g.values for g in self.groups if g.values), {}))

    def value(self, grouping: str, group: str, measure: str) -> float:
        for g in self.groups:
            if g.grouping == grouping and g.group == group:
                return g.values.get(measure, math.nan)
        return math.nan

    def lines(self) -> list[str]:
        """One plain sentence per measure: its worst grouping and the groups at either end."""
        out = []
        for measure in self.measures():
            worst = self.worst(f"{measure}_ratio") or self.worst(f"{measure}_difference")
            if worst is None:
                continue
            low = self.value(worst.grouping, worst.lowest, measure)
            high = self.value(worst.grouping, worst.highest, measure)
            out.append(
                f"{measure.replace('_', ' ')}: smallest ratio {worst.ratio:.3f}, difference "
                f"{worst.difference:.3f} across {worst.grouping}; lowest {worst.lowest} "
                f"({low:.3f}), highest {worst.highest} ({high:.3f})"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self)) | {"values": _finite(self.values())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FairnessReport:
        def number(v: Any) -> float:
            return float("nan") if v is None else float(v)

        groups = tuple(
            GroupStats(
                g["grouping"],
                g["group"],
                int(g["rows"]),
                *({k: number(v) for k, v in g[part].items()} for part in ("values", "low", "high")),
            )
            for g in data["groups"]
        )
        disparities = tuple(
            Disparity(
                d["grouping"],
                d["measure"],
                number(d["difference"]),
                number(d["ratio"]),
                (number(d["difference_interval"][0]), number(d["difference_interval"][1])),
                (number(d["ratio_interval"][0]), number(d["ratio_interval"][1])),
                d["lowest"],
                d["highest"],
            )
            for d in data["disparities"]
        )
        return cls(
            tuple(data["columns"]),
            int(data["min_group_size"]),
            groups,
            disparities,
            int(data["n_bootstrap"]),
        )


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------------------------
# computing it


def fairness_report(
    sensitive: pd.DataFrame,
    y: pd.Series | np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    problem: Problem,
    settings: FairnessSettings,
) -> FairnessReport:
    """The by-group table and disparities of one model's holdout predictions.

    Raises
    ------
    DataError
        A sensitive column is not among the rows.
    """
    lacking = [c for c in settings.columns if c not in sensitive.columns]
    if lacking:
        raise DataError(
            f"sensitive column(s) {', '.join(map(repr, lacking))} are not in the evaluated "
            "rows; check problem.sensitive_columns in loopml.yaml (and that the privacy "
            "policy does not drop them)."
        )
    truth = np.asarray(y)
    found = measures(problem, settings.metrics, truth, np.asarray(pred), proba)
    if settings.only:
        found = {name: m for name, m in found.items() if name in settings.only}
    groups: list[GroupStats] = []
    disparities: list[Disparity] = []
    for columns in _groupings(settings):
        name = JOIN.join(columns)
        labels = _labels(sensitive, columns)
        listed, compared = _compare(name, labels, truth, found, settings)
        groups += listed
        disparities += compared
    return FairnessReport(
        settings.columns,
        settings.min_group_size,
        tuple(groups),
        tuple(disparities),
        settings.n_bootstrap,
    )


def _groupings(settings: FairnessSettings) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [(c,) for c in settings.columns]
    if settings.intersections:
        out += list(itertools.combinations(settings.columns, 2))
    return out


def _labels(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    parts = [frame[c].astype("string").fillna(MISSING).reset_index(drop=True) for c in columns]
    out = parts[0]
    for part in parts[1:]:
        out = out + JOIN + part
    return out.astype(object)


def _compare(
    name: str,
    labels: pd.Series,
    truth: np.ndarray,
    measures: dict[str, Measure],
    settings: FairnessSettings,
) -> tuple[list[GroupStats], list[Disparity]]:
    """One grouping: its groups' measures, and the disparities between the large enough."""
    from fairlearn.metrics import MetricFrame

    counts = labels.value_counts()
    large = counts[counts >= settings.min_group_size]
    small = [GroupStats(name, str(g), int(n)) for g, n in counts.items() if g not in large.index]
    if large.empty:
        return small, []
    keep = labels.isin(large.index).to_numpy()
    rows, kept = np.flatnonzero(keep), labels[keep].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics on one-class groups: NaN, shown so
        frame = MetricFrame(
            metrics=measures, y_true=truth[keep], y_pred=rows, sensitive_features=kept
        )
        by_group = frame.by_group.astype(float)
        names = [str(g) for g in by_group.index]
        boot = _bootstrap(kept.astype(str), names, rows, measures, settings)
    groups = []
    for i, group in enumerate(by_group.index):
        values = _row(by_group, group)
        low = {m: float(boot.low[i, j]) for j, m in enumerate(measures)} if boot else {}
        high = {m: float(boot.high[i, j]) for j, m in enumerate(measures)} if boot else {}
        groups.append(GroupStats(name, str(group), int(large[group]), values, low, high))
    compared = _disparities(name, frame, by_group, boot, list(measures)) if len(large) > 1 else []
    return groups + small, compared


def _row(table: pd.DataFrame, group: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in table.loc[group].items()}


@dataclass(frozen=True)
class _Boot:
    low: np.ndarray  # [group, measure]
    high: np.ndarray
    difference: np.ndarray  # [2, measure]: the interval's ends
    ratio: np.ndarray


def _bootstrap(
    labels: np.ndarray,
    groups: list[str],
    rows: np.ndarray,
    measures: dict[str, Measure],
    settings: FairnessSettings,
) -> _Boot | None:
    """Percentile intervals from ``n_bootstrap`` Poisson resamples of the grouping's rows:
    each group's measures, and the difference and ratio between groups, on each resample."""
    if not settings.n_bootstrap:
        return None
    rng = np.random.default_rng(settings.seed)
    codes = pd.Index(groups).get_indexer(labels)
    mine = [codes == g for g in range(len(groups))]
    fns = list(measures.values())
    total = settings.n_bootstrap
    draws = np.empty((total, len(groups), len(fns)))
    batch = max(1, min(total, 4_000_000 // max(len(rows), 1)))  # weights: at most 32 MB
    for start in range(0, total, batch):
        weights = rng.poisson(1.0, size=(min(batch, total - start), len(rows))).astype(float)
        for g, where in enumerate(mine):
            for j, measure in enumerate(fns):
                draws[start : start + len(weights), g, j] = measure.boot(
                    weights[:, where], rows[where]
                )
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN
        top, bottom = np.nanmax(draws, axis=1), np.nanmin(draws, axis=1)
        ratio = np.where(top != 0, bottom / top, np.nan)
        low, high = np.nanquantile(draws, CI, axis=0)
        return _Boot(
            low,
            high,
            np.nanquantile(top - bottom, CI, axis=0),
            np.nanquantile(ratio, CI, axis=0),
        )


def _disparities(
    name: str, frame: Any, by_group: pd.DataFrame, boot: _Boot | None, measures: list[str]
) -> list[Disparity]:
    difference, ratio = frame.difference(), frame.ratio()
    out = []
    for j, measure in enumerate(measures):
        values = by_group[measure]
        if values.notna().sum() < 2:
            continue
        d, r = float(difference[measure]), float(ratio[measure])
        out.append(
            Disparity(
                grouping=name,
                measure=measure,
                difference=d,
                ratio=r,
                difference_interval=(
                    (float(boot.difference[0, j]), float(boot.difference[1, j])) if boot else (d, d)
                ),
                ratio_interval=(float(boot.ratio[0, j]), float(boot.ratio[1, j]))
                if boot
                else (r, r),
                lowest=str(values.idxmin()),
                highest=str(values.idxmax()),
            )
        )
    return out
