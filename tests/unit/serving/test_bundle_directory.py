"""`loopml serve --model DIR`: the model/ directory an exported image carries, served as is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_export_docker import registered_project

from loopml import Project
from loopml.errors import ConfigError, IntegrityError
from loopml.serving import export_docker
from loopml.serving._holder import BundleDirectorySource

ROWS = [
    {"customer_id": 7, "age": 33.0, "plan": "pro", "signup": "2024-02-01"},
    {"customer_id": 8, "age": None, "plan": "basic", "signup": "2024-03-05"},
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle-dir")
    p = Project(registered_project(root / "project"))
    export_docker(p.registry, "champion", root / "image", config_path=p.config_path, wheel=False)
    return root / "image" / "model"


def test_the_exported_directory_serves_what_the_registered_version_predicts(
    model_dir: Path,
) -> None:
    source = BundleDirectorySource(model_dir, runtime="python")
    version = source.resolve("champion")
    assert version == "1"
    model = source.load(version)
    batch = model.reader.read(ROWS)
    got = model.predictor.predict(batch.rows, batch.n)
    bundle, _ = Project(model_dir.parent.parent / "project").registry.load("1")
    want = bundle.predict_frame(pd.DataFrame(ROWS))
    assert got.predictions == want["prediction"].tolist()
    assert got.probabilities is not None
    for probs, (_, row) in zip(got.probabilities, want.iterrows(), strict=True):
        for label, value in probs.items():
            assert value == pytest.approx(row[f"proba_{label}"], abs=1e-9)
    assert (model.name, model.version) == ("churn", "1")


def test_a_changed_model_file_is_refused_before_it_loads(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    with (copy / "pipeline.joblib").open("ab") as fh:
        fh.write(b"\0")
    source = BundleDirectorySource(copy)
    with pytest.raises(IntegrityError, match="modified after registration"):
        source.load(source.resolve("champion"))


def test_a_directory_without_version_json_is_named(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no version\.json.*--model champion"):
        BundleDirectorySource(tmp_path)
    (tmp_path / "version.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ConfigError, match="names no model version"):
        BundleDirectorySource(tmp_path)
