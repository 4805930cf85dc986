"""A tiny project that trains in seconds with one deterministic model family.

Its target follows ``x`` closely, so the linear model passes the gate on any machine: what a
test asserts about paths, the registry or the console does not depend on the search.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CONFIG = """\
name: tiny
problem:
  task: binary
  target: label
  positive_class: "yes"
  metric: roc_auc
  success: "roc_auc >= 0.6"
data:
  source: {{type: csv, path: data/train.csv}}
  id_columns: [row_id]
  drop_columns: [note]
training:
  budget_seconds: 20
  cv_folds: 3
  models: [{models}]
  tune: false
  ensemble: false
  seed: 0
  n_jobs: 1
tracking:
  uri: "sqlite:///.loopml/mlflow.db"
scoring:
  input: data/new.csv
  output: out/scored.csv
"""


def frame(rows: int, seed: int, *, with_target: bool = True) -> pd.DataFrame:
    """Rows whose label is ``x > 0`` with a little noise; ``note`` is dropped in the config."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    df = pd.DataFrame(
        {
            "row_id": np.arange(rows) + 1000 * seed,
            "x": x.round(4),
            "z": rng.normal(size=rows).round(4),
            "color": rng.choice(["red", "green", "blue"], size=rows),
            "note": rng.choice(["a", "b"], size=rows),
        }
    )
    if with_target:
        df["label"] = np.where(x + rng.normal(scale=0.3, size=rows) > 0, "yes", "no")
    return df


def write_tiny_project(directory: Path, *, rows: int = 300, models: str = "linear") -> Path:
    """Write the project into ``directory``; return its loopml.yaml."""
    (directory / "data").mkdir(parents=True, exist_ok=True)
    frame(rows, 0).to_csv(directory / "data" / "train.csv", index=False)
    frame(60, 1, with_target=False).to_csv(directory / "data" / "new.csv", index=False)
    config = directory / "loopml.yaml"
    config.write_text(CONFIG.format(models=models), encoding="utf-8")
    return config
