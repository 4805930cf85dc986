"""Data contract and quality checks: one :class:`~loopml.types.QualityReport` per table.

Every check yields :class:`~loopml.types.Finding` records with a stable id, a severity, the
column, a count, a few example values or rows and a suggested fix naming the ``loopml.yaml``
key to change.

Exact over the whole table (vectorised, cheap): missing values, duplicate rows and ids,
constant columns, declared expectations, the target checks and outlier counts of numeric
columns. Estimated on a seeded sample of ``max_rows`` rows, and said so in the message:
near-constant, id-like and high-cardinality columns, mixed types, numbers stored as text,
inconsistent spellings, outlier fences, leakage and the train/holdout comparison.

Outliers are values more than 3 interquartile ranges below the first or above the third
quartile (Tukey's "far out" fences), a rule that heavy tails and the outliers themselves do not
distort the way a z-score does. Leakage and mismatch statistics are described in
:mod:`loopml.data._quality_stats`.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.config import CategoryCleaning, QualityConfig
from loopml.data._quality_base import (
    N_EXAMPLES,
    describe,
    names_text,
    plain,
    positions,
)
from loopml.data._quality_columns import (
    cardinality_findings,
    constant_findings,
    id_like_findings,
    outlier_findings,
    spelling_findings,
    text_type_findings,
)
from loopml.data._quality_rules import (
    expectation_findings,
    label_time_findings,
    target_findings,
)
from loopml.data._quality_stats import holdout_findings, leakage_findings
from loopml.data._schema import missing_mask
from loopml.data._sources import hashable
from loopml.types import SEVERITY_ORDER, Finding, QualityReport, Severity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableSpec:
    """What the project file declares about a table, as :func:`validate` checks it.

    Parameters
    ----------
    target
        The target column (``problem.target``), or None to skip the target and leakage checks.
    task
        ``binary``, ``multiclass`` or ``regression``; None or ``auto`` infers it from the target.
    id_columns
        Declared identifier columns (``data.id_columns``): checked for duplicates, not used as
        features.
    time_column
        The declared time column (``data.time_column``).
    label_time_column
        When given, the time each label became known: any datetime column with later values
        is suspected leakage.
    categories
        ``cleaning.categories``: the rules that merge spelling variants of the target's labels
        before the target is checked (the defaults when None), as training merges them.
    """

    target: str | None = None
    task: str | None = None
    id_columns: Sequence[str] = ()
    time_column: str | None = None
    label_time_column: str | None = None
    categories: CategoryCleaning | None = None


def validate(
    frame: pd.DataFrame,
    *,
    spec: TableSpec = TableSpec(),  # frozen: one shared default is safe
    quality: QualityConfig,
    holdout: pd.DataFrame | None = None,
    origin: str = "",
    seed: int = 0,
    max_rows: int = 200_000,
) -> QualityReport:
    """Check a table against the data contract and common quality problems.

    Parameters
    ----------
    frame
        The data as collected (after the privacy policy, so examples hold no raw PII).
    spec
        The target, task and declared columns (no target: the target and leakage checks are
        skipped).
    quality
        The ``quality`` section of loopml.yaml: thresholds and declared expectations.
    holdout
        A second table (the holdout, or fresh data) compared column by column with ``frame``.
    origin
        Where the data came from, copied into the report.
    seed
        Seed of the row sample.
    max_rows
        Checks that need no exact count run on a sample of at most this many rows.

    Returns
    -------
    QualityReport
        Findings sorted error, warning, info.

    Examples
    --------
    >>> import pandas as pd
    >>> from loopml.config import QualityConfig
    >>> frame = pd.DataFrame({"x": [1, 1, 2], "y": ["a", "a", "b"]})
    >>> report = validate(frame, quality=QualityConfig())
    >>> [f.id for f in report.findings]
    ['duplicate-rows']
    """
    n_rows = len(frame)
    findings, frame = _duplicate_names(frame)
    frame = hashable(frame, probe=1000, to_text=str)
    if holdout is not None:
        holdout = hashable(holdout.loc[:, ~holdout.columns.duplicated()], probe=1000, to_text=str)
    by_label = {str(c): c for c in frame.columns}
    ids = [by_label[c] for c in spec.id_columns if c in by_label]
    findings += _declared_columns(
        by_label, {"data.id_columns": spec.id_columns, "data.time_column": [spec.time_column]}
    )
    findings += _declared_columns(by_label, {"label_time_column": [spec.label_time_column]})
    target_col = by_label.get(spec.target) if spec.target is not None else None

    sample = _sample(frame, max_rows, seed)
    table = _Table(
        frame=frame,
        sample=sample,
        columns={
            name: describe(frame[name], sample[name], declared_id=name in ids)
            for name in frame.columns
        },
        ids=ids,
        note=_sample_note(len(sample), n_rows),
        scale=n_rows / len(sample) if len(sample) else 1.0,
    )
    findings += _missing_values(frame, [c for c in frame.columns if c != target_col], quality)
    findings += _duplicate_rows(frame, ids)
    findings += _duplicate_ids(frame, ids)
    findings += _column_findings(table, target_col, quality)
    findings += expectation_findings(frame, by_label, quality.expectations)
    if spec.target is not None:
        findings += _target_findings(table, spec, spec.target, target_col, quality, seed)
    if spec.label_time_column is not None and spec.label_time_column in by_label:
        findings += label_time_findings(
            sample, by_label[spec.label_time_column], table.columns, table.note, table.scale
        )
    if holdout is not None:
        time_col = by_label.get(spec.time_column) if spec.time_column else None
        findings += _holdout_findings(table, holdout, time_col, max_rows, seed)

    findings.sort(key=lambda f: SEVERITY_ORDER[f.severity])  # stable: check order within
    log.debug("validated %s: %d rows, %d findings", origin or "data", n_rows, len(findings))
    return QualityReport(
        findings=tuple(findings), n_rows=n_rows, n_columns=frame.shape[1], origin=origin
    )


@dataclass(frozen=True)
class _Table:
    """The table being validated, its row sample and what the checks share about it."""

    frame: pd.DataFrame
    sample: pd.DataFrame
    columns: dict[Any, Any]  # column -> describe() of it
    ids: list[Any]
    note: str  # says the count is estimated on a sample, or ""
    scale: float  # rows per sampled row


def _duplicate_names(frame: pd.DataFrame) -> tuple[list[Finding], pd.DataFrame]:
    """A finding for repeated column names, and the table with only the first of each."""
    dup_names = frame.columns[frame.columns.duplicated()]
    if not len(dup_names):
        return [], frame
    finding = Finding(
        id="duplicate-column-names",
        severity="error",
        column=str(dup_names[0]),
        count=len(dup_names),
        message=f"column name(s) {names_text(dup_names)} appear more than once; only the "
        "first of each is checked.",
        suggestion="Rename the columns at the source or in the query so each is unique.",
    )
    return [finding], frame.loc[:, ~frame.columns.duplicated()]


def _column_findings(table: _Table, target_col: Any, quality: QualityConfig) -> list[Finding]:
    """The per-column checks of every feature column (not the target, not the ids)."""
    findings: list[Finding] = []
    note, scale = table.note, table.scale
    for name, col in table.columns.items():
        if name == target_col or name in table.ids:
            continue
        findings += constant_findings(table.frame[name], col, quality, note, scale)
        findings += id_like_findings(col, note)
        findings += cardinality_findings(col, quality, note)
        findings += text_type_findings(col, note, scale)
        findings += spelling_findings(col, note, scale)
        findings += outlier_findings(table.frame[name], col, note, scale)
    return findings


def _target_findings(
    table: _Table,
    spec: TableSpec,
    target: str,
    target_col: Any,
    quality: QualityConfig,
    seed: int,
) -> list[Finding]:
    """The target checks, and the leakage checks of the features against the target."""
    frame, columns = table.frame, table.columns
    resolved, findings, spellings = target_findings(
        frame, target, target_col, spec.task, quality, spec.categories
    )
    if target_col is None or resolved is None:
        return findings
    sample = table.sample
    if resolved == "regression":
        findings += outlier_findings(
            frame[target_col], columns[target_col], table.note, table.scale
        )
    elif spellings:  # the leakage checks see the classes training sees
        sample = sample.copy()
        sample[target_col] = sample[target_col].astype("string").str.strip().map(spellings)
    features = [c for c in frame.columns if c != target_col and c not in table.ids]
    findings += leakage_findings(
        sample,
        target=target_col,
        task=resolved,
        kinds={c: columns[c].role for c in features},
        threshold=quality.leakage_auc,
        n_present={c: int(frame[c].notna().sum()) for c in features},
        note=table.note,
        seed=seed,
    )
    return findings


def _holdout_findings(
    table: _Table, holdout: pd.DataFrame, time_col: Any, max_rows: int, seed: int
) -> list[Finding]:
    """Columns distributed differently in ``holdout``; the time column is not compared."""
    holdout_sample = _sample(holdout, max_rows, seed)
    kinds = {c: table.columns[c].role for c in table.frame.columns if c not in table.ids}
    skip = {time_col} if time_col is not None else set()
    return holdout_findings(
        table.sample,
        holdout_sample,
        kinds={c: k for c, k in kinds.items() if c not in skip},
        note=_sample_note(len(holdout_sample), len(holdout), "holdout "),
        n_holdout=len(holdout),
    )


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[rows]


def _sample_note(n_sample: int, n_rows: int, what: str = "") -> str:
    if n_sample >= n_rows:
        return ""
    return f" (estimated on a seeded {what}sample of {n_sample:,} of {n_rows:,} rows)"


def _declared_columns(
    by_label: Mapping[str, Any], declared: Mapping[str, Sequence[str | None]]
) -> list[Finding]:
    out = []
    for key, names in declared.items():
        for name in names:
            if name is None or name in by_label:
                continue
            close = difflib.get_close_matches(name, list(by_label), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            out.append(
                Finding(
                    id="column-not-found",
                    severity="error",
                    column=name,
                    message=f"column {name!r} ({key}) is not in the data.{hint}",
                    suggestion=f"Fix the name in {key}, or add the column to the source.",
                )
            )
    return out


def _missing_values(
    frame: pd.DataFrame, names: Sequence[Any], quality: QualityConfig
) -> list[Finding]:
    out: list[Finding] = []
    n = len(frame)
    if not n:
        return out
    for name in names:
        mask = missing_mask(frame[name])
        count = int(mask.sum())
        if not count:
            continue
        share = count / n
        blank = count - int(frame[name].isna().sum())
        extra = f", {blank:,} of them blank text" if blank else ""
        if share > quality.max_missing_fraction:
            severity: Severity = "warning"
            suggestion = (
                f"Fill it at the source, drop it with data.drop_columns, or raise "
                f"quality.max_missing_fraction (now {quality.max_missing_fraction:g}) to accept it."
            )
        else:
            severity = "info"
            suggestion = (
                "Missing values are imputed as set in cleaning.missing (with missing "
                "indicators by default); nothing to do unless they should not be missing."
            )
        out.append(
            Finding(
                id="missing-values",
                severity=severity,
                column=str(name),
                count=count,
                message=f"column {str(name)!r}: {count:,} of {n:,} rows ({share:.1%}) are "
                f"missing{extra}.",
                examples=positions(mask),
                suggestion=suggestion,
            )
        )
    return out


def _duplicated(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows that repeat an earlier row exactly, and the row hashes.

    Rows are hashed first; only rows whose hash repeats are compared exactly.
    """
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts)
        return None
    candidates = pd.Series(hashes).duplicated(keep=False).to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    if candidates.any():
        out[candidates] = frame.iloc[candidates].duplicated(keep="first").to_numpy()
    return out, hashes


def _duplicate_rows(frame: pd.DataFrame, ids: Sequence[Any]) -> list[Finding]:
    cols = [c for c in frame.columns if c not in ids]
    if len(frame) < 2 or not cols:
        return []
    found = _duplicated(frame[cols])
    if found is None or not found[0].any():
        return []
    dup, hashes = found
    count = int(dup.sum())
    examples = tuple(
        {"row": int(p), "same_as_row": int(np.flatnonzero(hashes[:p] == hashes[p])[0])}
        for p in np.flatnonzero(dup)[:N_EXAMPLES]
    )
    ignoring = f" (ignoring the id columns {names_text(ids)})" if ids else ""
    return [
        Finding(
            id="duplicate-rows",
            severity="warning",
            count=count,
            message=f"{count:,} of {len(frame):,} rows repeat an earlier row exactly{ignoring}.",
            examples=examples,
            suggestion="cleaning.duplicates: drop (the default) removes them before training; "
            "check the source or a join for repeated records.",
        )
    ]


def _duplicate_ids(frame: pd.DataFrame, ids: Sequence[Any]) -> list[Finding]:
    if not ids or len(frame) < 2:
        return []
    if len(ids) == 1:
        key = frame[ids[0]]
        dup = (key.duplicated(keep="first") & key.notna()).to_numpy()
        values = key[dup]
        label = str(ids[0])
    else:
        found = _duplicated(frame[list(ids)])
        if found is None:
            return []
        dup = found[0] & frame[list(ids)].notna().all(axis=1).to_numpy()
        repeated = frame.loc[dup, list(ids)].drop_duplicates().head(N_EXAMPLES)
        values = pd.Series([" / ".join(map(str, row)) for row in repeated.itertuples(index=False)])
        label = ", ".join(map(str, ids))
    count = int(dup.sum())
    if not count:
        return []
    return [
        Finding(
            id="duplicate-ids",
            severity="warning",
            column=label,
            count=count,
            message=f"{count:,} rows repeat an id ({label}) already used by an earlier row.",
            examples=tuple(plain(v) for v in pd.unique(values)[:N_EXAMPLES]),
            suggestion="Check joins (data.joins) or the source for repeated records; if rows "
            "legitimately share an id, set data.group_column to it instead of data.id_columns.",
        )
    ]
