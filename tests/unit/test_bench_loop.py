"""The loop benchmark (benchmarks/loop.py) on a tiny synthetic stream whose concept flips after
the initial part: the prequential scorer, the three policies and the table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "loop.py"
INITIAL, WINDOW, WINDOWS = 600, 300, 4


def _load():
    spec = importlib.util.spec_from_file_location("bench_loop", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load()


def _stream():
    """y = 2x + noise for the initial part, then y = -2x: a model that never retrains is lost."""
    rng = np.random.default_rng(0)
    n = INITIAL + WINDOWS * WINDOW
    x = rng.normal(size=n)
    y = 2.0 * x + rng.normal(0.0, 0.3, n)
    y[INITIAL:] = -2.0 * x[INITIAL:] + rng.normal(0.0, 0.3, n - INITIAL)
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=n, freq="h").astype(str),
            "x": x,
            "c": rng.choice(["a", "b", "c"], n),
            "y": y,
        }
    )
    training = {
        "budget_seconds": 120,
        "max_trials": 1,
        "cv_folds": 2,
        "models": ["linear"],
        "ensemble": False,
        "n_jobs": 1,
        "seed": 0,
    }
    config = bench.project_config(
        "tiny",
        {"task": "regression", "target": "y", "metric": "rmse"},
        {"time_column": "when"},
        training,
    )
    windows = [
        frame.iloc[INITIAL + i * WINDOW : INITIAL + (i + 1) * WINDOW].reset_index(drop=True)
        for i in range(WINDOWS)
    ]
    return bench.Stream("tiny", config, frame.iloc[:INITIAL], windows, "a flipped concept")


@pytest.fixture(scope="module")
def result():
    return bench.run_stream(_stream())


def test_every_policy_scores_every_window_and_never_keeps_the_initial_model(result):
    policies = result["policies"]
    assert set(policies) == {
        "never",
        "every window",
        "loop",
        "every window, one window late",
        "loop, promote_if: better",
        "loop, on_drift: false",
    }
    assert all(len(p["per_window"]) == WINDOWS for p in policies.values())
    never = policies["never"]
    assert (never["retrainings"], never["promotions"], never["training_seconds"]) == (0, 0, 0.0)
    # no retraining after the last window: nothing is left to predict
    assert policies["every window"]["retrainings"] == WINDOWS - 1
    assert policies["every window"]["promotions"] == WINDOWS - 1


def test_the_prequential_score_is_the_metric_of_the_model_that_predicted_the_window(result):
    stream = _stream()
    trainer = bench.Trainer(stream)
    initial = trainer.model(0)
    for t, window in enumerate(stream.windows):
        rows = bench.labelled(initial, window)
        expected = np.sqrt(np.mean((bench.scored(initial, rows.X).pred - rows.y) ** 2))
        assert result["policies"]["never"]["per_window"][t] == pytest.approx(expected, abs=1e-5)
    # the first window is predicted by the initial model under every policy
    firsts = {p["per_window"][0] for p in result["policies"].values()}
    assert len(firsts) == 1


def test_the_loop_retrains_on_decay_and_promotes_only_a_significantly_better_challenger(result):
    decisions = result["loop_decisions"]
    assert [d["window"] for d in decisions] == list(range(1, WINDOWS))
    assert all(d["triggered"] for d in decisions)  # rmse far above the holdout's
    # after window 1 the challenger has only the initial rows: the champion's own data
    assert decisions[0]["challenger_rows"] == INITIAL
    assert decisions[0]["promoted"] is False
    promoted = [d for d in decisions if d["promoted"]]
    assert promoted and all(d["p_value"] < 0.05 and d["difference"] < 0 for d in promoted)
    loop = result["policies"]["loop"]
    assert loop["promotions"] == len(promoted)
    assert loop["retrainings"] == len(decisions)
    assert result["goal"]["mean"]["beats_never"] is True


def test_the_table_shows_every_policy_and_the_verdict(result):
    text = bench.render({"quick": True, "machine": bench.machine(), "streams": [result]})
    for name in result["policies"]:
        assert f"| {name} |" in text
    assert "**Goal " in text
    assert "| window | alarms | drifted features |" in text
