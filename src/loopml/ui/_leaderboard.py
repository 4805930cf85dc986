"""The runs leaderboard's question: sort by a metric or the start time, filter by model
family, alias, gate and a metric threshold, answered by the store (never in the browser).

:class:`RunQuery` is parsed once from the query string (:func:`parse_query`, a
:class:`QueryError` naming the bad parameter), then turned into SQL on MLflow's own tables for
a local SQLite store (:func:`sqlite_clauses`) or into ``search_runs``' ``filter_string`` and
``order_by`` for any other store (:func:`mlflow_search`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The sort key of the start time; any other sort key is a logged metric.
START = "start_time"
FAMILY_PARAM = "model_family"
GATE_PASSED_TAG = "loopml.gate_passed"  # registry: the run's tag, "true" | "false"
ALIASES = ("champion", "challenger")
_THRESHOLD = re.compile(r"^\s*([\w.\-/ ]+?)\s*(>=|<=|>|<)\s*(\S+)\s*$")
_OPS = (">=", "<=", ">", "<")


class QueryError(ValueError):
    """A query parameter the leaderboard cannot answer (a 422)."""


@dataclass(frozen=True)
class Threshold:
    """``metric op value``, e.g. ``holdout_roc_auc >= 0.8``."""

    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


@dataclass(frozen=True)
class RunQuery:
    """Which runs, in which order. The default: every run, newest first."""

    sort: str = START
    descending: bool = True
    family: str | None = None
    alias: str | None = None
    gate: bool | None = None  # True: passed, False: failed
    threshold: Threshold | None = None

    def to_params(self) -> dict[str, str]:
        """The query string that asks this again (for links: pages, sort headers)."""
        params = {"sort": self.sort, "order": "desc" if self.descending else "asc"}
        if self.family:
            params["family"] = self.family
        if self.alias:
            params["alias"] = self.alias
        if self.gate is not None:
            params["gate"] = "passed" if self.gate else "failed"
        if self.threshold is not None:
            params["threshold"] = str(self.threshold)
        return params

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_params(), "filtered": self.is_filtered}

    @property
    def is_filtered(self) -> bool:
        return any(v is not None for v in (self.family, self.alias, self.gate, self.threshold))


def parse_query(query: Mapping[str, str], metrics: Sequence[str]) -> RunQuery:
    """The leaderboard question in ``query`` (``sort``, ``order``, ``family``, ``alias``,
    ``gate``, ``threshold``); ``metrics`` are the metric names the runs logged.

    Examples
    --------
    >>> parse_query({"sort": "cv_auc", "order": "asc"}, ["cv_auc"]).descending
    False
    """
    known = ", ".join([START, *metrics])
    sort = query.get("sort") or START
    if sort != START and sort not in metrics:
        raise QueryError(f"sort must be {START} or a logged metric ({known}), not {sort!r}.")
    order = (query.get("order") or "desc").lower()
    if order not in ("asc", "desc"):
        raise QueryError(f"order must be asc or desc, not {query.get('order')!r}.")
    alias = query.get("alias") or None
    if alias is not None and alias not in ALIASES:
        raise QueryError(f"alias must be champion or challenger, not {alias!r}.")
    gate_text = query.get("gate") or None
    if gate_text is not None and gate_text not in ("passed", "failed"):
        raise QueryError(f"gate must be passed or failed, not {gate_text!r}.")
    return RunQuery(
        sort=sort,
        descending=order == "desc",
        family=query.get("family") or None,
        alias=alias,
        gate=None if gate_text is None else gate_text == "passed",
        threshold=_threshold(query.get("threshold") or None, metrics),
    )


def _threshold(text: str | None, metrics: Sequence[str]) -> Threshold | None:
    if text is None:
        return None
    match = _THRESHOLD.match(text)
    value = _number(match[3]) if match else None
    if match is None or value is None:
        raise QueryError(
            f"threshold must read METRIC >= NUMBER (or >, <=, <), e.g. "
            f"holdout_roc_auc>=0.8, not {text!r}."
        )
    if match[1] not in metrics:
        raise QueryError(
            f"threshold names {match[1]!r}, which no run logged; logged: {', '.join(metrics)}."
        )
    return Threshold(match[1], match[2], value)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class SqlClauses:
    """What :func:`sqlite_clauses` adds to ``SELECT ... FROM runs r``."""

    join: str  # the sort metric, or ""
    join_args: list[Any]
    where: str  # " AND ..." per filter, or ""
    where_args: list[Any]
    order: str


def sqlite_clauses(query: RunQuery, model_name: str) -> SqlClauses:
    """``query`` on MLflow's tables; runs without the sort metric come last either way."""
    join, args, where = "", [], []
    where_args: list[Any] = []
    direction = "DESC" if query.descending else "ASC"
    if query.sort == START:
        order = f"r.start_time {direction}, r.run_uuid"
    else:
        join = (
            "LEFT JOIN latest_metrics s ON s.run_uuid = r.run_uuid AND s.key = ? AND s.is_nan = 0"
        )
        args.append(query.sort)
        order = f"s.value IS NULL, s.value {direction}, r.start_time DESC, r.run_uuid"
    if query.family is not None:
        where.append(
            "EXISTS (SELECT 1 FROM params p WHERE p.run_uuid = r.run_uuid AND p.key = ? "
            "AND p.value = ?)"
        )
        where_args += [FAMILY_PARAM, query.family]
    if query.gate is not None:
        where.append(
            "EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ? "
            "AND t.value = ?)"
        )
        where_args += [GATE_PASSED_TAG, "true" if query.gate else "false"]
    if query.alias is not None:
        where.append(
            "r.run_uuid IN (SELECT v.run_id FROM registered_model_aliases a JOIN "
            "model_versions v ON v.name = a.name AND v.version = a.version "
            "WHERE a.name = ? AND a.alias = ?)"
        )
        where_args += [model_name, query.alias]
    if query.threshold is not None:
        t = query.threshold
        where.append(
            "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND "
            f"m.key = ? AND m.is_nan = 0 AND m.value {t.op} ?)"
        )
        where_args += [t.metric, t.value]
    return SqlClauses(join, args, "".join(f" AND {w}" for w in where), where_args, order)


def mlflow_search(query: RunQuery, alias_run: str | None) -> tuple[str, list[str]]:
    """``(filter_string, order_by)`` for MLflow's ``search_runs``; ``alias_run`` is the run
    of the version holding ``query.alias`` (``""`` when no version holds it)."""
    parts = []
    if query.family is not None:
        parts.append(f"params.{FAMILY_PARAM} = {_quoted(query.family)}")
    if query.gate is not None:
        parts.append(f"tags.`{GATE_PASSED_TAG}` = '{'true' if query.gate else 'false'}'")
    if query.alias is not None:
        parts.append(f"attributes.run_id = {_quoted(alias_run or '-')}")
    if query.threshold is not None:
        t = query.threshold
        parts.append(f"metrics.`{t.metric}` {t.op} {t.value!r}")
    direction = "DESC" if query.descending else "ASC"
    if query.sort == START:
        return " and ".join(parts), [f"attributes.start_time {direction}"]
    order = [f"metrics.`{query.sort}` {direction}", "attributes.start_time DESC"]
    return " and ".join(parts), order


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
