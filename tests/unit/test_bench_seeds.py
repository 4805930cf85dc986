"""Pooling AutoML benchmark runs over seeds (benchmarks/automl_seeds.py) on hand-made records."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "automl_seeds.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_seeds", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


seeds = _load()

SYSTEMS = ("loopml", "flaml", "autogluon", "autogluon-best", "hgb")


def _run(dataset, system, seed, score, *, status="ok", fit=100.0, metric="roc_auc"):
    record = {
        "dataset": dataset,
        "system": system,
        "task": "binary",
        "metric": metric,
        "budget": 300.0,
        "seed": seed,
        "status": status,
        "fit_seconds": fit,
        "started_at": f"2026-12-0{seed + 1}T00:00:00+00:00",
        "metrics": {metric: score, "accuracy": 0.5 + seed / 10},
    }
    if status == "ok":
        record["score"] = score
    else:
        record["error"] = "killed after 1080 s"
    return record


def _suite(scores_by_seed):
    """Records from {seed: {dataset: {system: score}}}."""
    return [
        _run(d, s, seed, score)
        for seed, by_dataset in scores_by_seed.items()
        for d, by_system in by_dataset.items()
        for s, score in by_system.items()
    ]


def test_a_pair_is_the_mean_of_its_seeds_and_its_longest_fit():
    pooled = seeds.mean_record(
        [_run("a", "loopml", 0, 0.80, fit=250.0), _run("a", "loopml", 1, 0.90, fit=290.0)]
    )
    assert pooled["status"] == "ok"
    assert pooled["score"] == pytest.approx(0.85)
    assert pooled["metrics"] == {"accuracy": pytest.approx(0.55), "roc_auc": pytest.approx(0.85)}
    assert pooled["fit_seconds"] == 290.0
    assert pooled["seeds"] == [0, 1]
    assert pooled["cpu"] == "not recorded"


def test_a_pair_that_failed_at_one_seed_is_failed():
    pooled = seeds.mean_record(
        [_run("a", "flaml", 0, 0.8), _run("a", "flaml", 1, None, status="timeout")]
    )
    assert pooled["status"] == "timeout"
    assert "score" not in pooled
    assert pooled["error"].startswith("seed 1:")


def test_only_pairs_run_at_every_seed_are_pooled_and_the_last_run_of_a_seed_counts():
    records = [
        _run("a", "loopml", 0, 0.70),
        _run("a", "loopml", 0, 0.80),  # a rerun of seed 0 replaces the first
        _run("a", "loopml", 1, 0.90),
        _run("b", "loopml", 0, 0.60),  # seed 1 missing: left out
    ]
    pooled = seeds.mean_records(seeds.by_seed(records, 300.0), [0, 1])
    assert [(r["dataset"], r["score"]) for r in pooled] == [("a", pytest.approx(0.85))]


def test_the_verdict_ranks_mean_scores_and_the_page_shows_each_seed():
    # seed 0: AutoGluon best wins dataset a; seed 1: loopml wins it by more, so loopml leads
    # on the mean score although each system wins one seed
    by_seed = {
        0: {
            "a": {"loopml": 0.80, "flaml": 0.70, "autogluon": 0.72, "autogluon-best": 0.82},
            "b": {"loopml": 0.90, "flaml": 0.85, "autogluon": 0.86, "autogluon-best": 0.88},
        },
        1: {
            "a": {"loopml": 0.90, "flaml": 0.70, "autogluon": 0.72, "autogluon-best": 0.83},
            "b": {"loopml": 0.91, "flaml": 0.85, "autogluon": 0.86, "autogluon-best": 0.88},
        },
    }
    for by_dataset in by_seed.values():
        for by_system in by_dataset.values():
            by_system["hgb"] = 0.60
    page = seeds.render(
        _suite(by_seed),
        None,
        ["a", "b"],
        SYSTEMS,
        300.0,
        label="300 s, test suite",
        all_datasets=["a", "b"],
    )
    assert page.startswith("# AutoML benchmark: 300 s, test suite, mean of seeds 0, 1")
    assert "## Each seed on its own" in page
    summary = page.split("## Summary", 1)[1]
    assert "| loopml | 1.000 | 1.00 | 2 / 2 | 0.33 |" in summary
    assert "**PASS** mean rank better than AutoGluon best_quality's (1.00 vs 2.00)" in summary
    each_seed = page.split("## Each seed on its own", 1)[1].split("## Summary", 1)[0]
    # seed 0: loopml ranks 2 on a and 1 on b; the mean of the seeds' ranks is (1.5 + 1) / 2
    assert "| loopml | 0.955 / 1.50 | 1.000 / 1.00 | 1.25 |" in each_seed


def test_a_partial_second_seed_gives_no_verdict():
    by_seed = {
        0: {"a": {"loopml": 0.8, "flaml": 0.7, "autogluon": 0.7, "autogluon-best": 0.7}},
        1: {"a": {"loopml": 0.8}},
    }
    by_seed[0]["a"]["hgb"] = 0.6
    page = seeds.render(
        _suite(by_seed),
        [0, 1],
        ["a"],
        SYSTEMS,
        300.0,
        label="partial",
        all_datasets=["a"],
    )
    assert "**PASS** mean rank" not in page and "**FAIL** mean rank" not in page
    assert "Not run at this budget yet: flaml, autogluon, autogluon-best, hgb." in page


def test_the_command_names_a_missing_run_file(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no such run file"):
        seeds.main(["--name", "x", str(tmp_path / "absent.jsonl")])


def test_the_command_writes_the_report(tmp_path, monkeypatch):
    data = tmp_path / "dev"
    (data / "a").mkdir(parents=True)
    (data / "a" / "meta.json").write_text("{}")
    runs = tmp_path / "runs.jsonl"
    runs.write_text(
        "\n".join(json.dumps(r) for r in _suite({0: {"a": {"loopml": 0.8, "hgb": 0.7}}}))
    )
    monkeypatch.setattr(seeds, "HERE", tmp_path)
    (tmp_path / "results").mkdir()
    assert seeds.main(["--data-dir", str(data), "--name", "pooled", str(runs)]) == 0
    page = (tmp_path / "results" / "pooled.md").read_text()
    assert page.startswith("# AutoML benchmark: 300 s, dev suite, mean of seeds 0")


def test_the_page_names_the_machines_the_runs_came_from():
    records = [
        {**_run("a", "loopml", 0, 0.8), "cpu": "AMD EPYC"},
        {**_run("a", "hgb", 0, 0.7), "cpu": "AMD EPYC"},
        _run("a", "flaml", 0, 0.75),  # a run from before records named their CPU
    ]
    assert seeds.bench._machines(records) == "AMD EPYC (2 rows), not recorded (1 rows)"
    assert seeds.bench._machines(records[:2]).startswith("AMD EPYC, ")
