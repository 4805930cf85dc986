"""A registered loopml model scores a Spark DataFrame (pyspark in local mode, a real JVM)
through MLflow's spark_udf, with the outputs ``loopml score`` writes for the same rows."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _tiny import frame, write_tiny_project

import _needs as needs
from loopml import Project, SchemaError

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        needs.unavailable("no Java runtime (apt-get install default-jre-headless)")
    needs.module("pyspark")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # executors run this interpreter
    session = (
        SparkSession.builder.master("local[2]")
        .appName("loopml-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_scores_like_loopml_score(spark: Any, tmp_path: Path) -> None:
    config = write_tiny_project(tmp_path)
    project = Project(config)
    project.train()
    rows = frame(400, 7, with_target=False)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    project.score(tmp_path / "rows.csv", tmp_path / "scored.csv")
    expected = pd.read_csv(tmp_path / "scored.csv")

    score = project.spark_scorer(spark)
    scored = score(spark.createDataFrame(rows)).toPandas()

    assert list(scored.columns) == [*rows.columns, "prediction", "proba_no", "proba_yes"]
    got = scored.sort_values("row_id", ignore_index=True)
    want = expected.sort_values("row_id", ignore_index=True)
    assert got["prediction"].tolist() == want["prediction"].tolist()
    for column in ("proba_no", "proba_yes"):
        assert got[column].to_numpy() == pytest.approx(want[column].to_numpy(), abs=1e-6)

    with pytest.raises(SchemaError, match="lacks the model's column"):
        score(spark.createDataFrame(rows.drop(columns=["x"])))
