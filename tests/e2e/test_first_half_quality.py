"""Issue 8, items 2, 3 and 9 through the CLI: leakage advice that works, a leaky model held
back from champion, the target's labels cared for like features, quieter findings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

from loopml import Project
from loopml.cli import app

runner = CliRunner()


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _plain(text: str) -> str:
    """Console output with Rich's line wrapping undone."""
    return " ".join(text.split())


def _project(tmp_path: Path, frame: pd.DataFrame, target: str, **sections: Any) -> Path:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    frame.to_csv(root / "data" / "train.csv", index=False)
    config: dict[str, Any] = {
        "name": "quality-items",
        "problem": {"target": target},
        "data": {"source": {"type": "csv", "path": "data/train.csv"}},
        # a few seconds of one family: the outcome is decided by the data, not the search
        "training": {
            "budget_seconds": 4,
            "cv_folds": 2,
            "models": ["linear"],
            "tune": False,
            "ensemble": False,
        },
    }
    for key, value in sections.items():
        config.setdefault(key, {}).update(value)
    path = root / "loopml.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _grades(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Students: the final grade is the average of two exams (a derived target)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "exam_1": rng.integers(20, 100, n),
            "exam_2": rng.integers(20, 100, n),
            "hours": rng.uniform(0, 40, n).round(1),
            "club": rng.choice(["chess", "drama", "none"], n),
        }
    )
    frame["final"] = (frame["exam_1"] + frame["exam_2"]) / 2
    return frame


def _findings(config: Path) -> list[dict[str, Any]]:
    result = _invoke("validate", "-c", str(config), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["findings"]


# --------------------------------------------------------------------------------------------
# item 2: the advice works, and the champion is protected


def test_a_column_in_drop_columns_is_gone_before_the_checks(tmp_path: Path) -> None:
    frame = _grades()
    rng = np.random.default_rng(1)
    frame["refund"] = frame["final"] * 2 + rng.normal(scale=3, size=len(frame))  # leaks
    frame["notes"] = np.where(rng.random(len(frame)) < 0.7, "", "checked")  # mostly blank
    config = _project(tmp_path, frame, "final")
    findings = _findings(config)
    leaky = [f for f in findings if f["id"] == "suspected-leakage"]
    assert {f["column"] for f in leaky} == {"refund", "exam_1, exam_2"}
    refund = next(f for f in leaky if f["column"] == "refund")
    assert "data.drop_columns" in refund["suggestion"]
    assert any(f["id"] == "missing-values" and f["column"] == "notes" for f in findings)

    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["data"]["drop_columns"] = ["refund", "notes", "exam_2"]  # the fixes the findings suggest
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    findings = _findings(config)
    assert [f for f in findings if f["column"] in ("refund", "notes", "exam_2")] == []
    assert not [f for f in findings if f["id"] == "suspected-leakage"]


def test_a_leaky_model_is_registered_as_challenger_and_the_console_says_why(
    tmp_path: Path,
) -> None:
    config = _project(tmp_path, _grades(), "final")

    result = _invoke("train", "-c", str(config))

    assert result.exit_code == 0, result.output
    text = _plain(result.stdout)
    assert re.search(r"version 1 \(\w+\) as challenger:", text), text
    assert (
        "Not promoted to champion: its score looks too good while a leakage finding stands on "
        "'exam_1, exam_2'."
    ) in text
    assert "`loopml models promote 1` if the score is real" in text
    versions = Project(config).models()
    assert [(v.version, tuple(v.aliases)) for v in versions] == [("1", ("challenger",))]

    again = _invoke("train", "-c", str(config), "--json")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["alias"] == "challenger"
    assert data["held_back_for_leakage"] == ["exam_1, exam_2"]
    assert (
        "looks too good while a leakage finding stands on 'exam_1, exam_2'"
        in (data["promotion_reason"])
    )
    assert data["promotion_reason"].startswith(("cross-validated r2", "holdout r2"))

    promoted = _invoke("models", "promote", "1", "-c", str(config))
    assert promoted.exit_code == 0, promoted.output  # the way out the message names works


def test_without_the_leak_the_model_becomes_champion(tmp_path: Path) -> None:
    frame = _grades()
    frame["final"] += np.random.default_rng(2).normal(scale=8, size=len(frame))  # an honest grade
    config = _project(tmp_path, frame, "final")
    result = _invoke("train", "-c", str(config), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["alias"], data["held_back_for_leakage"]) == ("champion", [])


# --------------------------------------------------------------------------------------------
# item 3: the target gets the same care as the features


def _answers(n: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    said_yes = x + rng.normal(scale=0.8, size=n) > 0
    spellings_yes = rng.choice(["Yes", "yes ", "YES"], n, p=[0.8, 0.12, 0.08])
    spellings_no = rng.choice(["No", " no"], n, p=[0.9, 0.1])
    return pd.DataFrame(
        {
            "x": x.round(3),
            "segment": rng.choice(["a", "b"], n),
            "answer": np.where(said_yes, spellings_yes, spellings_no),
        }
    )


def test_init_infers_a_binary_task_from_spelling_variants(tmp_path: Path) -> None:
    data = tmp_path / "answers.csv"
    _answers().to_csv(data, index=False)
    result = _invoke("init", str(data), "--target", "answer", "--dir", str(tmp_path / "p"))
    assert result.exit_code == 0, result.output
    drafted = yaml.safe_load((tmp_path / "p" / "loopml.yaml").read_text(encoding="utf-8"))
    assert drafted["problem"]["task"] == "binary"
    assert drafted["problem"]["positive_class"] == "Yes"


def test_spelling_variants_of_the_target_are_one_class_everywhere(tmp_path: Path) -> None:
    frame = _answers()
    config = _project(tmp_path, frame, "answer")
    project = Project(config)
    prepared = project.prepare()
    assert prepared.problem.classes == ("No", "Yes")
    assert set(prepared.y) == {"No", "Yes"}
    assert any("merged into one class each" in note for note in prepared.problem.notes)
    spelling = [f for f in _findings(config) if f["id"] == "inconsistent-spellings"]
    assert [f["column"] for f in spelling] == ["answer"]
    assert "merged into the first one" in spelling[0]["message"]

    trained = _invoke("train", "-c", str(config), "--json")
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["evaluation"]["task"] == "binary"
    # a labelled file written with yet other spellings is scored against the trained classes
    later = _answers(seed=4)
    later["answer"] = later["answer"].str.strip().str.upper() + "  "
    later.to_csv(tmp_path / "later.csv", index=False)
    evaluated = _invoke(
        "evaluate",
        "-c",
        str(config),
        "--model",
        "1",
        "--data",
        str(tmp_path / "later.csv"),
        "--json",
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["n_rows"] == len(later)


def test_validate_and_profile_refuse_a_target_that_is_not_in_the_data(tmp_path: Path) -> None:
    config = _project(tmp_path, _answers(), "answers")
    expected = "target column 'answers' (problem.target) is not in the data. Did you mean 'answer'?"
    trained = _invoke("train", "-c", str(config))
    assert trained.exit_code != 0 and expected in _plain(trained.stderr)
    for command in ("validate", "profile"):
        result = _invoke(command, "-c", str(config))
        assert result.exit_code == trained.exit_code, (command, result.output)
        assert expected in _plain(result.stderr), command
    assert not (config.parent / "profile.html").exists()
    assert not list(config.parent.rglob("*.html"))


# --------------------------------------------------------------------------------------------
# item 9: quieter, consistent findings


def test_no_mismatch_finding_on_the_time_column_of_a_time_split(tmp_path: Path) -> None:
    frame = _answers(n=400)
    frame["answer"] = frame["answer"].str.strip().str.lower()
    frame["year"] = np.repeat(np.arange(2000, 2020), 20)  # a survey year, the time column
    config = _project(
        tmp_path, frame, "answer", data={"time_column": "year"}, training={"split": "time"}
    )
    project = Project(config)
    assert project.prepare().split.strategy == "time"  # the holdout is the latest years
    mismatch = [f for f in project.validate().findings if f.id == "train-holdout-mismatch"]
    assert mismatch == []
