"""Validate, profile and the privacy policy through the CLI, on the demo's messy data."""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from loopml import Project
from loopml.cli import app
from loopml.demo import write_demo_project

runner = CliRunner()


def _luhn_card(rng: np.random.Generator) -> str:
    digits = [4, *rng.integers(0, 10, size=14).tolist()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i : i + 4] for i in range(0, 16, 4))


def _demo(tmp_path: Path, **overrides: object) -> Path:
    """A small demo project whose customers also carry phone and card numbers."""
    config = write_demo_project(tmp_path / "p", rows=900, budget_seconds=3, cv_folds=2)
    rng = np.random.default_rng(5)
    for name in ("customers.csv", "new_customers.csv"):
        path = config.parent / "data" / name
        frame = pd.read_csv(path)
        frame["phone"] = [
            f"+44 20 7{rng.integers(100, 999)} {rng.integers(1000, 9999)}"
            for _ in range(len(frame))
        ]
        frame["card_number"] = [_luhn_card(rng) for _ in range(len(frame))]
        frame.to_csv(path, index=False)
    raw = yaml.safe_load(config.read_text())
    raw["data"]["drop_columns"] = []  # let the privacy policy find the e-mails itself
    for key, value in overrides.items():
        raw[key] = value
    config.write_text(yaml.safe_dump(raw))
    return config


def _all_bytes(project: Path, scores: Path) -> bytes:
    """Every byte the run left: MLflow store and artifacts (pipelines unpickled), reports,
    profile, scores."""
    blobs = [scores.read_bytes()]
    with sqlite3.connect(project / ".loopml" / "mlflow.db") as con:
        for (table,) in con.execute("select name from sqlite_master where type='table'"):
            for row in con.execute(f"select * from {table}"):
                blobs.append(repr(row).encode())
    for path in (project / ".loopml").rglob("*"):
        if not path.is_file() or path.suffix == ".db":
            continue
        if path.suffix == ".joblib":
            blobs.append(pickle.dumps(joblib.load(path)))  # decompressed, as it lives in memory
        else:
            blobs.append(path.read_bytes())
    return b"\n".join(blobs)


def _raw_pii(project: Path) -> list[str]:
    frame = pd.concat(
        [
            pd.read_csv(project / "data" / "customers.csv"),
            pd.read_csv(project / "data" / "new_customers.csv"),
        ]
    )
    values = []
    for column in ("email", "phone", "card_number"):
        values += frame[column].dropna().astype(str).sample(40, random_state=0).tolist()
    return values


@pytest.mark.parametrize("policy", ["drop", "hash"])
def test_no_raw_personal_data_leaves_the_run(tmp_path: Path, policy: str, monkeypatch) -> None:
    config = _demo(tmp_path, privacy={"pii": policy})
    project_dir = config.parent
    env = {"LOOPML_PII_SALT": "s3cret-salt"} if policy == "hash" else {}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    trained = runner.invoke(app, ["train", "-c", str(config), "--json"])
    assert trained.exit_code == 0, trained.output
    scores = project_dir / "scores.csv"
    scored = runner.invoke(
        app,
        [
            "score",
            str(project_dir / "data" / "new_customers.csv"),
            str(scores),
            "-c",
            str(config),
            "--model",
            "latest",
        ],
    )
    assert scored.exit_code == 0, scored.output
    profiled = runner.invoke(app, ["profile", "-c", str(config)])
    assert profiled.exit_code == 0, profiled.output
    blob = _all_bytes(project_dir, scores)
    leaked = [v for v in _raw_pii(project_dir) if v.encode() in blob]
    assert leaked == []
    report = Project(config, env=env).validate()
    pii = {f.column: f.message for f in report.findings if f.id == "pii-column"}
    assert {"email", "phone", "card_number"} <= set(pii)
    assert all(
        policy.replace("drop", "dropped").replace("hash", "hashed") in m for m in pii.values()
    )


def test_hash_without_a_salt_is_refused_before_any_work(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LOOPML_PII_SALT", raising=False)
    config = _demo(tmp_path, privacy={"pii": "hash"})
    result = runner.invoke(app, ["train", "-c", str(config)])
    assert result.exit_code == 2
    assert "LOOPML_PII_SALT" in result.stderr
    assert not (config.parent / ".loopml" / "mlflow.db").exists()


def test_validate_reports_findings_and_fails_on_error_expectations(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    ok = runner.invoke(app, ["validate", "-c", str(config), "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    ids = {f["id"] for f in report["findings"]}
    assert {"duplicate-rows", "inconsistent-spellings", "numbers-as-text", "pii-column"} <= ids
    assert report["counts"]["error"] == 0

    raw = yaml.safe_load(config.read_text())
    raw["quality"] = {"expectations": {"age": {"min": 30}, "plan": {"allowed": ["basic"]}}}
    config.write_text(yaml.safe_dump(raw))
    failed = runner.invoke(app, ["validate", "-c", str(config), "--json"])
    assert failed.exit_code == 3
    assert "validation failed" in failed.stderr
    violated = [
        f for f in json.loads(failed.stdout)["findings"] if f["id"] == "expectation-violated"
    ]
    assert {f["column"] for f in violated} == {"age", "plan"}
    assert all(f["severity"] == "error" and f["count"] > 0 for f in violated)
    train = runner.invoke(app, ["train", "-c", str(config)])
    assert train.exit_code == 3
    assert "nothing was trained" in train.stderr and "age" in train.stderr
    assert not (config.parent / ".loopml" / "mlflow.db").exists()


def test_profile_writes_a_self_contained_page(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    out = tmp_path / "profile.html"
    result = runner.invoke(app, ["profile", "-c", str(config), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["profile"] == str(out)
    html = out.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html or "Plotly.react" in html
    assert "churned" in html and "inconsistent-spellings" in html
    assert "@example" not in html  # e-mails were dropped before profiling


def test_incremental_collect_returns_only_new_rows(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["data"]["incremental"] = {"column": "signup_at"}
    config.write_text(yaml.safe_dump(raw))
    project = Project(config)
    first = project.collect(incremental=True)
    assert len(first.frame) == len(pd.read_csv(config.parent / "data" / "customers.csv"))
    project.commit_watermark(first)
    path = config.parent / "data" / "customers.csv"
    frame = pd.read_csv(path)
    later = frame.tail(3).assign(signup_at="2030-01-01 00:00:00")
    pd.concat([frame, later]).to_csv(path, index=False)
    second = Project(config).collect(incremental=True)
    assert len(second.frame) == 3
    assert str(second.watermark).startswith("2030-01-01")


def test_cost_matrix_tunes_the_registered_models_threshold(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["problem"]["threshold"] = "cost"
    raw["problem"]["costs"] = {"false_positive": 1.0, "false_negative": 8.0}
    raw["problem"]["success"] = "roc_auc >= 0.5"
    config.write_text(yaml.safe_dump(raw))
    result = Project(config).train()
    assert "decision threshold" in result.report.read_text(encoding="utf-8")
    bundle, _ = Project(config).registry.load(result.version.version)
    frame = pd.read_csv(config.parent / "data" / "new_customers.csv")
    scored = bundle.predict_frame(frame)
    threshold = bundle.pipeline.threshold
    assert threshold < 0.5  # misses cost 8x a false alarm: flag earlier
    expected = np.where(scored["proba_yes"] >= threshold, "yes", "no")
    assert scored["prediction"].tolist() == expected.tolist()
    metrics = Project(config).model(result.version.version).metrics
    assert "holdout_expected_cost" in metrics
