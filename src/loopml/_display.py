"""Numbers and model names for people, shared by the console and the reports.

Kept free of heavy imports: every CLI command prints through it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any


def fmt_sig(value: float | None, digits: int = 4, keep_zeros: bool = False) -> str:
    """A measured number for people: ``digits`` significant digits, no exponent in between.

    ``keep_zeros`` keeps trailing zeros, so a column of scores lines up (``0.7600``).

    Examples
    --------
    >>> fmt_sig(0.123456), fmt_sig(4.5705630998), fmt_sig(12345.678), fmt_sig(0.000123456)
    ('0.1235', '4.571', '12,346', '0.0001235')
    >>> fmt_sig(float("nan")), fmt_sig(None), fmt_sig(3.0), fmt_sig(1e-9), fmt_sig(-0.5)
    ('—', '—', '3', '1e-09', '-0.5')
    >>> fmt_sig(0.76, keep_zeros=True), fmt_sig(534.123456, keep_zeros=True)
    ('0.7600', '534.1')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{value:,.0f}"
    if magnitude < -5:
        return f"{value:.{digits - 1}g}"
    text = f"{value:.{max(digits - 1 - magnitude, 0)}f}"
    return text if keep_zeros or "." not in text else text.rstrip("0").rstrip(".")


def fmt_metric(value: float | None) -> str:
    """A metric value: scores with 4 decimals (``0.7600``), errors in the target's units with
    4 significant digits (``534.1``, ``12,346``).

    Examples
    --------
    >>> fmt_metric(0.76), fmt_metric(1.0), fmt_metric(534.123456), fmt_metric(12345.678)
    ('0.7600', '1.0000', '534.1', '12,346')
    >>> fmt_metric(float("nan")), fmt_metric(None)
    ('—', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isfinite(value) and abs(value) >= 10:
        return fmt_sig(value, keep_zeros=True)
    return f"{value:.4f}"


def fmt_num(value: float | None, digits: int | None = None) -> str:
    """The report's numbers: :func:`fmt_metric`, or ``digits`` significant digits."""
    return fmt_metric(value) if digits is None else fmt_sig(value, digits, keep_zeros=True)


def round_for_people(value: Any, digits: int = 4) -> Any:
    """``value`` with every float inside (dicts, lists) rounded to ``digits`` significant
    digits, for display; integers, strings and booleans unchanged.

    Examples
    --------
    >>> round_for_people({"C": 4.5705630998014515, "layers": 2, "alpha": 0.000123456789})
    {'C': 4.571, 'layers': 2, 'alpha': 0.0001235}
    """
    if isinstance(value, dict):
        return {k: round_for_people(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [round_for_people(v, digits) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{float(value):.{digits}g}")
    return value


def model_label(trial: Any, trials: Iterable[Any]) -> str:
    """What a leaderboard row is, for people: its family, or an ensemble's members by family.

    Examples
    --------
    >>> from types import SimpleNamespace as T
    >>> trials = [T(number=0, family="lightgbm"), T(number=1, family="linear"),
    ...           T(number=2, family="lightgbm")]
    >>> model_label(T(family="ensemble", params={"members": {0: 0.5, 2: 0.3, 1: 0.2}}), trials)
    'ensemble of lightgbm ×2, linear ×1'
    >>> model_label(trials[1], trials)
    'linear'
    >>> model_label(T(family="stack-l2", params={"members": {0: 0.5, 1: 0.5}}), trials)
    'stack-l2 over lightgbm ×1, linear ×1'
    """
    if trial.family not in ("ensemble", "bag", "stack-l2"):
        return str(trial.family)
    families = _member_families(trial, trials)
    counts = Counter(families.values())
    kind = {"ensemble": "ensemble of ", "bag": "bag of ", "stack-l2": "stack-l2 over "}
    return kind[trial.family] + ", ".join(f"{family} ×{n}" for family, n in counts.most_common())


def ensemble_members(trial: Any, trials: Iterable[Any], ranks: dict[int, int]) -> str:
    """An ensemble's members with their leaderboard rank and weight, heaviest first:
    ``lightgbm (#1) 60%, linear (#3) 40%``; ``ranks`` maps trial number to rank."""
    families = _member_families(trial, trials)
    weights = {int(n): float(w) for n, w in trial.params.get("members", {}).items()}
    order = sorted(weights, key=lambda n: (-weights[n], n))
    return ", ".join(
        f"{families[n]}" + (f" (#{ranks[n]})" if n in ranks else "") + f" {weights[n]:.0%}"
        for n in order
    )


def _member_families(trial: Any, trials: Iterable[Any]) -> dict[int, str]:
    by_number = {t.number: t.family for t in trials}
    members = trial.params.get("members", {})
    return {int(n): by_number.get(int(n), f"trial {n}") for n in members}
