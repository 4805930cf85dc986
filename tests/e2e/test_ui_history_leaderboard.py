"""The dashboard's alias history (every move the registry recorded, paginated) and the runs
leaderboard (sorted and filtered by the store), over real HTTP on the demo project of
tests/_ui_demo.py: version 1 trained as champion, version 2 retrained and promoted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import _ui_demo as demo

pytestmark = pytest.mark.slow

KEY = {"Authorization": f"Bearer {demo.KEY}"}


@pytest.fixture(scope="module")
def config() -> Path:
    return demo.demo_project()


@pytest.fixture(scope="module")
def ui(config: Path) -> Iterator[httpx.Client]:
    with demo.running_ui(config) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def _moves(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["action"], e["alias"], e["version"], e["previous"], e["actor"]) for e in events]


def test_the_history_keeps_the_training_and_the_retraining(ui: httpx.Client) -> None:
    events = ui.get("/api/models/history", params={"per_page": 500}).json()["events"]
    oldest = _moves(events)[::-1]
    assert oldest[0] == ("set", "champion", "1", None, "train")
    assert ("set", "challenger", "2", None, "retrain") in oldest
    promoted = oldest.index(("set", "champion", "2", "1", "retrain"))
    assert events[::-1][promoted]["reason"].startswith("retrained: ")
    assert ("removed", "champion", "1", "2", "retrain") in oldest[promoted:]
    assert all(e["recorded"] and e["time"] > 0 for e in events)


def test_promotions_and_a_rollback_are_each_kept_with_their_reasons(ui: httpx.Client) -> None:
    path = "/api/models/history"
    before = ui.get(path, params={"per_page": 500}).json()
    assert ui.post("/api/models/1/promote", json={"alias": "champion"}, headers=KEY).is_success
    assert ui.post("/api/models/2/promote", json={"alias": "challenger"}, headers=KEY).is_success
    back = ui.post("/api/models/2/promote", json={"alias": "champion"}, headers=KEY)
    assert back.is_success and back.json()["aliases"] == ["champion"]  # as it was

    after = ui.get(path, params={"per_page": 500}).json()
    new = after["events"][: after["total"] - before["total"]]
    assert _moves(new) == [
        ("removed", "challenger", "2", None, "promote via UI"),
        ("removed", "champion", "1", "2", "promote via UI"),
        ("set", "champion", "2", "1", "promote via UI"),
        ("set", "challenger", "2", None, "promote via UI"),
        ("removed", "champion", "2", "1", "promote via UI"),
        ("set", "champion", "1", "2", "promote via UI"),
    ]
    assert after["events"][len(new) :] == before["events"]  # nothing older was lost
    assert all("promoted by hand" in e["reason"] for e in new if e["action"] == "set")
    assert new[1]["reason"] == "version 2 became champion"
    assert new[5]["text"] == "version 1 became champion, replacing version 2"
    times = [e["time"] for e in after["events"]]
    assert times == sorted(times, reverse=True)

    page = ui.get("/versions")
    assert page.status_code == 200
    assert "version 1 became champion, replacing version 2" in page.text
    assert "promote via UI" in page.text


def test_the_history_is_paginated_on_the_server(ui: httpx.Client) -> None:
    everything = ui.get("/api/models/history", params={"per_page": 500}).json()
    first = ui.get("/api/models/history", params={"per_page": 2}).json()
    second = ui.get("/api/models/history", params={"per_page": 2, "page": 2}).json()
    assert first["total"] == second["total"] == everything["total"] >= 4
    assert first["pages"] == -(-everything["total"] // 2)
    assert first["events"] + second["events"] == everything["events"][:4]
    past = ui.get("/api/models/history", params={"per_page": 2, "page": first["pages"] + 1})
    assert past.status_code == 404 and "alias events make" in past.json()["error"]
    assert ui.get("/versions", params={"per_page": 2, "page": 2}).status_code == 200


def _ids(ui: httpx.Client, **query: str) -> list[str]:
    response = ui.get("/api/runs", params=query)
    assert response.status_code == 200, response.text
    return [r["run_id"] for r in response.json()["runs"]]


def test_the_leaderboard_sorts_by_a_metric_or_the_start_time(ui: httpx.Client) -> None:
    runs = ui.get("/api/runs").json()["runs"]
    by_auc = sorted(runs, key=lambda r: r["metrics"]["holdout_roc_auc"], reverse=True)
    assert _ids(ui, sort="holdout_roc_auc") == [r["run_id"] for r in by_auc]
    assert _ids(ui, sort="holdout_roc_auc", order="asc") == [r["run_id"] for r in by_auc][::-1]
    newest = [r["run_id"] for r in runs]
    assert _ids(ui, sort="start_time", order="asc") == newest[::-1]
    body = ui.get("/api/runs", params={"sort": "holdout_roc_auc", "per_page": 1}).json()
    assert (body["total"], body["pages"], len(body["runs"])) == (2, 2, 1)
    assert body["query"]["sort"] == "holdout_roc_auc" and body["query"]["order"] == "desc"


def test_the_leaderboard_filters_on_the_server(ui: httpx.Client) -> None:
    runs = {r["version"]: r for r in ui.get("/api/runs").json()["runs"]}
    champion = ui.get("/api/overview").json()["champion"]["version"]
    assert _ids(ui, alias="champion") == [runs[champion]["run_id"]]
    assert _ids(ui, alias="challenger") == []
    family = runs["1"]["params"]["model_family"]
    same = [r["run_id"] for r in runs.values() if r["params"]["model_family"] == family]
    assert sorted(_ids(ui, family=family)) == sorted(same)
    assert _ids(ui, family="no-such-family") == []
    passed = [r["run_id"] for r in runs.values() if r["tags"]["loopml.gate_passed"] == "true"]
    assert sorted(_ids(ui, gate="passed")) == sorted(passed)
    assert len(_ids(ui, gate="failed")) == 2 - len(passed)
    best = max(r["metrics"]["holdout_roc_auc"] for r in runs.values())
    top = [r["run_id"] for r in runs.values() if r["metrics"]["holdout_roc_auc"] >= best]
    assert _ids(ui, threshold=f"holdout_roc_auc>={best!r}") == top
    assert len(_ids(ui, threshold=f"holdout_roc_auc < {best!r}")) == 2 - len(top)
    body = ui.get("/api/runs", params={"gate": "passed", "alias": "champion"}).json()
    assert body["total"] == 1 and body["query"]["filtered"] is True


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"sort": "nope"}, "sort must be start_time or a logged metric ("),
        ({"order": "up"}, "order must be asc or desc, not 'up'"),
        ({"alias": "boss"}, "alias must be champion or challenger, not 'boss'"),
        ({"gate": "maybe"}, "gate must be passed or failed, not 'maybe'"),
        ({"threshold": "holdout_roc_auc ~ 1"}, "threshold must read METRIC >= NUMBER"),
        ({"threshold": "holdout_roc_auc >= nan"}, "threshold must read METRIC >= NUMBER"),
        ({"threshold": "nope>=1"}, "threshold names 'nope', which no run logged"),
    ],
)
def test_an_unknown_sort_or_filter_is_a_422(
    ui: httpx.Client, query: dict[str, str], message: str
) -> None:
    response = ui.get("/api/runs", params=query)
    assert response.status_code == 422 and message in response.json()["error"]
    page = ui.get("/runs", params=query)
    assert page.status_code == 422


def test_each_row_leads_to_its_trials(ui: httpx.Client) -> None:
    page = ui.get("/runs", params={"sort": "holdout_roc_auc", "gate": "passed"})
    assert page.status_code == 200 and 'aria-sort="descending"' in page.text
    run = ui.get("/api/runs").json()["runs"][0]
    assert f'href="/runs/{run["run_id"]}/report#leaderboard"' in page.text
    report = ui.get(f"/runs/{run['run_id']}/report")
    assert report.status_code == 200 and 'id="leaderboard"' in report.text
    missing = ui.get("/runs/0123456789abcdef/report")
    assert missing.status_code == 404 and "logged no training report" in missing.text


def test_mlflow_s_search_answers_as_the_sqlite_reader_does(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another store (PostgreSQL, a server) is asked through ``search_runs``: the same
    answers, on the same store."""
    from loopml import Project
    from loopml.ui import _runs
    from loopml.ui._leaderboard import RunQuery, Threshold

    project = Project(config)
    cfg = project.config
    store = _runs.RunStore(project.registry.uri, cfg.experiment_name, cfg.model_name)
    queries = [
        RunQuery(),
        RunQuery(sort="holdout_roc_auc", descending=False),
        RunQuery(alias="champion"),
        RunQuery(gate=True, threshold=Threshold("holdout_roc_auc", ">", 0.5)),
        RunQuery(family="no-such-family"),
    ]
    read = [[r.run_id for r in store.page(1, 10, q).runs] for q in queries]
    monkeypatch.setattr(_runs, "sqlite_file", lambda uri: None)
    searched = [[r.run_id for r in store.page(1, 10, q).runs] for q in queries]
    assert searched == read
    assert store.page(1, 1, queries[1]).total == 2
