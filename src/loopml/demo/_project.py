"""Write the demo project: data files and a loopml.yaml that uses them."""

from __future__ import annotations

from pathlib import Path

from loopml.demo._churn import generate_customers
from loopml.errors import ConfigError

DEMO_CONFIG = """\
# The loopml demo: predict which customers will churn.
name: churn-demo

problem:
  task: binary
  target: churned
  positive_class: "yes"
  metric: roc_auc
  success: "roc_auc >= 0.75"   # a model must reach this on the holdout to become champion

data:
  source: {{type: csv, path: data/customers.csv}}
  id_columns: [customer_id]
  time_column: signup_at      # validate on the latest customers, as in production
  drop_columns: [email]       # personal data: never a feature

training:
  budget_seconds: {budget}{max_trials}
  cv_folds: {folds}
  holdout_fraction: 0.2
  split: auto
  seed: 42

tracking:
  uri: "sqlite:///.loopml/mlflow.db"

scoring:
  input: data/new_customers.csv
  output: scores/new_customers_scored.csv
"""


def write_demo_project(
    directory: Path,
    *,
    rows: int = 20_000,
    budget_seconds: float = 60,
    cv_folds: int = 5,
    max_trials: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Create the demo project in ``directory``; return the path of its loopml.yaml.

    ``max_trials`` caps the search (``training.max_trials``): with a budget that does not
    bind, the demo trains the same model on any machine.
    """
    config = directory / "loopml.yaml"
    if config.exists() and not overwrite:
        raise ConfigError(
            f"{config} already exists. Pick an empty directory, or pass --overwrite to replace "
            "the demo project there."
        )
    (directory / "data").mkdir(parents=True, exist_ok=True)
    customers = generate_customers(rows, seed=seed)
    customers.to_csv(directory / "data" / "customers.csv", index=False)
    new = generate_customers(
        max(rows // 4, 10),
        seed=seed + 1,
        drift=0.3,
        start="2026-01-01",
        end="2026-03-31",
        with_target=False,
        id_offset=rows,
    )
    new.to_csv(directory / "data" / "new_customers.csv", index=False)
    cap = "" if max_trials is None else f"\n  max_trials: {max_trials}  # the same model every run"
    config.write_text(
        DEMO_CONFIG.format(budget=budget_seconds, folds=cv_folds, max_trials=cap),
        encoding="utf-8",
    )
    return config
