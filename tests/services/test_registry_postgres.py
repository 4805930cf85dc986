"""MLflow tracking and the registry on a real PostgreSQL server (tests/services/conftest.py)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from loopml import Project
from loopml.errors import RegistryError
from loopml.registry import Registry

if TYPE_CHECKING:
    from tests.services.conftest import PostgresServer

pytestmark = [pytest.mark.services, pytest.mark.slow]
_DATABASES = itertools.count()

CONFIG = """\
name: tiny
problem: {{task: binary, target: label, positive_class: "yes", metric: roc_auc,
          success: "roc_auc >= 0.6"}}
data:
  source: {{type: csv, path: data/train.csv}}
  id_columns: [row_id]
training: {{budget_seconds: 20, cv_folds: 2, models: [linear], tune: false, ensemble: false,
           seed: {seed}, n_jobs: 1}}
tracking: {{uri: "{uri}"}}
"""


def write_project(directory: Path, uri: str, seed: int = 0, rows: int = 200) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(rows),
            "x": x.round(4),
            "color": rng.choice(["red", "green", "blue"], size=rows),
            "label": np.where(x + rng.normal(scale=0.3, size=rows) > 0, "yes", "no"),
        }
    )
    (directory / "data").mkdir(parents=True, exist_ok=True)
    frame.to_csv(directory / "data" / "train.csv", index=False)
    config = directory / "loopml.yaml"
    config.write_text(CONFIG.format(uri=uri, seed=seed), encoding="utf-8")
    return config


@pytest.fixture()
def tracking_db(postgres: PostgresServer) -> Iterator[sa.URL]:
    """A fresh, empty database for MLflow, owned by the test user; its URL without password."""
    # a fresh name each time: MLflow caches its store per URI, tables and all
    name = f"loopml_tracking_{os.getpid()}_{next(_DATABASES)}"
    with postgres.admin_connect("postgres") as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name} OWNER {postgres.user}")
    yield sa.URL.create(
        "postgresql",
        username=postgres.user,
        host=postgres.host,
        port=postgres.port,
        database=name,
    )
    with postgres.admin_connect("postgres") as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def with_password(url: sa.URL, password: str) -> str:
    return url.set(password=password).render_as_string(hide_password=False)


def test_train_register_load_and_promote(
    tracking_db: sa.URL, postgres: PostgresServer, tmp_path: Path
) -> None:
    project = Project(write_project(tmp_path / "p", with_password(tracking_db, postgres.password)))
    first = project.train()
    second = project.train()
    assert (first.version.version, first.alias) == ("1", "champion")
    assert second.version.version == "2"

    bundle, info = project.registry.load("champion")  # checksums verified on the way
    assert info.version == ("2" if second.alias == "champion" else "1")
    rows = pd.read_csv(tmp_path / "p" / "data" / "train.csv").head(5)
    assert len(bundle.predict_frame(rows.drop(columns=["label"]))) == 5
    with postgres.admin_connect(tracking_db.database) as conn:
        stored = conn.execute("SELECT name, version FROM model_versions ORDER BY version")
        assert stored.fetchall() == [("tiny", 1), ("tiny", 2)]

    loser = "1" if info.version == "2" else "2"
    promoted = project.promote(loser)
    assert "champion" in promoted.aliases
    assert promoted.promotion_reason.startswith("champion: promoted by hand")
    versions = {v.version: v for v in project.models()}
    assert set(versions) == {"1", "2"}
    assert versions[info.version].promotion_reason.startswith("was champion until")
    assert project.registry.load("champion")[1].version == loser
    history = project.registry.alias_history(limit=3)  # kept in the database too
    promotion = history.events[: 1 + [e.action for e in history.events].index("set")]
    moved = [e for e in promotion if e.alias == "champion"]  # (not a challenger's removal)
    assert [(e.action, e.version, e.previous, e.actor) for e in moved] == [
        ("removed", info.version, loser, "promote via CLI"),
        ("set", loser, info.version, "promote via CLI"),
    ]
    assert history.total >= 5 and moved[1].reason.startswith("promoted by hand")
    # the store is the database: nothing of MLflow's in the workspace but the artifacts
    assert not (tmp_path / "p" / ".loopml" / "mlflow.db").exists()


def run_train(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    loopml = str(Path(sys.executable).with_name("loopml"))
    return subprocess.Popen(
        [loopml, "train", "-c", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def check_two_versions(uri: str, outputs: list[dict[str, object]]) -> None:
    """Two distinct versions, each intact; one champion, the other coherent about it."""
    assert sorted(str(o["version"]) for o in outputs) == ["1", "2"]
    assert len({o["run_id"] for o in outputs}) == 2
    registry = Registry(uri, "tiny", "tiny", Path("/nonexistent"))
    versions = {v.version: v for v in registry.versions()}
    assert set(versions) == {"1", "2"}
    for number, info in versions.items():
        _, loaded = registry.load(number)  # raises unless every checksum matches
        assert loaded.run_id == info.run_id
    holders = {
        alias: [v for v in versions.values() if alias in v.aliases]
        for alias in ("champion", "challenger")
    }
    assert len(holders["champion"]) == 1
    assert len(holders["challenger"]) <= 1
    champion = holders["champion"][0]
    other = versions["1" if champion.version == "2" else "2"]
    assert "champion" not in other.aliases
    for output in outputs:
        assert output["alias"] in versions[str(output["version"])].aliases or (
            output["alias"] == "champion" and other.version == str(output["version"])
        )
    # the version that is not champion says why: it lost the alias, or it never got it
    assert other.promotion_reason.startswith(("was champion until", "challenger:")), (
        other.promotion_reason
    )
    assert champion.promotion_reason.startswith("champion:")


def test_two_trainings_registering_at_once_on_postgres(
    tracking_db: sa.URL, postgres: PostgresServer, tmp_path: Path
) -> None:
    # the password stays out of the project file: libpq reads PGPASSWORD
    uri = tracking_db.render_as_string(hide_password=False)
    env = {**os.environ, "PGPASSWORD": postgres.password}
    configs = [write_project(tmp_path / f"p{i}", uri, seed=i) for i in range(2)]
    procs = [run_train(c, env) for c in configs]  # both open an empty database at once
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        assert "cannot be loaded" not in err, err[-3000:]
        outputs.append(json.loads(out))
    check_two_versions(with_password(tracking_db, postgres.password), outputs)


def test_two_trainings_registering_at_once_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "mlflow.db"
    uri = f"sqlite:///{db}"
    configs = [write_project(tmp_path / f"p{i}", uri, seed=i) for i in range(2)]
    procs = [run_train(c, dict(os.environ)) for c in configs]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out))
    check_two_versions(uri, outputs)


def test_a_wrong_password_is_named_but_never_shown(tracking_db: sa.URL, tmp_path: Path) -> None:
    wrong = "no:such@pass/%word"
    uri = with_password(tracking_db, wrong)
    registry = Registry(uri, "tiny", "tiny", tmp_path / "artifacts")
    with pytest.raises(RegistryError, match="password authentication failed") as caught:
        registry.versions()
    message = str(caught.value)
    assert "cannot open the MLflow store postgresql://loopml_user:***@127.0.0.1" in message
    for spelling in (wrong, "no:such", "pass/%word", "no%3Asuch"):
        assert spelling not in message


def test_the_dashboard_reads_runs_and_versions_from_postgresql(
    tracking_db: sa.URL, postgres: PostgresServer, tmp_path: Path
) -> None:
    """The runs list, its metric chart, the comparison and the versions through MLflow's
    client (the direct read-only path is for SQLite files only)."""
    from fastapi.testclient import TestClient

    from loopml.ui.app import create_ui_app

    uri = with_password(tracking_db, postgres.password)
    project = Project(write_project(tmp_path / "p", uri))
    project.train()
    project.train()

    with TestClient(create_ui_app(Project(project.config_path))) as ui:
        first = ui.get("/api/runs", params={"per_page": 1}).json()
        second = ui.get("/api/runs", params={"per_page": 1, "page": 2}).json()
        points = ui.get("/api/runs/metrics/holdout_roc_auc").json()["points"]
        ids = [first["runs"][0]["run_id"], second["runs"][0]["run_id"]]
        compared = ui.get("/api/runs/compare", params={"run": ids})
        versions = ui.get("/api/models").json()
        pages = [ui.get(p).status_code for p in ("/", "/runs", "/versions", "/versions/1")]

    assert (first["total"], first["pages"]) == (2, 2)
    assert [r["version"] for r in first["runs"] + second["runs"]] == ["2", "1"]
    assert sorted(p["run_id"] for p in points) == sorted(ids)
    assert compared.status_code == 200 and compared.json()["runs"][0]["version"] == "2"
    assert {v["version"] for v in versions} == {"1", "2"}
    assert pages == [200, 200, 200, 200]
