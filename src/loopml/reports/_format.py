"""Numbers, shares and labels as the profile report prints them (and, re-exported from
:mod:`loopml._display`, what the console and the training report share)."""

from __future__ import annotations

import math

import numpy as np

from loopml._display import ensemble_members, fmt_metric, fmt_sig, model_label, round_for_people

__all__ = [
    "ensemble_members",
    "fmt",
    "fmt_bytes",
    "fmt_label",
    "fmt_metric",
    "fmt_pct",
    "fmt_score",
    "fmt_sig",
    "model_label",
    "round_for_people",
]


def fmt(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if not math.isfinite(value):
        return "—" if math.isnan(value) else str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if 1e-3 <= abs(value) < 1e6:
        return (
            f"{value:,.{digits}g}"
            if abs(value) < 1
            else f"{value:,.{digits}f}".rstrip("0").rstrip(".")
        )
    return f"{value:.{digits}g}"


def fmt_score(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"


def fmt_label(value: str) -> str:
    """A category label as shown: quoted when spaces at its ends would be invisible."""
    return repr(value) if value != value.strip() or not value else value


def fmt_pct(share: float) -> str:
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    return f"{share:.1%}"


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:,.1f} GiB"
