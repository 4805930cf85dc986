"""Champion against challenger on logged traffic (loopml.monitoring._variants): a truly
better challenger is found, an equal one is not, on shadow (paired) and A/B (two-sample)
traffic, with seeded data in a real prediction log."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from loopml.data import Problem
from loopml.monitoring import compare_variants
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

BINARY = Problem(
    task="binary",
    target="y",
    metric="accuracy",
    gate=None,
    classes=("no", "yes"),
    positive_class="yes",
)
T0 = 1_800_000_000.0


@pytest.fixture
def plog(tmp_path: Path) -> Iterator[PredictionLog]:
    with PredictionLog(f"sqlite:///{tmp_path}/p.db", mode="sync") as log:
        yield log


def _said(rng: np.random.Generator, truth: np.ndarray, right: float) -> np.ndarray:
    """Predictions that are right with probability ``right``, and probabilities behind them
    (higher for "yes" when the prediction says yes)."""
    ok = rng.random(len(truth)) < right
    said_yes = np.where(ok, truth, ~truth)
    return said_yes


def _proba(rng: np.random.Generator, said_yes: np.ndarray) -> list[dict[str, float]]:
    p = np.where(
        said_yes, rng.uniform(0.5, 1.0, len(said_yes)), rng.uniform(0.0, 0.5, len(said_yes))
    )
    return [{"no": 1 - float(v), "yes": float(v)} for v in p]


def _entries(
    ids: list[str], said_yes: np.ndarray, version: str, variant: str, proba: list[dict[str, float]]
) -> list[LoggedPrediction]:
    return [
        LoggedPrediction(
            request_id=rid,
            time=T0 + i,
            model_version=version,
            features={"x": float(i)},
            prediction="yes" if s else "no",
            probabilities=p,
            latency_ms=1.0,
            variant=variant,
        )
        for i, (rid, s, p) in enumerate(zip(ids, said_yes, proba, strict=True))
    ]


def _label(plog: PredictionLog, ids: list[str], truth: np.ndarray) -> None:
    plog.feedback(
        [Feedback(rid, "yes" if t else "no", T0 + 1e5) for rid, t in zip(ids, truth, strict=True)]
    )


def _shadow_log(plog: PredictionLog, n: int, champion: float, challenger: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.5
    ids = [f"r{i}" for i in range(n)]
    first, second = _said(rng, truth, champion), _said(rng, truth, challenger)
    plog.record(_entries(ids, first, "1", "champion", _proba(rng, first)))
    shadow_ids = [f"{rid}#shadow" for rid in ids]
    plog.record(_entries(shadow_ids, second, "2", "shadow", _proba(rng, second)))
    _label(plog, ids, truth)  # labelled once, by the request's id: both variants read it


def _ab_log(plog: PredictionLog, n: int, champion: float, challenger: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for version, variant, right in (("1", "champion", champion), ("2", "challenger", challenger)):
        truth = rng.random(n) < 0.5
        ids = [f"{variant}-{i}" for i in range(n)]
        said = _said(rng, truth, right)
        plog.record(_entries(ids, said, version, variant, _proba(rng, said)))
        _label(plog, ids, truth)


def _compare(plog: PredictionLog, problem: Problem = BINARY, alpha: float = 0.01):  # type: ignore[no-untyped-def]
    return compare_variants(plog, problem, ["x"], since=T0, until=T0 + 1e6, alpha=alpha)


def test_a_better_challenger_in_shadow_is_found_by_mcnemar(plog: PredictionLog) -> None:
    _shadow_log(plog, 800, champion=0.75, challenger=0.85, seed=1)
    found = _compare(plog)
    assert found is not None
    assert (found.mode, found.champion_version, found.challenger_version) == ("shadow", "1", "2")
    assert found.test == "mcnemar chi-square"
    assert found.champion.rows == found.challenger.rows == 800
    assert found.difference == pytest.approx(found.challenger.value - found.champion.value)
    assert found.p_value is not None and found.p_value < 0.01
    assert found.low is not None and found.low > 0
    assert found.significant and found.favours_challenger
    assert "significantly better" in found.describe()


def test_an_equal_challenger_in_shadow_is_not_called_better(plog: PredictionLog) -> None:
    _shadow_log(plog, 800, champion=0.8, challenger=0.8, seed=2)
    found = _compare(plog)
    assert found is not None
    assert not found.significant
    assert found.low is not None and found.high is not None and found.low < 0 < found.high
    assert "no significant difference" in found.describe()


def test_shadow_with_a_probability_metric_uses_the_paired_bootstrap(plog: PredictionLog) -> None:
    _shadow_log(plog, 600, champion=0.7, challenger=0.9, seed=3)
    found = _compare(plog, dataclasses.replace(BINARY, metric="roc_auc"))
    assert found is not None
    assert found.test == "paired bootstrap" and found.metric == "roc_auc"
    assert found.significant and found.favours_challenger


def test_a_better_challenger_in_ab_is_found_by_the_two_sample_test(plog: PredictionLog) -> None:
    _ab_log(plog, 500, champion=0.74, challenger=0.86, seed=4)
    found = _compare(plog)
    assert found is not None
    assert found.mode == "ab" and found.test == "two-sample bootstrap z-test"
    assert (found.champion.rows, found.challenger.rows) == (500, 500)
    assert found.significant and found.favours_challenger
    assert found.champion.low is not None and found.champion.low < found.champion.value


def test_an_equal_challenger_in_ab_is_not_called_better(plog: PredictionLog) -> None:
    _ab_log(plog, 500, champion=0.8, challenger=0.8, seed=5)
    found = _compare(plog)
    assert found is not None and not found.significant


def test_a_worse_challenger_is_called_worse(plog: PredictionLog) -> None:
    _ab_log(plog, 500, champion=0.88, challenger=0.72, seed=6)
    found = _compare(plog)
    assert found is not None and found.significant and not found.favours_challenger
    assert "significantly worse" in found.describe()


def test_the_false_alarm_rate_of_equal_variants_stays_near_alpha(tmp_path: Path) -> None:
    alarms = 0
    for seed in range(40):
        with PredictionLog(f"sqlite:///{tmp_path}/p{seed}.db", mode="sync") as log:
            _ab_log(log, 150, champion=0.8, challenger=0.8, seed=100 + seed)
            found = _compare(log, alpha=0.05)
            assert found is not None
            alarms += found.significant
    assert alarms <= 6  # 5% of 40 is 2; 6 or more has probability below 1%


def test_too_few_labels_give_the_metrics_and_no_test(plog: PredictionLog) -> None:
    _shadow_log(plog, 20, champion=0.7, challenger=0.9, seed=7)
    found = _compare(plog)
    assert found is not None
    assert found.difference is None and found.p_value is None and not found.significant
    assert "too few to compare: 20" in found.note
    assert found.to_dict()["summary"].endswith(found.note)


def test_no_challenger_traffic_means_no_comparison(plog: PredictionLog) -> None:
    rng = np.random.default_rng(0)
    said = rng.random(50) < 0.5
    plog.record(_entries([f"c{i}" for i in range(50)], said, "1", "champion", _proba(rng, said)))
    assert _compare(plog) is None


def test_the_latest_challenger_version_is_the_one_compared(plog: PredictionLog) -> None:
    _shadow_log(plog, 100, champion=0.8, challenger=0.8, seed=8)
    rng = np.random.default_rng(9)
    later = rng.random(40) < 0.5
    entries = _entries(
        [f"n{i}#shadow" for i in range(40)], later, "3", "shadow", _proba(rng, later)
    )
    plog.record([dataclasses.replace(e, time=e.time + 1000) for e in entries])
    found = _compare(plog)
    assert found is not None and found.challenger_version == "3"
    assert found.champion.rows == 0  # the new version's requests have no champion rows here
