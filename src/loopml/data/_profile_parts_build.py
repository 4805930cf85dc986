"""The reduce step of the partitioned profile: a :class:`Profile` from the merged summaries
and the sample (:mod:`loopml.data._profile_parts`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.data._profile import (
    MAX_PATTERNS,
    QUANTILES,
    ROLE_ROWS,
    _correlations,
    _hashable,
    _word_counts,
    datetime_summary,
    stamps_us,
)
from loopml.data._profile_merge import KMV_HASHES, ranked
from loopml.data._profile_target import relate_to_target
from loopml.data._profile_types import (
    OTHER,
    TOP_K,
    CategorySummary,
    ColumnProfile,
    DatetimeSummary,
    Histogram,
    Missingness,
    MissingPattern,
    NumericSummary,
    Profile,
    TextSummary,
    Work,
)
from loopml.data._schema import is_text, missing_mask, to_numeric
from loopml.types import TaskKind

if TYPE_CHECKING:
    from loopml.data._profile_parts import ColumnSums, FirstPass, Plan, SecondPass


def build_profile(
    plans: list[Plan],
    summary: FirstPass,
    second: SecondPass,
    edges: dict[str, tuple[np.ndarray, bool]],
    *,
    target: str | None,
    kind: TaskKind | None,
    seed: int,
    guessed: bool,
) -> Profile:
    sample = second.sample
    work = Work()
    columns = []
    for plan, sums in zip(plans, summary.columns, strict=True):
        values = _sample_values(sample, plan)
        histogram = _histogram(edges.get(plan.name), second.histograms.get(plan.name))
        columns.append(_column(plan, sums, values, histogram, work))
    correlations = _correlations(columns, work, len(sample))
    target_profile = None
    if target is not None and kind is not None:
        target_profile = relate_to_target(target, kind, columns, work, seed)
    return Profile(
        n_rows=summary.rows,
        n_columns=len(plans),
        memory=summary.memory,
        columns=tuple(columns),
        missingness=_missingness(summary, [p.name for p in plans]),
        correlations=correlations,
        target=target_profile,
        sampled=_sampled(summary.rows, len(sample), seed, target is not None),
        sample_size=len(sample),
        seed=seed,
        estimated=_estimated(summary, guessed),
    )


def _sample_values(sample: pd.DataFrame, plan: Plan) -> pd.Series | None:
    if plan.name not in sample.columns:
        return None
    values = _hashable(sample[plan.name].reset_index(drop=True))
    return values.mask(missing_mask(values)) if is_text(values) else values


def _histogram(bins: tuple[np.ndarray, bool] | None, counts: np.ndarray | None) -> Histogram:
    """The merged counts on their edges (integer timestamps for dates: see
    :func:`datetime_summary`)."""
    if bins is None or counts is None:
        return Histogram((), ())
    edges, log = bins
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts), log=log)


def _column(
    plan: Plan, sums: ColumnSums, values: pd.Series | None, histogram: Histogram, work: Work
) -> ColumnProfile:
    present = sums.rows - sums.missing
    base: dict[str, Any] = {
        "name": plan.name,
        "role": plan.info.role,
        "dtype": plan.dtype,
        "missing": sums.missing,
        "missing_share": sums.missing / sums.rows if sums.rows else 0.0,
        "reason": plan.info.reason,
        "is_target": plan.is_target,
        "pii": plan.info.pii,
    }
    distinct = sums.distinct.estimate() if sums.distinct is not None else len(sums.counts)
    if plan.kind == "pii" or values is None:
        return ColumnProfile(**base, count=present, distinct=distinct)
    if plan.kind == "category":
        return _category(base, sums, values, present, work)
    invalid = present - sums.found
    if plan.kind == "numeric":
        numbers = to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
        if plan.in_work:
            work.numbers[plan.name] = np.where(np.isinf(numbers), np.nan, numbers)
        summary = _numeric(sums, numbers, histogram)
        return ColumnProfile(
            **base, count=sums.found, distinct=distinct, invalid=invalid, numeric=summary
        )
    if plan.kind == "datetime":
        ints = stamps_us(values)
        floats = ints.astype(float)
        floats[ints == np.iinfo(np.int64).min] = np.nan
        work.stamps[plan.name] = (floats, "us")
        dated = DatetimeSummary("", "", Histogram((), ()))
        if sums.found:
            dated = datetime_summary(int(sums.lo), int(sums.hi), np.array(histogram.counts), "us")
        return ColumnProfile(
            **base, count=sums.found, distinct=distinct, invalid=invalid, datetime=dated
        )
    return ColumnProfile(
        **base, count=present, distinct=distinct, text=_text(sums, values, histogram, plan)
    )


def _numeric(sums: ColumnSums, sample: np.ndarray, histogram: Histogram) -> NumericSummary:
    m = sums.moments
    if m.n == 0:
        nan = float("nan")
        return NumericSummary(nan, nan, nan, nan, nan, {}, 0, 0, sums.infinite, histogram)
    finite = sample[np.isfinite(sample)]
    qs = np.quantile(finite, QUANTILES) if len(finite) else [float("nan")] * len(QUANTILES)
    return NumericSummary(
        minimum=sums.lo,
        maximum=sums.hi,
        mean=m.mean,
        std=m.std,
        skew=m.skew,
        quantiles={f"{q:.0%}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        zeros=sums.zeros,
        negatives=sums.negatives,
        infinite=sums.infinite,
        histogram=histogram,
    )


def _category(
    base: dict[str, Any], sums: ColumnSums, part: pd.Series, present: int, work: Work
) -> ColumnProfile:
    counts = ranked(sums.counts)
    top = counts[:TOP_K]
    codes = pd.Index([k for k, _ in top]).get_indexer(part)
    codes[(codes < 0) & part.notna().to_numpy()] = len(top)
    labels = [str(k) for k, _ in top]
    work.codes[base["name"]] = (codes, [*labels, OTHER])
    return ColumnProfile(
        **base,
        count=present,
        distinct=len(counts),
        categories=CategorySummary(
            top=tuple(zip(labels, (c for _, c in top), strict=True)),
            other=sum(c for _, c in counts[TOP_K:]),
        ),
    )


def _text(sums: ColumnSums, part: pd.Series, histogram: Histogram, plan: Plan) -> TextSummary:
    text = part if isinstance(part.dtype, pd.StringDtype) else part.astype("string")
    words = _word_counts(text)
    found = sums.moments.n
    top = ranked(sums.counts)[:5] if plan.info.role == "text" else []
    return TextSummary(
        min_length=int(sums.lo) if found else 0,
        mean_length=sums.moments.mean if found else float("nan"),
        max_length=int(sums.hi) if found else 0,
        mean_words=float(np.nanmean(words)) if np.any(~np.isnan(words)) else float("nan"),
        histogram=histogram,
        top=tuple((str(k), int(c)) for k, c in top),
    )


def _missingness(summary: FirstPass, names: list[str]) -> Missingness:
    n_rows, n_cols = summary.rows, len(names)
    by_column = [c.missing for c in summary.columns]
    cells = int(sum(by_column))
    patterns = []
    for key, count in ranked(summary.patterns)[:MAX_PATTERNS]:
        packed = np.frombuffer(key, dtype=np.uint8)  # type: ignore[call-overload]
        bits = np.unpackbits(packed)[:n_cols].astype(bool)
        columns = tuple(n for n, b in zip(names, bits, strict=True) if b)
        patterns.append(MissingPattern(columns, int(count)))
    shares = {n: (m / n_rows if n_rows else 0.0) for n, m in zip(names, by_column, strict=True)}
    return Missingness(
        cells=cells,
        share=cells / (n_rows * n_cols) if n_rows and n_cols else 0.0,
        complete_rows=int(summary.per_row[0]),
        by_column=shares,
        per_row=tuple(int(c) for c in summary.per_row),
        patterns=tuple(patterns),
    )


def _sampled(rows: int, size: int, seed: int, target: bool) -> dict[str, str]:
    sampled: dict[str, str] = {}
    if size < rows:
        where = f"{size:,} of {rows:,} rows (seed {seed}, drawn part by part)"
        sampled = {"quantiles": where, "correlations": where, "text words": where}
        if target:
            sampled["target"] = where
    return sampled


def _estimated(summary: FirstPass, guessed: bool) -> dict[str, str]:
    out = {}
    if guessed and summary.rows > ROLE_ROWS:
        out["column roles"] = f"guessed from the first {ROLE_ROWS:,} rows of the first part"
    sketches = [c.distinct for c in summary.columns if c.distinct is not None]
    if any(not s.exact for s in sketches):
        out["distinct values"] = (
            f"estimated past {KMV_HASHES:,} from the smallest hashes (about 0.8% error)"
        )
    if any(c.cut for c in summary.columns):
        out["most frequent texts"] = "counted from each part's 1,000 most frequent: lower bounds"
    if summary.patterns_cut:
        out["missing-value patterns"] = "counted from each part's 1,000 most frequent: lower bounds"
    return out
