"""`loopml serve` with an online comparison, as users run it (two workers, a real port):
A/B keeps a customer on one model whichever worker answers, and shadow logs both models'
predictions, which one label per request serves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_serve import _bundle, _customers, _row, _serving

from loopml import Project
from loopml.serving import PredictionLog

pytestmark = pytest.mark.services

CONFIG = """\
name: churn
problem: {target: churned}
data:
  source: {type: csv, path: customers.csv}
  id_columns: [customer_id]
serving:
  api_key_env: LOOPML_TEST_KEY
  reload_poll_seconds: 0.5
  challenger: {MODE}
"""


def _project(root: Path, mode: str) -> Project:
    """Two versions that answer differently: 1 is champion, 2 challenger."""
    frame = _customers(80, seed=0)
    frame.assign(churned="no").to_csv(root / "customers.csv", index=False)
    (root / "loopml.yaml").write_text(CONFIG.replace("{MODE}", mode), encoding="utf-8")
    project = Project(root)
    for flip in (False, True):
        project.registry.register(
            _bundle(frame, flip), params={}, metrics={}, artifacts={}, tags={}
        )
    project.registry.set_alias("1", "champion")
    project.registry.set_alias("2", "challenger")
    return project


@pytest.fixture(scope="module")
def shadow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, list[str]]]:
    """20 requests to a shadow server, each labelled; the server stopped (its log flushed)."""
    project = _project(tmp_path_factory.mktemp("shadow"), "{mode: shadow}")
    ids = [f"sh-{i}" for i in range(20)]
    with _serving(project, project.config_path) as served:
        auth = served.headers
        for i, rid in enumerate(ids):
            body = {"instances": [_row(age=20.0 + 2 * i)]}
            headers = {**auth, "X-Request-ID": rid}
            answer = httpx.post(f"{served.url}/v1/predict", json=body, headers=headers).json()
            assert (answer["model_version"], answer["variant"]) == ("1", "champion")
        labels = [{"request_id": rid, "label": "yes"} for rid in ids]
        stored = httpx.post(f"{served.url}/v1/feedback", json=labels, headers=auth)
        assert stored.status_code == 200, stored.text
        model = httpx.get(f"{served.url}/v1/model", headers=auth).json()
        assert model["challenger"]["version"] == "2"
    yield project, ids


def test_shadow_logs_both_models_and_one_label_serves_both(
    shadow: tuple[Project, list[str]],
) -> None:
    project, ids = shadow
    with PredictionLog(base_dir=project.root, mode="sync") as plog:
        rows = plog.read(0, time.time() + 1)
    champion = {r.request_id: r for r in rows if r.variant == "champion"}
    shadowed = {r.label_id: r for r in rows if r.variant == "shadow"}
    assert set(champion) == set(shadowed) == set(ids)
    assert {r.model_version for r in shadowed.values()} == {"2"}
    assert all(r.label == "yes" for r in [*champion.values(), *shadowed.values()])
    assert any(champion[i].prediction != shadowed[i].prediction for i in ids)


def test_ab_keeps_a_customer_on_one_model_on_every_worker(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    mode = "{mode: ab, fraction: 0.5, sticky_column: customer_id}"
    project = _project(tmp_path_factory.mktemp("ab"), mode)
    seen: dict[int, set[str]] = {}
    with _serving(project, project.config_path) as served:
        for i in range(60):
            customer = i % 12
            with httpx.Client(headers=served.headers) as client:  # a new connection: any worker
                answer = client.post(
                    f"{served.url}/v1/predict", json={"instances": [_row(customer_id=customer)]}
                ).json()
            seen.setdefault(customer, set()).add(answer["model_version"])
    assert all(len(versions) == 1 for versions in seen.values())
    assert {v for versions in seen.values() for v in versions} == {"1", "2"}
