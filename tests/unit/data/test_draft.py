"""loopml.data._draft: `loopml init` writes a valid, commented loopml.yaml from the data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import ProjectConfig, parse_config
from loopml.data._baseline import Baseline, draft_gate
from loopml.data._draft import draft_config
from loopml.errors import DataError

N = 60


def customers(n: int = N) -> pd.DataFrame:
    """Ids, e-mail addresses, signup dates, a free-text note, and a 15 of 60 'yes' target."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "email": [f"user{i}@example.com" for i in range(n)],
            "signup_at": [f"2024-01-{(i % 28) + 1:02d}" for i in range(n)],
            "plan": rng.choice(["basic", "pro"], n),
            "age": rng.integers(18, 80, n),
            "note": [f"customer said something number {i} here" for i in range(n)],
            "churned": ["yes" if i % 4 == 0 else "no" for i in range(n)],
        }
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "my project"
    (directory / "data").mkdir(parents=True)
    customers().to_csv(directory / "data" / "customers.csv", index=False)
    return directory


def draft(project: Path, target: str = "churned", **kwargs: object) -> tuple[str, ProjectConfig]:
    text = draft_config(project / "data" / "customers.csv", target, project, **kwargs)  # type: ignore[arg-type]
    return text, parse_config(text)


def test_binary_draft_is_valid_and_complete(project: Path) -> None:
    _, cfg = draft(project)

    assert cfg.name == "my-project"
    assert (cfg.problem.task, cfg.problem.target) == ("binary", "churned")
    assert cfg.problem.positive_class == "yes"
    assert cfg.problem.metric == "roc_auc"
    assert re.fullmatch(r"roc_auc >= 0\.\d+", cfg.problem.success or "")
    assert (cfg.data.source.type, cfg.data.source.path) == ("csv", "data/customers.csv")
    assert cfg.data.id_columns == ["customer_id"]
    assert cfg.data.time_column == "signup_at"
    assert cfg.data.drop_columns == ["email"]
    assert (cfg.training.budget_seconds, cfg.training.seed) == (60.0, 42)


def test_draft_explains_what_it_inferred(project: Path) -> None:
    text, _ = draft(project)
    assert "# Data: customers.csv: 60 rows x 7 columns." in text
    assert "task: binary            # inferred from 'churned'" in text
    assert 'positive_class: "yes"   # REVIEW: the class to detect (25.0% of rows)' in text
    assert "# detected: customer_id (unique integers with an id-like name)" in text
    assert "# personal data detected: email (e-mail addresses)" in text
    assert re.search(r"# baseline roc_auc \d\.\d{3} ± \d\.\d{3} \(5-fold histogram gradient", text)
    assert "datetime columns: signup_at" in text
    assert "# free-text columns (not used as features yet): note (free text" in text


def test_explicit_name(project: Path) -> None:
    _, cfg = draft(project, name="churn")
    assert cfg.name == "churn"


def test_multiclass_draft_lists_the_classes(tmp_path: Path) -> None:
    frame = customers().assign(plan=["basic", "pro", "gold"] * (N // 3))
    frame.to_csv(tmp_path / "c.csv", index=False)
    text = draft_config(tmp_path / "c.csv", "plan", tmp_path, name="plans")
    cfg = parse_config(text)
    assert (cfg.problem.task, cfg.problem.metric) == ("multiclass", "log_loss")
    assert "  # 3 classes: basic, gold, pro" in text
    # nothing predicts the plan: the gate asks to beat the class frequencies (ln 3 = 1.0986)
    assert str(cfg.problem.gate) == "log_loss <= 1.098"
    assert "close to guessing the class frequencies" in text


def test_integer_target_positive_class_stays_an_integer(tmp_path: Path) -> None:
    frame = customers().assign(churned=[1 if i % 4 == 0 else 0 for i in range(N)])
    frame.to_csv(tmp_path / "c.csv", index=False)
    cfg = parse_config(draft_config(tmp_path / "c.csv", "churned", tmp_path, name="c"))
    assert cfg.problem.positive_class == 1


def test_parquet_source(tmp_path: Path) -> None:
    customers().to_parquet(tmp_path / "customers.parquet")
    cfg = parse_config(draft_config(tmp_path / "customers.parquet", "churned", tmp_path, name="p"))
    assert (cfg.data.source.type, cfg.data.source.path) == ("parquet", "customers.parquet")


def test_data_outside_the_project_gets_a_path_relative_to_the_project_file(
    tmp_path: Path,
) -> None:
    customers().to_csv(tmp_path / "c.csv", index=False)
    (tmp_path / "proj").mkdir()
    cfg = parse_config(draft_config(tmp_path / "c.csv", "churned", tmp_path / "proj"))
    assert cfg.data.source.path == "../c.csv"
    assert cfg.name == "proj"


def test_data_path_given_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "exports").mkdir()
    customers().to_csv(tmp_path / "exports" / "c.csv", index=False)
    monkeypatch.chdir(tmp_path)
    cfg = parse_config(draft_config(Path("exports/c.csv"), "churned", Path("projects/churn")))
    assert cfg.data.source.path == "../../exports/c.csv"
    assert (tmp_path / "projects" / "churn" / cfg.data.source.path).resolve().is_file()


# --------------------------------------------------------------------------------------------
# id and personal-data columns


def passengers(n: int = 120) -> pd.DataFrame:
    """A Titanic-like table: a name column of free text, a ticket code that repeats, a
    unique booking reference."""
    rng = np.random.default_rng(3)
    first = ["Owen", "John", "Laina", "Lily", "William", "Anna"]
    return pd.DataFrame(
        {
            "PassengerId": np.arange(1, n + 1),
            "Name": [f"Braund{i}, Mr. {first[i % 6]} Harris" for i in range(n)],
            "Ticket": [f"A/5 {21171 + i - i % 20 // 19}" for i in range(n)],  # ~5% repeat
            "booking_ref": [f"BK{i:05d}X" for i in range(n)],
            "Fare": np.round(rng.gamma(2, 15, n), 2),
            "Survived": (rng.random(n) < 0.4).astype(int),
        }
    )


def test_name_columns_are_personal_data_never_ids(tmp_path: Path) -> None:
    passengers().to_csv(tmp_path / "t.csv", index=False)
    text = draft_config(tmp_path / "t.csv", "Survived", tmp_path, name="t")
    cfg = parse_config(text)
    assert "Name" in cfg.data.drop_columns
    assert "Name" not in cfg.data.id_columns
    assert "Name (personal names)" in text


def test_id_columns_are_unique(tmp_path: Path) -> None:
    frame = passengers()
    assert frame["Ticket"].nunique() < len(frame) * 0.99  # repeats: not an id
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = parse_config(draft_config(tmp_path / "t.csv", "Survived", tmp_path, name="t"))
    assert cfg.data.id_columns == ["PassengerId", "booking_ref"]


# --------------------------------------------------------------------------------------------
# the success gate from a baseline


def signal(n: int = 600, noise: float = 0.5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=n),
            "y": np.where(x + rng.normal(0, noise, n) > 0, "yes", "no"),
            "amount": 3 * x + rng.normal(0, noise, n),
        }
    )


def _baseline_line(text: str) -> tuple[float, float]:
    found = re.search(r"# baseline \w+ (\d\.\d{3}) ± (\d\.\d{3})", text)
    assert found, text
    return float(found[1]), float(found[2])


def test_binary_gate_is_drafted_below_a_measured_baseline(tmp_path: Path) -> None:
    signal().drop(columns="amount").to_csv(tmp_path / "s.csv", index=False)
    text = draft_config(tmp_path / "s.csv", "y", tmp_path, name="s")
    mean, _ = _baseline_line(text)
    gate = parse_config(text).problem.gate
    assert gate is not None and gate.metric == "roc_auc" and gate.op == ">="
    assert 0.5 < gate.threshold < mean
    assert re.search(r"gate set 0\.\d\d below it", text)


def test_no_signal_drafts_the_uninformed_gate(tmp_path: Path) -> None:
    frame = signal().drop(columns=["amount", "x"])
    frame.to_csv(tmp_path / "s.csv", index=False)
    text = draft_config(tmp_path / "s.csv", "y", tmp_path, name="s")
    assert parse_config(text).problem.success == "roc_auc >= 0.5"
    assert "the baseline finds little signal" in text


def test_regression_gate_is_on_r2(tmp_path: Path) -> None:
    signal().drop(columns="y").to_csv(tmp_path / "s.csv", index=False)
    text = draft_config(tmp_path / "s.csv", "amount", tmp_path, name="s")
    mean, _ = _baseline_line(text)
    gate = parse_config(text).problem.gate
    assert "# baseline r2" in text
    assert gate is not None and gate.metric == "r2" and 0 < gate.threshold < mean


def test_a_near_perfect_baseline_asks_to_check_for_leakage(tmp_path: Path) -> None:
    frame = signal().drop(columns="amount")
    frame["churn_flag"] = (frame["y"] == "yes").astype(int)  # the target again
    frame.to_csv(tmp_path / "s.csv", index=False)
    text = draft_config(tmp_path / "s.csv", "y", tmp_path, name="s")
    assert "REVIEW: near perfect; check `loopml validate` for leakage" in text


def test_without_usable_features_the_gate_is_generic_and_says_why(tmp_path: Path) -> None:
    frame = pd.DataFrame({"ref": [f"R{i:04d}" for i in range(80)], "y": ["a", "b"] * 40})
    frame.to_csv(tmp_path / "s.csv", index=False)
    text = draft_config(tmp_path / "s.csv", "y", tmp_path, name="s")
    assert "# no baseline measured (no feature column the baseline can use); a generic gate" in text
    assert parse_config(text).problem.success == "roc_auc >= 0.75"


@pytest.mark.parametrize(
    ("metric", "mean", "std", "prior", "gate"),
    [
        ("roc_auc", 0.84, 0.005, None, "roc_auc >= 0.82"),  # the fixed 0.02 step
        ("roc_auc", 0.84, 0.05, None, "roc_auc >= 0.74"),  # twice the folds' spread
        ("roc_auc", 0.51, 0.01, None, "roc_auc >= 0.5"),
        ("r2", 0.6, 0.01, None, "r2 >= 0.57"),
        ("r2", 0.02, 0.01, None, "r2 >= 0"),
        ("log_loss", 0.5, 0.01, 1.0, "log_loss <= 0.525"),
        ("log_loss", 0.99, 0.01, 1.0, "log_loss <= 1.000"),
    ],
)
def test_draft_gate(metric: str, mean: float, std: float, prior: float | None, gate: str) -> None:
    baseline = Baseline(metric, mean, std, folds=5, rows=100, total_rows=100, seconds=0.1)
    assert draft_gate(baseline, prior)[0] == gate


def test_awkward_column_names_are_quoted(tmp_path: Path) -> None:
    frame = customers().rename(columns={"churned": "Churn Flag", "customer_id": "yes_id"})
    frame.to_csv(tmp_path / "c.csv", index=False)
    cfg = parse_config(draft_config(tmp_path / "c.csv", "Churn Flag", tmp_path, name="c"))
    assert cfg.problem.target == "Churn Flag"
    assert cfg.data.id_columns == ["yes_id"]


def test_no_time_column_detected(tmp_path: Path) -> None:
    customers().drop(columns="signup_at").to_csv(tmp_path / "c.csv", index=False)
    text = draft_config(tmp_path / "c.csv", "churned", tmp_path, name="c")
    assert "  # time_column: none detected" in text
    assert parse_config(text).data.time_column is None


def test_header_only_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("a,b,churned\n", encoding="utf-8")
    expected = f"{path} has a header but no rows; init needs data to look at."
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        draft_config(path, "churned", tmp_path)


def test_unknown_target(project: Path) -> None:
    with pytest.raises(DataError, match=r"target column 'churn' .* Did you mean 'churned'\?"):
        draft(project, target="churn")


def test_regression_draft(tmp_path: Path) -> None:
    frame = customers().assign(spend=np.round(np.random.default_rng(1).normal(100, 20, N), 2))
    frame.to_csv(tmp_path / "c.csv", index=False)
    cfg = parse_config(draft_config(tmp_path / "c.csv", "spend", tmp_path, name="spend"))
    assert (cfg.problem.task, cfg.problem.metric) == ("regression", "rmse")


@pytest.mark.parametrize("directory", ["2024", "yes"])
def test_project_directory_names_that_yaml_reads_as_other_types(
    tmp_path: Path, directory: str
) -> None:
    (tmp_path / directory).mkdir()
    customers().to_csv(tmp_path / directory / "c.csv", index=False)
    cfg = parse_config(
        draft_config(tmp_path / directory / "c.csv", "churned", tmp_path / directory)
    )
    assert cfg.name == directory


def test_columns_named_like_protected_attributes_are_suggested_as_sensitive(
    project: Path,
) -> None:
    path = project / "data" / "customers.csv"
    frame = pd.read_csv(path)
    frame["Gender"] = ["f", "m"] * (len(frame) // 2)
    frame["age_band"] = "30-40"
    frame["sexy_score"] = 1.0  # a name that only contains a word is not suggested
    frame.to_csv(path, index=False)
    text, cfg = draft(project)
    assert "  # sensitive_columns: [Gender, age_band]   # REVIEW: named like protected" in text
    assert cfg.problem.sensitive_columns == []  # a suggestion, commented out
    uncommented = text.replace("  # sensitive_columns:", "  sensitive_columns:")
    assert parse_config(uncommented).problem.sensitive_columns == ["Gender", "age_band"]
