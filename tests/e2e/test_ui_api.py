"""The dashboard's JSON API and pages over real HTTP, on a demo project with the whole story:
two versions, the retraining's promotion, drift found by monitoring."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import _ui_demo as demo

pytestmark = pytest.mark.slow

#: The demo's e-mail addresses ("quinn.0@mail.example.org"): personal data, never shown.
EMAIL = re.compile(r"[a-z]+\.\d+@")


@pytest.fixture(scope="module")
def config() -> Path:
    return demo.demo_project()


@pytest.fixture(scope="module")
def ui(config: Path) -> Iterator[httpx.Client]:
    with demo.running_ui(config) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def test_the_overview_tells_the_story(ui: httpx.Client) -> None:
    body = ui.get("/api/overview").json()
    assert body["problem"] == {
        "task": "binary",
        "target": "churned",
        "metric": "roc_auc",
        "gate": "roc_auc >= 0.75",
    }
    assert body["champion"]["version"] == "2" and body["challenger"] is None
    assert body["champion"]["gate"]["passed"] is True
    assert body["runs"] == 2 and body["versions"] == 2
    assert body["monitoring"]["alarm"] is True and body["monitoring"]["model_version"] == "1"
    decision = body["last_decision"]
    assert decision["promoted"] is True
    assert (decision["champion_version"], decision["challenger_version"]) == ("1", "2")


def test_runs_are_paginated_on_the_server(ui: httpx.Client) -> None:
    first = ui.get("/api/runs", params={"per_page": 1}).json()
    second = ui.get("/api/runs", params={"per_page": 1, "page": 2}).json()
    assert (first["total"], first["pages"]) == (2, 2)
    assert [r["version"] for r in first["runs"] + second["runs"]] == ["2", "1"]  # newest first
    run = first["runs"][0]
    assert run["params"]["model_family"] and "holdout_roc_auc" in run["metrics"]
    points = ui.get("/api/runs/metrics/holdout_roc_auc").json()["points"]
    assert [p["run_id"] for p in points] == [second["runs"][0]["run_id"], run["run_id"]]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"page": "0"}, 422, "page must be a whole number from 1, not '0'"),
        ({"page": "two"}, 422, "page must be a whole number from 1, not 'two'"),
        ({"page": "3", "per_page": "1"}, 404, "page 3 is past the last page: 2 runs make 2"),
        ({"per_page": "100000"}, 422, "per_page must be a whole number from 1 to 500"),
    ],
)
def test_a_bad_page_is_a_clear_4xx(
    ui: httpx.Client, query: dict[str, str], status: int, message: str
) -> None:
    response = ui.get("/api/runs", params=query)
    assert response.status_code == status
    assert message in response.json()["error"]
    page = ui.get("/runs", params=query)  # the page says the same, as HTML
    assert page.status_code == status and message in html.unescape(page.text)


def test_comparing_runs_puts_differences_first(ui: httpx.Client) -> None:
    ids = [r["run_id"] for r in ui.get("/api/runs").json()["runs"]]
    body = ui.get("/api/runs/compare", params={"run": ids}).json()
    assert [r["version"] for r in body["runs"]] == ["2", "1"]
    sections = {s["name"]: s["rows"] for s in body["sections"]}
    assert list(sections) == ["metrics", "parameters", "data", "configuration"]
    for rows in sections.values():
        flags = [row["differs"] for row in rows]
        assert flags == sorted(flags, reverse=True)  # every difference before the first same
    data = {row["key"]: row for row in sections["data"]}
    # the challenger learned from the sources plus the labelled traffic
    assert data["data_fingerprint"]["differs"] and data["train_rows"]["differs"]
    config = {row["key"]: row for row in sections["configuration"]}
    assert config["problem.target"]["values"] == ["churned", "churned"]
    assert not config["problem.target"]["differs"]
    page = ui.get("/runs/compare", params={"run": ids}).text
    assert "Show only differences" in page and 'class="differs"' in page


@pytest.mark.parametrize(
    ("runs", "status", "message"),
    [
        (["nope", "nada"], 404, "no training run nope, nada in this project"),
        (["one"], 422, "choose at least two runs to compare"),
    ],
)
def test_comparing_unknown_or_too_few_runs_is_refused(
    ui: httpx.Client, runs: list[str], status: int, message: str
) -> None:
    response = ui.get("/api/runs/compare", params={"run": runs})
    assert response.status_code == status and message in response.json()["error"]


def test_versions_show_gates_reasons_history_and_reports(ui: httpx.Client) -> None:
    versions = ui.get("/api/models").json()
    assert [(v["version"], v["aliases"]) for v in versions] == [("2", ["champion"]), ("1", [])]
    two = ui.get("/api/models/2").json()
    assert two["promotion_reason"].startswith("champion: ")  # retrained, or by hand since
    assert two["decision"]["promoted"] is True and two["has_report"] is True
    texts = [e["text"] for e in two["history"]]
    assert texts[0].startswith("version 2 registered (")  # its own events only
    assert "version 2 became champion, replacing version 1 (retrain)" in texts
    report = ui.get("/versions/2/report")
    assert report.status_code == 200 and "training report" in report.text
    assert ui.get("/reports/churn-demo-v2-retrain.html").status_code == 200
    assert ui.get("/reports/..%2Floopml.yaml").status_code == 404


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/models/9", 404, "has no version 9"),
        ("/api/models/best", 404, "'best' is not a model version"),
        ("/api/monitoring/1/windows/999", 404, "has no monitoring window 999"),
        ("/api/monitoring/1/windows/x", 422, "the window must be a whole number"),
        ("/api/runs/metrics/nope", 404, "no run logged a metric 'nope'"),
    ],
)
def test_unknown_things_are_a_clear_4xx(
    ui: httpx.Client, path: str, status: int, message: str
) -> None:
    response = ui.get(path)
    assert response.status_code == status and message in response.json()["error"]


def test_promoting_needs_the_key_and_moves_the_alias(ui: httpx.Client) -> None:
    path = "/api/models/1/promote"
    champion = {"alias": "champion"}
    refused = ui.post(path, json=champion)
    assert refused.status_code == 401 and "none was sent" in refused.json()["error"]
    wrong = ui.post(path, json=champion, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and "is not valid" in wrong.json()["error"]
    key = {"Authorization": f"Bearer {demo.KEY}"}
    bad_alias = ui.post(path, json={"alias": "boss"}, headers=key)
    assert bad_alias.status_code == 422
    assert "alias must be one of champion, challenger, not 'boss'" in bad_alias.json()["error"]
    missing = ui.post("/api/models/9/promote", json=champion, headers=key)
    assert missing.status_code == 404 and "has no version 9" in missing.json()["error"]
    assert ui.get("/api/overview").json()["champion"]["version"] == "2"  # nothing moved

    done = ui.post(path, json=champion, headers=key)
    assert done.status_code == 200 and done.json()["aliases"] == ["champion"]
    assert "promoted by hand" in done.json()["promotion_reason"]
    assert ui.get("/api/overview").json()["champion"]["version"] == "1"
    back = ui.post("/api/models/2/promote", json=champion, headers=key)  # as it was
    assert back.status_code == 200
    assert ui.get("/api/overview").json()["champion"]["version"] == "2"


def test_without_a_key_configured_every_write_is_refused(config: Path) -> None:
    with demo.running_ui(config, key=None) as url:
        response = httpx.post(
            f"{url}/api/models/1/promote",
            json={"alias": "champion"},
            headers={"Authorization": "Bearer anything"},
        )
    assert response.status_code == 403
    assert f"the environment variable '{demo.KEY_ENV}'" in response.json()["error"]


def test_monitoring_shows_the_drift_and_the_retraining(ui: httpx.Client) -> None:
    body = ui.get("/api/monitoring/1").json()
    windows = body["windows"]
    assert len(windows) >= 8 and all(w["rows"] == 400 for w in windows[:8])
    drifted = [w["index"] for w in windows if w["drifted"]]
    assert drifted and drifted[0] >= 4  # none before the drift knob turned on day 5
    kinds = [e["kind"] for e in body["events"]]
    assert "retraining" in kinds and "alias" in kinds
    window = ui.get(f"/api/monitoring/1/windows/{drifted[0]}").json()
    assert window["drifted"] and window["alarms"]
    assert {f["name"] for f in window["features"] if f["drifted"]} & {"plan", "region"}


def test_the_data_page_shows_findings_without_personal_data(ui: httpx.Client) -> None:
    body = ui.get("/api/data").json()
    findings = body["quality"]["findings"]
    assert any(f["id"] == "pii-column" and f["column"] == "email" for f in findings)
    for finding in findings:
        assert "@" not in str(finding["examples"])  # no e-mail address leaks through examples
    assert [s["version"] for s in body["training_sets"]] == ["1", "2"]
    assert "email" not in body["training_sets"][0]["columns"]  # dropped: never a feature
    assert "@example" not in ui.get("/data").text
    assert body["profile"]["written"] > 0
    profile = ui.get("/profile")
    assert profile.status_code == 200 and "data profile" in profile.text


def test_every_page_answers_and_ships_its_own_assets(ui: httpx.Client) -> None:
    for path in ("/", "/runs", "/versions", "/versions/1", "/data", "/monitoring"):
        page = ui.get(path)
        assert page.status_code == 200, path
        assert "http://" not in page.text and "https://" not in page.text, path  # offline
    for path in ("/", "/runs", "/versions/1", "/versions/1/report", "/data", "/profile"):
        assert not EMAIL.search(ui.get(path).text), path
    for path in ("/api/runs", "/api/data", "/api/models", "/api/monitoring/1/windows/7"):
        assert not EMAIL.search(ui.get(path).text), path
    assert ui.get("/static/ui.css").status_code == 200
    assert ui.get("/static/ui.js").headers["content-type"].startswith("text/javascript")
    assert ui.get("/static/..%2F_api.py").status_code == 404


def test_a_timeline_follows_labels_logged_after_it_was_computed(
    ui: httpx.Client, config: Path
) -> None:
    from loopml import Project
    from loopml.serving import Feedback, PredictionLog

    before = ui.get("/api/monitoring/1").json()["windows"]
    last = before[-1]
    assert last["labelled"] == 0  # the last day's labels had not come back
    project = Project(config)
    url = project.config.serving.prediction_log.url
    with PredictionLog(url, base_dir=project.root, mode="sync") as plog:
        rows = plog.read(last["start"], last["end"], model_version="1")[:50]
        plog.feedback([Feedback(r.request_id, "no", r.time + 1) for r in rows])
    after = ui.get("/api/monitoring/1").json()["windows"]
    assert after[-1]["labelled"] == 50
