"""Runs side by side, differences first: parameters, metrics, data and configuration."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from loopml.ui._runs import RunRow

#: Run parameters that describe the data rather than the model.
DATA_PARAMS = ("data_fingerprint", "data_origin", "train_rows", "holdout_rows")


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested mapping as ``a.b.c -> text`` rows (lists as JSON).

    Examples
    --------
    >>> flatten({"training": {"seed": 42, "models": ["linear"]}})
    {'training.seed': '42', 'training.models': '["linear"]'}
    """
    if isinstance(value, Mapping):
        rows: dict[str, str] = {}
        for key, inner in value.items():
            rows.update(flatten(inner, f"{prefix}{key}."))
        return rows
    shown = value if isinstance(value, str) else json.dumps(value, default=str)
    return {prefix[:-1]: shown}


def compare_runs(
    runs: Sequence[RunRow], configs: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The comparison table of ``runs``: one section per kind of fact, each row a key with
    one value per run and whether they differ; rows that differ come first, then by name.

    ``configs``: run id -> the configuration snapshot of the model it registered (runs
    without one show no configuration).
    """
    configs = configs or {}
    sections = {
        "metrics": [{k: _number(v) for k, v in r.metrics.items()} for r in runs],
        "parameters": [{k: v for k, v in r.params.items() if k not in DATA_PARAMS} for r in runs],
        "data": [{k: v for k, v in r.params.items() if k in DATA_PARAMS} for r in runs],
        "configuration": [flatten(configs.get(r.run_id, {})) for r in runs],
    }
    return {
        "runs": [
            {"run_id": r.run_id, "name": r.name, "version": r.version, "start": r.start}
            for r in runs
        ],
        "sections": [{"name": name, "rows": _rows(values)} for name, values in sections.items()],
    }


def _rows(per_run: list[dict[str, str]]) -> list[dict[str, Any]]:
    keys = sorted({k for values in per_run for k in values})
    rows = []
    for key in keys:
        values = [values.get(key) for values in per_run]
        rows.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    rows.sort(key=lambda row: (not row["differs"], row["key"]))
    return rows


def _number(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"
