"""The small core: result types shared by several stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # annotations only: importing the core types must not load pandas
    import pandas as pd

TaskKind = Literal["binary", "multiclass", "regression", "clustering", "anomaly"]


@dataclass(frozen=True)
class DataSet:
    """A collected table: the frame, where it came from, and a fingerprint of its content.

    The fingerprint is a sha256 over column names, dtypes and every value, so the same data
    read from CSV or Parquet, or from a renamed file, gets the same fingerprint.
    """

    frame: pd.DataFrame
    fingerprint: str
    origin: str
    watermark: Any = None  # with incremental loading: the largest value of its column loaded

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def n_columns(self) -> int:
        return int(self.frame.shape[1])


Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One data-quality observation.

    ``id`` is a stable kebab-case name of the check (``missing-values``, ``duplicate-rows``,
    ``suspected-leakage``...); ``examples`` holds a few offending rows (as records) or values.
    """

    id: str
    severity: Severity
    message: str
    column: str | None = None
    count: int = 0
    examples: tuple[Any, ...] = ()
    suggestion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "column": self.column,
            "count": self.count,
            "message": self.message,
            "examples": list(self.examples),
            "suggestion": self.suggestion,
        }


@dataclass(frozen=True)
class QualityReport:
    """Every finding of a validation run, most severe first, with what was checked.

    Examples
    --------
    >>> missing = Finding("missing-values", "warning", "3 values missing", column="age", count=3)
    >>> report = QualityReport((missing,), n_rows=10, n_columns=2)
    >>> report.fails(), report.fails("warning"), report.fails("never")
    (False, True, False)
    >>> report.to_dict()["counts"]
    {'error': 0, 'warning': 1, 'info': 0}
    """

    findings: tuple[Finding, ...]
    n_rows: int
    n_columns: int
    origin: str = ""

    def by_severity(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def errors(self) -> list[Finding]:
        return self.by_severity("error")

    @property
    def warnings(self) -> list[Finding]:
        return self.by_severity("warning")

    def fails(self, fail_on: str = "error") -> bool:
        """True if a finding is at least as severe as ``fail_on`` ("never" never fails)."""
        if fail_on == "never":
            return False
        limit = SEVERITY_ORDER[fail_on]
        return any(SEVERITY_ORDER[f.severity] <= limit for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "counts": {s: len(self.by_severity(s)) for s in ("error", "warning", "info")},
            "findings": [f.to_dict() for f in self.findings],
        }
