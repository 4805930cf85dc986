"""Batch scoring of CSV and Parquet files in chunks (loopml.serving._batch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import ProblemConfig
from loopml.data import infer_schema, prepare_target, resolve_problem
from loopml.errors import ConfigError, DataError, SchemaError
from loopml.modeling import make_pipeline
from loopml.registry import ModelBundle
from loopml.serving import _batch, score_file


def _customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(5000, 5000 + n),
            "age": rng.integers(20, 70, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    frame.loc[[1, 4], "age"] = np.nan
    return frame


def _bundle(target: str) -> ModelBundle:
    frame = _customers(80, seed=0)
    young = frame["age"].fillna(45) < 40
    if target == "churned":
        frame[target] = np.where(young | (frame["plan"] == "basic"), "yes", "no")
    else:
        frame[target] = 2.0 * frame["age"].fillna(45) + 5.0 * (frame["plan"] == "team")
    problem = resolve_problem(frame, ProblemConfig(target=target))
    schema = infer_schema(frame, target, id_columns=["customer_id"])
    X = frame.drop(columns=[target])
    y = prepare_target(frame[target], problem.task)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1).fit(X, y)
    return ModelBundle(
        pipeline=pipeline, schema=schema, problem=problem, id_columns=("customer_id",)
    )


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return _bundle("churned")


@pytest.fixture
def rows() -> pd.DataFrame:
    """45 rows to score: not a multiple of the chunk sizes used below."""
    return _customers(45, seed=1)


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------------------- chunking


def test_csv_chunks_give_the_same_predictions(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)

    chunked = score_file(bundle, source, tmp_path / "out" / "chunked.csv", chunk_rows=7)
    whole = score_file(bundle, source, tmp_path / "out" / "whole.csv", chunk_rows=1000)

    assert (chunked.rows, chunked.chunks) == (45, 7)
    assert (whole.rows, whole.chunks) == (45, 1)
    first = pd.read_csv(tmp_path / "out" / "chunked.csv")
    second = pd.read_csv(tmp_path / "out" / "whole.csv")
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == ["customer_id", "prediction", "proba_no", "proba_yes"]
    expected = bundle.predict_frame(rows)
    assert first["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(first["proba_yes"], expected["proba_yes"], rtol=1e-15)
    assert chunked.prediction_counts == whole.prediction_counts
    assert chunked.prediction_counts == expected["prediction"].value_counts().to_dict()
    assert _files(tmp_path / "out") == ["chunked.csv", "whole.csv"]


def test_parquet_chunks_give_the_same_predictions(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    rows.to_parquet(source, index=False)

    chunked = score_file(bundle, source, tmp_path / "chunked.parquet", chunk_rows=10)
    whole = score_file(bundle, source, tmp_path / "whole.parquet", chunk_rows=1000)

    assert (chunked.rows, chunked.chunks, whole.chunks) == (45, 5, 1)
    first = pd.read_parquet(tmp_path / "chunked.parquet")
    pd.testing.assert_frame_equal(first, pd.read_parquet(tmp_path / "whole.parquet"))
    expected = bundle.predict_frame(rows)
    assert first["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_array_equal(first["proba_no"], expected["proba_no"])
    np.testing.assert_array_equal(first["proba_yes"], expected["proba_yes"])


def test_csv_in_parquet_out(bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)

    summary = score_file(bundle, source, tmp_path / "out.parquet", chunk_rows=20)

    out = pd.read_parquet(tmp_path / "out.parquet")
    assert summary.chunks == 3
    assert out["customer_id"].tolist() == rows["customer_id"].tolist()
    assert out["prediction"].tolist() == bundle.predict_frame(rows)["prediction"].tolist()


def test_regression_output(rows: pd.DataFrame, tmp_path: Path) -> None:
    bundle = _bundle("spend")
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)

    summary = score_file(bundle, source, tmp_path / "out.csv", chunk_rows=16)

    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["customer_id", "prediction"]
    np.testing.assert_allclose(out["prediction"], bundle.pipeline.predict(rows), rtol=1e-15)
    assert summary.prediction_counts == {}


# ---------------------------------------------------------------------------- id columns


def test_id_columns_are_copied(bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    rows.assign(comment="not copied").to_csv(source, index=False)

    score_file(bundle, source, tmp_path / "out.csv", chunk_rows=8)

    out = pd.read_csv(tmp_path / "out.csv")
    assert out["customer_id"].tolist() == list(range(5000, 5045))
    assert "comment" not in out.columns
    assert "age" not in out.columns


def test_absent_id_columns_are_not_required(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    rows.drop(columns=["customer_id"]).to_csv(source, index=False)

    summary = score_file(bundle, source, tmp_path / "out.csv")

    assert summary.rows == 45
    assert list(pd.read_csv(tmp_path / "out.csv").columns) == [
        "prediction",
        "proba_no",
        "proba_yes",
    ]


# ---------------------------------------------------------------------------- input problems


def test_missing_feature_column_is_refused_before_any_output(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    rows.drop(columns=["plan"]).to_csv(source, index=False)
    out_dir = tmp_path / "out"

    with pytest.raises(
        SchemaError, match=r"in\.csv is missing 1 column\(s\) the model needs: plan\. Add them"
    ):
        score_file(bundle, source, out_dir / "scored.csv")

    assert _files(out_dir) == []


def test_missing_feature_column_keeps_an_existing_output(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    rows.drop(columns=["age", "signup"]).to_parquet(source, index=False)
    target = tmp_path / "out" / "scored.parquet"
    target.parent.mkdir()
    target.write_bytes(b"yesterday's scores")

    with pytest.raises(SchemaError, match=r"missing 2 column\(s\) the model needs: age, signup"):
        score_file(bundle, source, target)

    assert _files(target.parent) == ["scored.parquet"]
    assert target.read_bytes() == b"yesterday's scores"


def test_unseen_categories_and_out_of_range_values_are_counted(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path
) -> None:
    odd = rows.astype({"age": object})
    odd.loc[[0, 20, 40], "plan"] = "enterprise"  # unseen, in three chunks
    odd.loc[10, "plan"] = "  Basic "  # a known category, spelled differently
    odd.loc[[5, 30], "age"] = 150.0  # above the training range
    odd.loc[35, "age"] = -3.0  # below it
    odd.loc[25, "age"] = "unknown"  # not a number
    odd.loc[15, "signup"] = "not a date"
    source = tmp_path / "in.csv"
    odd.to_csv(source, index=False)

    summary = score_file(bundle, source, tmp_path / "out.csv", chunk_rows=10)

    assert summary.issues == {
        "age": {"invalid": 1, "out_of_range": 3},
        "plan": {"unseen_category": 3},
        "signup": {"invalid": 1},
    }
    assert summary.rows == 45  # every row is still scored
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].notna().all()


def test_clean_input_has_no_issues(bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    assert score_file(bundle, source, tmp_path / "out.csv").issues == {}


def test_header_only_csv(bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    rows.head(0).to_csv(source, index=False)
    out_dir = tmp_path / "out"

    with pytest.raises(DataError, match=r"in\.csv has a header but no rows to score"):
        score_file(bundle, source, out_dir / "scored.csv")

    assert _files(out_dir) == []


def test_header_only_parquet(bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    rows.head(0).to_parquet(source, index=False)
    out_dir = tmp_path / "out"

    with pytest.raises(DataError, match=r"in\.parquet has a header but no rows to score"):
        score_file(bundle, source, out_dir / "scored.parquet")

    assert _files(out_dir) == []


def test_missing_input_file(bundle: ModelBundle, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"input file .*nowhere\.csv not found"):
        score_file(bundle, tmp_path / "nowhere.csv", tmp_path / "out.csv")


def test_unknown_output_format(bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)

    with pytest.raises(DataError, match=r"out\.xlsx: cannot tell the format from the name"):
        score_file(bundle, source, tmp_path / "out.xlsx")

    assert _files(tmp_path) == ["in.csv"]


def test_a_failure_mid_file_writes_nothing(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    target = tmp_path / "out" / "scored.csv"
    target.parent.mkdir()
    target.write_text("yesterday's scores\n", encoding="utf-8")
    calls = []
    original = _batch._ChunkWriter.write

    def flaky(self: _batch._ChunkWriter, out: pd.DataFrame) -> None:
        calls.append(len(out))
        if len(calls) == 3:
            raise MemoryError("out of memory in chunk 3")
        original(self, out)

    monkeypatch.setattr(_batch._ChunkWriter, "write", flaky)

    with pytest.raises(MemoryError, match="out of memory in chunk 3"):
        score_file(bundle, source, target, chunk_rows=10)

    assert calls == [10, 10, 10]
    assert _files(target.parent) == ["scored.csv"]
    assert target.read_text(encoding="utf-8") == "yesterday's scores\n"


# ---------------------------------------------------------------------------- summary


def test_summary_and_progress(bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    seen: list[int] = []

    summary = score_file(
        bundle,
        source,
        tmp_path / "out.csv",
        model_version="7",
        chunk_rows=20,
        progress=seen.append,
    )

    assert seen == [20, 40, 45]
    assert (summary.input, summary.output) == (str(source), str(tmp_path / "out.csv"))
    assert summary.model_version == "7"
    data = summary.to_dict()
    assert data["seconds"] == round(summary.seconds, 3)
    assert set(data) == {
        "input",
        "output",
        "rows",
        "chunks",
        "seconds",
        "model_version",
        "issues",
        "prediction_counts",
    }
    assert (data["rows"], data["chunks"]) == (45, 3)
    assert sum(data["prediction_counts"].values()) == 45


# ---------------------------------------------------------------------------- runtimes


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_every_runtime_writes_the_same_file(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path, kind: str
) -> None:
    source = tmp_path / f"in.{kind}"
    rows.to_csv(source, index=False) if kind == "csv" else rows.to_parquet(source, index=False)
    written = {}
    for runtime in ("auto", "python", "frame"):
        out = tmp_path / f"{runtime}.{kind}"
        score_file(bundle, source, out, chunk_rows=7, runtime=runtime)
        written[runtime] = pd.read_csv(out) if kind == "csv" else pd.read_parquet(out)
    pd.testing.assert_frame_equal(written["python"], written["frame"], rtol=1e-9)
    pd.testing.assert_frame_equal(written["auto"], written["frame"], rtol=1e-9)


def test_an_unknown_runtime_is_refused_before_any_output(
    bundle: ModelBundle, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    with pytest.raises(ConfigError, match="runtime must be one of"):
        score_file(bundle, source, tmp_path / "out" / "scored.csv", runtime="fast")
    assert _files(tmp_path / "out") == []
