"""loopml.data._draft: `loopml init` writes a valid, commented loopml.yaml from the data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import ProjectConfig, parse_config
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
    assert cfg.problem.success == "roc_auc >= 0.75"
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
    assert "# personal data detected: email (email)" in text
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
    # three equal classes: the prior's log loss is ln 3 = 1.0986; the gate asks 10% better
    assert str(cfg.problem.gate) == "log_loss <= 0.989"


def test_integer_target_positive_class_stays_an_integer(tmp_path: Path) -> None:
    frame = customers().assign(churned=[1 if i % 4 == 0 else 0 for i in range(N)])
    frame.to_csv(tmp_path / "c.csv", index=False)
    cfg = parse_config(draft_config(tmp_path / "c.csv", "churned", tmp_path, name="c"))
    assert cfg.problem.positive_class == 1


def test_parquet_source(tmp_path: Path) -> None:
    customers().to_parquet(tmp_path / "customers.parquet")
    cfg = parse_config(draft_config(tmp_path / "customers.parquet", "churned", tmp_path, name="p"))
    assert (cfg.data.source.type, cfg.data.source.path) == ("parquet", "customers.parquet")


def test_data_outside_the_project_gets_an_absolute_path(tmp_path: Path) -> None:
    customers().to_csv(tmp_path / "c.csv", index=False)
    (tmp_path / "proj").mkdir()
    cfg = parse_config(draft_config(tmp_path / "c.csv", "churned", tmp_path / "proj"))
    assert cfg.data.source.path == str((tmp_path / "c.csv").resolve())
    assert cfg.name == "proj"


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
