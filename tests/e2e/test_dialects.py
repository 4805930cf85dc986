"""CSV dialects through the CLI: a ';'-separated file with decimal commas is read the same way,
and right, by init, validate, profile, train, evaluate and score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from loopml import Project
from loopml.cli import app
from loopml.metrics import score

runner = CliRunner()


def _wine(path: Path, n: int, seed: int, *, labelled: bool = True, decimals: int = 4) -> None:
    """A Portuguese-style export: ';' separators, decimal commas, thousands dots."""
    rng = np.random.default_rng(seed)
    alcohol = rng.normal(10, 1, n)
    acid = rng.normal(4, 0.5, n)
    price = rng.integers(1000, 90_000, n)
    good = alcohol + rng.normal(0, 0.7, n) > 10
    lines = ["wine_id;alcohol;acid;price" + (";quality" if labelled else "")]
    for i in range(n):
        row = [
            str(i),
            f"{alcohol[i]:.{decimals}f}".replace(".", ","),
            f"{acid[i]:.4f}".replace(".", ","),
            f"{price[i] // 1000}.{price[i] % 1000:03d}",
        ]
        if labelled:
            row.append("good" if good[i] else "bad")
        lines.append(";".join(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _read_right(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", decimal=",", thousands=".")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``loopml init`` on the export (given relative to the current directory), then a quick
    training run."""
    root = tmp_path_factory.mktemp("dialect")
    (root / "exports").mkdir()
    _wine(root / "exports" / "wine.csv", 400, seed=0)
    _wine(root / "exports" / "labelled.csv", 150, seed=1)
    _wine(root / "exports" / "new.csv", 60, seed=2, labelled=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        done = runner.invoke(
            app, ["init", "exports/wine.csv", "--target", "quality", "--dir", "proj"]
        )
    assert done.exit_code == 0, done.output
    config = root / "proj" / "loopml.yaml"
    raw = yaml.safe_load(config.read_text())
    raw["training"].update(budget_seconds=3, models=["linear"], tune=False, ensemble=False)
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    trained = runner.invoke(app, ["train", "-c", str(config), "--json"])
    assert trained.exit_code == 0, trained.output
    return config


def test_init_drafts_the_dialect_and_a_path_relative_to_the_project(project: Path) -> None:
    raw = yaml.safe_load(project.read_text())
    assert raw["data"]["source"] == {
        "type": "csv",
        "path": "../exports/wine.csv",
        "options": {"sep": ";", "decimal": ","},
    }
    assert raw["data"]["id_columns"] == ["wine_id"]


def test_validate_and_profile_read_the_numbers(project: Path, tmp_path: Path) -> None:
    done = runner.invoke(app, ["validate", "-c", str(project), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["counts"]["error"] == 0
    out = tmp_path / "profile.html"
    profiled = runner.invoke(app, ["profile", "-c", str(project), "--out", str(out)])
    assert profiled.exit_code == 0, profiled.output
    assert out.is_file()


def test_the_model_saw_decimals_not_tens_of_thousands(project: Path) -> None:
    bundle, _ = Project(project).registry.load("1")
    right = _read_right(project.parent.parent / "exports" / "wine.csv")
    alcohol = bundle.schema["alcohol"]
    assert (alcohol.role, alcohol.minimum, alcohol.maximum) == (
        "numeric",
        right["alcohol"].min(),
        right["alcohol"].max(),
    )
    assert bundle.schema["price"].maximum == right["price"].max()  # 89.123 is 89123
    assert bundle.info["csv_dialect"] == {"sep": ";", "decimal": ",", "thousands": "."}


def test_the_model_reads_text_numbers_as_its_training_file_wrote_them(project: Path) -> None:
    """Rows arriving as text ('10,1257', '33.026'), as a request or a raw frame would bring
    them, are read in the training file's format by the fitted pipeline itself."""
    bundle, _ = Project(project).registry.load("1")
    new = project.parent.parent / "exports" / "new.csv"
    as_text = pd.read_csv(new, sep=";", dtype=str)
    assert as_text["alcohol"].iloc[0].count(",") == 1
    expected = bundle.predict_frame(_read_right(new))
    got = bundle.predict_frame(as_text)
    np.testing.assert_allclose(got["proba_good"], expected["proba_good"], rtol=1e-9)


def test_evaluate_reads_the_labelled_file_the_same_way(project: Path) -> None:
    labelled = project.parent.parent / "exports" / "labelled.csv"
    done = runner.invoke(
        app, ["evaluate", "-c", str(project), "--model", "1", "--data", str(labelled), "--json"]
    )
    assert done.exit_code == 0, done.output
    bundle, _ = Project(project).registry.load("1")
    right = _read_right(labelled)
    proba = bundle.predict_frame(right.drop(columns="quality"))
    expected = score(
        "roc_auc",
        "binary",
        right["quality"],
        proba["prediction"],
        proba[["proba_bad", "proba_good"]].to_numpy(),
        ["bad", "good"],
        bundle.problem.positive_class,
    )
    assert json.loads(done.stdout)["metrics"]["roc_auc"] == pytest.approx(expected, abs=1e-12)


def test_score_reads_the_new_file_the_same_way(project: Path, tmp_path: Path) -> None:
    new = project.parent.parent / "exports" / "new.csv"
    out = tmp_path / "scored.csv"
    done = runner.invoke(app, ["score", str(new), str(out), "-c", str(project), "--model", "1"])
    assert done.exit_code == 0, done.output
    bundle, _ = Project(project).registry.load("1")
    expected = bundle.predict_frame(_read_right(new))
    scored = pd.read_csv(out)
    assert scored["wine_id"].tolist() == list(range(60))
    np.testing.assert_allclose(scored["proba_good"], expected["proba_good"], rtol=1e-9)


def test_ambiguous_values_in_a_scoring_file_read_like_the_training_file(
    project: Path, tmp_path: Path
) -> None:
    """10,125 alone reads two ways; the model's training file decided: a decimal comma."""
    new = tmp_path / "three_decimals.csv"
    _wine(new, 40, seed=3, labelled=False, decimals=3)
    out = tmp_path / "scored.csv"
    done = runner.invoke(app, ["score", str(new), str(out), "-c", str(project), "--model", "1"])
    assert done.exit_code == 0, done.output
    bundle, _ = Project(project).registry.load("1")
    expected = bundle.predict_frame(_read_right(new))
    np.testing.assert_allclose(pd.read_csv(out)["proba_good"], expected["proba_good"], rtol=1e-9)


def test_a_scoring_file_in_another_dialect_needs_the_scoring_options(
    project: Path, tmp_path: Path
) -> None:
    new = tmp_path / "comma.csv"
    right = _read_right(project.parent.parent / "exports" / "new.csv")
    right.to_csv(new, index=False)  # ',' separators and decimal dots
    out = tmp_path / "scored.csv"
    done = runner.invoke(app, ["score", str(new), str(out), "-c", str(project), "--model", "1"])
    assert done.exit_code == 3, done.output
    assert "the file is separated by ',', not ';'. To read it, set scoring.options.sep" in (
        done.stderr
    )
    assert not out.exists()

    other = tmp_path / "proj" / "loopml.yaml"
    other.parent.mkdir()
    raw = yaml.safe_load(project.read_text())
    raw["data"]["source"]["path"] = str((project.parent / raw["data"]["source"]["path"]).resolve())
    raw["tracking"] = {"uri": f"sqlite:///{project.parent / '.loopml' / 'mlflow.db'}"}
    raw["scoring"] = {"options": {"sep": ",", "decimal": "."}}
    other.write_text(yaml.safe_dump(raw, sort_keys=False))
    done = runner.invoke(app, ["score", str(new), str(out), "-c", str(other), "--model", "1"])
    assert done.exit_code == 0, done.output
    bundle, _ = Project(project).registry.load("1")
    expected = bundle.predict_frame(right)
    np.testing.assert_allclose(pd.read_csv(out)["proba_good"], expected["proba_good"], rtol=1e-9)


# ----------------------------------------------------------------------------------- mistakes


def test_ambiguous_numbers_stop_validate_and_train_with_the_option_to_set(
    tmp_path: Path,
) -> None:
    rows = "\n".join(
        f"{i};{i % 50 + 1},{i * 37 % 1000:03d};{'yes' if i % 3 else 'no'}" for i in range(80)
    )
    (tmp_path / "d.csv").write_text("id;amount;y\n" + rows + "\n")
    config = tmp_path / "loopml.yaml"
    config.write_text(
        "name: p\nproblem: {target: y}\ndata:\n  source: {type: csv, path: d.csv}\n"
        "training: {budget_seconds: 3, models: [linear]}\n"
    )
    for command in ("validate", "train"):
        done = runner.invoke(app, [command, "-c", str(config)])
        assert done.exit_code == 3, done.output
        assert "column 'amount' ('1,000', '2,037', '3,074') holds numbers written as text" in (
            done.stderr
        )
        assert "Set data.source.options.decimal to ',' if ',' is the decimal mark" in done.stderr
    assert not (tmp_path / ".loopml" / "mlflow.db").exists()


def test_init_on_a_file_read_as_one_column_names_the_separator(tmp_path: Path) -> None:
    _wine(tmp_path / "wine.csv", 30, seed=0)
    done = runner.invoke(
        app,
        ["init", str(tmp_path / "wine.csv"), "-t", "quality", "--dir", str(tmp_path), "--sep", ","],
    )
    assert done.exit_code == 3, done.output
    assert "the file is separated by ';', not ','" in done.stderr
    assert "run `loopml init` again with --sep ';'" in done.stderr
    assert not (tmp_path / "loopml.yaml").exists()


def test_init_asks_for_the_decimal_mark_when_nothing_decides(tmp_path: Path) -> None:
    rows = "\n".join(
        f"{i % 50 + 1},{i * 37 % 1000:03d};{'yes' if i % 3 else 'no'}" for i in range(80)
    )
    (tmp_path / "d.csv").write_text("amount;y\n" + rows + "\n")
    done = runner.invoke(app, ["init", str(tmp_path / "d.csv"), "-t", "y", "--dir", str(tmp_path)])
    assert done.exit_code == 3, done.output
    assert "Run `loopml init` again with --decimal ',' if ',' is the decimal mark" in done.stderr
    declared = runner.invoke(
        app, ["init", str(tmp_path / "d.csv"), "-t", "y", "--dir", str(tmp_path), "--decimal", "."]
    )
    assert declared.exit_code == 0, declared.output
    raw = yaml.safe_load((tmp_path / "loopml.yaml").read_text())
    assert raw["data"]["source"]["options"] == {"sep": ";", "decimal": "."}
