"""Write the demo project: data files and a loopml.yaml that uses them."""

from __future__ import annotations

import shutil
from pathlib import Path

from loopml.demo._churn import generate_customers
from loopml.demo._timeline import SOURCE_END, SOURCE_START, DemoTimeline
from loopml.errors import ConfigError
from loopml.project import WORKSPACE

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
  time_column: signup_at
  drop_columns: [email]       # personal data: never a feature

training:
  budget_seconds: {budget}{max_trials}
  cv_folds: {folds}
  holdout_fraction: 0.2
  # random, not by time: monitoring tests the traffic's features against the training part
  # and its predictions against the holdout's, so both must come from the population the
  # traffic comes from (with a split by time the holdout holds only the newest signups)
  split: random
  seed: 42

tracking:
  uri: "sqlite:///.loopml/mlflow.db"

scoring:
  input: data/new_customers.csv
  output: scores/new_customers_scored.csv

# The loop. `loopml demo` lives through {days} days of traffic in minutes: one demo "day" is
# {day} of real time, and the windows below are written in those seconds. In production
# they would read 1d, 30d and so on.
serving:
  reload_poll_seconds: 1        # follow a promotion within a second
  prediction_log: {{mode: sync}}  # each request's rows are written before it answers

monitoring:
  window: {day}                 # one window per demo day
  min_rows: 100

retraining:
  on_drift: true                # retrain when monitoring finds drift or decay
  data_window: {data_window}             # labelled traffic learned from: all of it
  # the latest {holdout_days} days: champion and challenger meet here; never trained on
  holdout_window: {holdout_window}
  min_labelled_rows: 200
  promote_if: significant       # a paired bootstrap on roc_auc at alpha 0.05
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
    timeline: DemoTimeline | None = None,
) -> Path:
    """Create the demo project in ``directory``; return the path of its loopml.yaml.

    ``max_trials`` caps the search (``training.max_trials``): with a budget that does not
    bind, the demo trains the same model on any machine. ``timeline``: the loop's calendar,
    which sets the monitoring and retraining windows (:class:`DemoTimeline` by default).
    """
    config = directory / "loopml.yaml"
    if config.exists() and not overwrite:
        raise ConfigError(
            f"{config} already exists. Pick an empty directory, or pass --overwrite to replace "
            "the demo project there."
        )
    if config.exists() and config.read_text(encoding="utf-8").startswith(DEMO_CONFIG[:24]):
        # an earlier demo: its models and prediction log go too, so the loop starts afresh
        shutil.rmtree(directory / WORKSPACE, ignore_errors=True)
    (directory / "data").mkdir(parents=True, exist_ok=True)
    customers = generate_customers(rows, seed=seed, start=SOURCE_START, end=SOURCE_END)
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
    t = timeline or DemoTimeline()
    text = DEMO_CONFIG.format(
        budget=budget_seconds,
        folds=cv_folds,
        max_trials=cap,
        days=t.days,
        day=t.duration(1),
        data_window=t.duration(t.days),
        holdout_window=t.duration(t.holdout_days),
        holdout_days=t.holdout_days,
    )
    config.write_text(text, encoding="utf-8")
    return config
