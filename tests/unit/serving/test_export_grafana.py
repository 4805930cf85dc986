"""The Grafana dashboard shipped in deploy/grafana/ uses only metrics the service exports.

Every PromQL expression of the dashboard (panels, variables, annotations) is parsed with
Prometheus' own ``promtool`` (Debian's ``prometheus`` package) and its metric names are
checked against ``loopml.serving._contract.METRICS``, the list the service exports, and
``MONITORING_METRICS``, the gauges it exports once ``loopml monitor`` has run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import _needs as needs
from loopml.serving._contract import METRICS, MONITORING_METRICS

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "loopml.json"

#: PromQL words that are not metric names.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}  # fmt: skip
#: What a histogram exports besides its name.
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every query of the dashboard."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["definition"])
            assert found, variable["definition"]
            yield f"variable {variable['name']!r}", found.group(1)
    for note in dashboard["annotations"]["list"]:
        yield f"annotation {note['name']!r}", note["expr"]


def concrete(expr: str) -> str:
    """The expression as Prometheus receives it once Grafana fills in its variables."""
    return expr.replace("$__rate_interval", "1m").replace("$job", ".*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    words = re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text)
    return {m.group(1) for m in words if not m.group(2) and m.group(1).lower() not in KEYWORDS}


def exported(name: str) -> bool:
    """Whether the service exports ``name``: a listed metric, or a histogram's series."""
    if name in METRICS or name in MONITORING_METRICS:
        return True
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and METRICS.get(base, "").startswith("histogram"):
            return True
    return False


def test_every_query_reads_only_metrics_the_service_exports(dashboard: dict[str, Any]) -> None:
    unknown = {
        where: sorted(n for n in metric_names(expr) if not exported(n))
        for where, expr in expressions(dashboard)
    }
    assert {k: v for k, v in unknown.items() if v} == {}
    assert sum(1 for _ in expressions(dashboard)) >= 12


def test_the_check_is_live() -> None:
    expr = 'sum by (endpoint) (rate(loopml_request_total{status=~"5.."}[5m])) / scalar(up)'
    assert metric_names(expr) == {"loopml_request_total", "up"}
    assert not exported("loopml_request_total") and not exported("up")
    assert exported("loopml_request_duration_seconds_bucket")
    assert not exported("loopml_requests_bucket")  # a counter has no buckets


def test_the_dashboard_shows_what_operators_need(dashboard: dict[str, Any]) -> None:
    used = {n for _, expr in expressions(dashboard) for n in metric_names(expr)}
    assert set(METRICS) - {n.removesuffix("_bucket") for n in used} == set()
    queries = " ".join(expr for _, expr in expressions(dashboard))
    for quantile in ("0.5", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(" in queries
    assert "sum by (status) (rate(loopml_request_errors_total" in queries
    assert "max by (name, version, runtime) (loopml_model_info" in queries


def test_panels_do_not_overlap_and_ids_are_unique(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, panel["title"]
        cells |= mine
    assert all(
        p.get("datasource", {}).get("uid") == "${datasource}" for p in panels if p["type"] != "row"
    )


def test_promtool_parses_every_query(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """Prometheus' own parser: each query as a recording rule, checked by `promtool`."""
    promtool = shutil.which("promtool")
    if promtool is None:
        needs.unavailable("promtool is not installed (apt-get install prometheus)")
    rules = [
        {"record": f"loopml:dashboard_query_{i}", "expr": concrete(expr)}
        for i, (_, expr) in enumerate(expressions(dashboard))
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [str(promtool), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout
    broken = tmp_path / "broken.yml"
    rules[0]["expr"] = "sum by (le (rate(loopml_requests_total[1m]))"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    failed = subprocess.run([str(promtool), "check", "rules", str(broken)], capture_output=True)
    assert failed.returncode != 0
