"""ModelBundle: prediction, save/load with checksums, format versions (loopml.registry._bundle)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from loopml.errors import IntegrityError, RegistryError, SchemaError
from loopml.registry import FORMAT_VERSION, ModelBundle, sha256_file

MakeBundle = Callable[..., ModelBundle]


@pytest.fixture(scope="module")
def bundle(make_bundle: MakeBundle) -> ModelBundle:
    return make_bundle()


@pytest.fixture
def saved(bundle: ModelBundle, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    directory = tmp_path / "bundle"
    return directory, bundle.save(directory)


def _rewrite_manifest(directory: Path, **changes: object) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _refuse_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pipeline was unpickled before its checksum was verified")

    monkeypatch.setattr(joblib, "load", fail)


# ---------------------------------------------------------------------------- prediction


def test_predict_frame_classification(bundle: ModelBundle, churn: pd.DataFrame) -> None:
    frame = churn.set_index(pd.RangeIndex(100, 120))

    out = bundle.predict_frame(frame)

    assert list(out.columns) == ["prediction", "proba_no", "proba_yes"]
    assert bundle.output_columns() == ["prediction", "proba_no", "proba_yes"]
    assert out.index.tolist() == list(range(100, 120))
    np.testing.assert_allclose(out[["proba_no", "proba_yes"]].sum(axis=1), 1.0)
    expected = np.where(out["proba_yes"] > out["proba_no"], "yes", "no")
    assert out["prediction"].tolist() == expected.tolist()
    raw = bundle.pipeline.predict_proba(churn)
    np.testing.assert_array_equal(out[["proba_no", "proba_yes"]].to_numpy(), raw)


def test_predict_frame_regression(make_bundle: MakeBundle, churn: pd.DataFrame) -> None:
    bundle = make_bundle(target="spend")

    out = bundle.predict_frame(churn)

    assert list(out.columns) == ["prediction"] == bundle.output_columns()
    assert out["prediction"].dtype == np.float64
    np.testing.assert_array_equal(out["prediction"], bundle.pipeline.predict(churn))


def test_predict_frame_needs_no_id_columns(bundle: ModelBundle, churn: pd.DataFrame) -> None:
    out = bundle.predict_frame(churn.drop(columns=["customer_id"]))
    assert len(out) == 20


def test_predict_frame_with_a_missing_column(bundle: ModelBundle, churn: pd.DataFrame) -> None:
    with pytest.raises(
        SchemaError, match=r"the input is missing 1 column\(s\) the model needs: plan\. Add them"
    ):
        bundle.predict_frame(churn.drop(columns=["plan"]))


def test_predict_frame_with_several_missing_columns(
    bundle: ModelBundle, churn: pd.DataFrame
) -> None:
    with pytest.raises(SchemaError, match=r"missing 2 column\(s\) the model needs: age, signup"):
        bundle.predict_frame(churn[["customer_id", "plan"]])


# ---------------------------------------------------------------------------- save / load


def test_save_writes_manifest_and_checksums(
    bundle: ModelBundle, saved: tuple[Path, dict[str, str]]
) -> None:
    directory, checksums = saved

    assert sorted(p.name for p in directory.iterdir()) == ["manifest.json", "pipeline.joblib"]
    assert checksums == {
        "pipeline.joblib": sha256_file(directory / "pipeline.joblib"),
        "manifest.json": sha256_file(directory / "manifest.json"),
    }
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION == 1
    assert manifest["checksums"] == {"pipeline.joblib": checksums["pipeline.joblib"]}
    assert manifest["problem"] == bundle.problem.to_dict()
    assert manifest["schema"] == bundle.schema.to_dict()
    assert manifest["id_columns"] == ["customer_id"]
    assert manifest["info"] == {"family": "linear", "cv_score": 0.9, "params": {"C": 1.0}}


def test_round_trip_predicts_the_same(
    bundle: ModelBundle, saved: tuple[Path, dict[str, str]], churn: pd.DataFrame
) -> None:
    directory, checksums = saved

    loaded = ModelBundle.load(directory, expected=checksums)

    pd.testing.assert_frame_equal(loaded.predict_frame(churn), bundle.predict_frame(churn))
    assert loaded.schema == bundle.schema
    assert loaded.problem == bundle.problem
    assert loaded.metrics == bundle.metrics
    assert loaded.config == bundle.config
    assert loaded.reference == bundle.reference
    assert loaded.data_fingerprint == bundle.data_fingerprint
    assert loaded.id_columns == ("customer_id",)
    assert loaded.info == {"family": "linear", "cv_score": 0.9, "params": {"C": 1.0}}


def test_round_trip_regression(
    make_bundle: MakeBundle, tmp_path: Path, churn: pd.DataFrame
) -> None:
    bundle = make_bundle(target="spend", family="hist_gradient_boosting")
    bundle.save(tmp_path / "b")

    loaded = ModelBundle.load(tmp_path / "b")

    assert loaded.problem.task == "regression"
    pd.testing.assert_frame_equal(loaded.predict_frame(churn), bundle.predict_frame(churn))


def test_saving_twice_gives_the_same_pipeline_checksum(bundle: ModelBundle, tmp_path: Path) -> None:
    first = bundle.save(tmp_path / "a")
    second = bundle.save(tmp_path / "b")
    assert first == second


def test_a_format_1_manifest_with_only_the_required_keys_loads(
    bundle: ModelBundle, tmp_path: Path, churn: pd.DataFrame
) -> None:
    """A hand-written version 1 manifest with only the required keys: the optional ones default.

    Bundles written by real releases are loaded in tests/unit/test_bundle_fixtures.py.
    """
    directory = tmp_path / "old"
    directory.mkdir()
    joblib.dump(bundle.pipeline, directory / "pipeline.joblib")
    manifest = {
        "format_version": 1,
        "problem": {
            "task": "binary",
            "target": "churned",
            "metric": "roc_auc",
            "gate": "roc_auc >= 0.8",
            "classes": ["no", "yes"],
            "positive_class": "yes",
        },
        "schema": bundle.schema.to_dict(),
        "checksums": {"pipeline.joblib": sha256_file(directory / "pipeline.joblib")},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    loaded = ModelBundle.load(directory)

    assert str(loaded.problem.gate) == "roc_auc >= 0.8"
    assert (loaded.metrics, loaded.config, loaded.reference, loaded.info) == ({}, {}, {}, {})
    assert loaded.id_columns == ()
    pd.testing.assert_frame_equal(loaded.predict_frame(churn), bundle.predict_frame(churn))


# ---------------------------------------------------------------------------- integrity


def test_modified_pipeline_is_refused(
    saved: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, _ = saved
    with (directory / "pipeline.joblib").open("ab") as fh:
        fh.write(b"\0")
    _refuse_unpickling(monkeypatch)

    with pytest.raises(
        IntegrityError, match=r"pipeline\.joblib was modified after registration .* Refusing"
    ):
        ModelBundle.load(directory)


def test_missing_pipeline_is_refused(saved: tuple[Path, dict[str, str]]) -> None:
    directory, _ = saved
    (directory / "pipeline.joblib").unlink()

    with pytest.raises(IntegrityError, match=r"pipeline\.joblib is missing; the model cannot"):
        ModelBundle.load(directory)


def test_expected_checksums_catch_a_rewritten_manifest(
    bundle: ModelBundle,
    saved: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # someone replaces the pipeline and fixes up the manifest's checksum to match
    directory, registered = saved
    joblib.dump(bundle.pipeline, directory / "pipeline.joblib", compress=0)
    _rewrite_manifest(
        directory, checksums={"pipeline.joblib": sha256_file(directory / "pipeline.joblib")}
    )
    ModelBundle.load(directory)  # consistent with itself ...

    _refuse_unpickling(monkeypatch)
    with pytest.raises(IntegrityError, match=r"was modified after registration"):
        ModelBundle.load(directory, expected=registered)  # ... but not with the registry


def test_expected_checksum_of_the_manifest(saved: tuple[Path, dict[str, str]]) -> None:
    directory, registered = saved
    _rewrite_manifest(directory, metrics={"roc_auc": 0.99})

    with pytest.raises(IntegrityError, match=r"manifest\.json was modified after registration"):
        ModelBundle.load(directory, expected=registered)


def test_unknown_format_version(saved: tuple[Path, dict[str, str]]) -> None:
    directory, _ = saved
    _rewrite_manifest(directory, format_version=99)

    with pytest.raises(
        RegistryError, match=r"has format version 99; this loopml reads 1\. Upgrade loopml"
    ):
        ModelBundle.load(directory)


def test_missing_format_version(saved: tuple[Path, dict[str, str]]) -> None:
    directory, _ = saved
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["format_version"]
    path.write_text(json.dumps(manifest), encoding="utf-8")

    with pytest.raises(RegistryError, match="has format version None"):
        ModelBundle.load(directory)


def test_a_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"is not a loopml model bundle \(no manifest\.json\)"):
        ModelBundle.load(tmp_path)
