"""The paired tests of retraining: McNemar, the paired bootstrap, and their verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.data import Problem
from loopml.evaluation import Resampling
from loopml.loop._paired import PairedTest, Scored, bootstrap_p_value, mcnemar, paired_test


def _outcomes(b: int, c: int, both: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Right/wrong per row: ``b`` rows only the champion gets right, ``c`` only the challenger,
    ``both`` rows both get right."""
    champion = np.array([True] * b + [False] * c + [True] * both)
    challenger = np.array([False] * b + [True] * c + [True] * both)
    return champion, challenger


def test_mcnemar_exact_below_25_discordant_rows() -> None:
    # b=1, c=9: 2 * P(X <= 1), X ~ Binomial(10, 1/2) = 2 * 11 / 1024
    assert mcnemar(*_outcomes(1, 9)) == (22 / 1024, "mcnemar exact")
    # b=3, c=17: 2 * (1 + 20 + 190 + 1140) / 2**20
    assert mcnemar(*_outcomes(3, 17)) == (2 * 1351 / 2**20, "mcnemar exact")
    assert mcnemar(*_outcomes(5, 5)) == (1.0, "mcnemar exact")
    assert mcnemar(*_outcomes(0, 0)) == (1.0, "mcnemar exact")  # no discordant row


def test_mcnemar_chi_square_with_continuity_correction_from_25() -> None:
    # b=10, c=30: (|10 - 30| - 1)^2 / 40 = 9.025; chi-square(1) survival = 0.0026631...
    p, test = mcnemar(*_outcomes(10, 30))
    assert test == "mcnemar chi-square"
    assert p == pytest.approx(0.002663119259138554, rel=1e-12)
    assert mcnemar(*_outcomes(30, 10))[0] == p  # two-sided


def test_bootstrap_p_value_counts_the_other_side_of_zero() -> None:
    diffs = np.array([0.2, 0.1, -0.1, 0.3, 0.0, 0.2, 0.1, 0.4, 0.1])
    # observed > 0: 2 resamples at or below zero -> 2 * (1 + 2) / 10
    assert bootstrap_p_value(diffs, 0.15) == pytest.approx(0.6)
    # observed < 0: 8 resamples at or above zero -> capped at 1
    assert bootstrap_p_value(diffs, -0.05) == 1.0
    assert bootstrap_p_value(np.array([]), 0.1) == 1.0


def _binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = np.where(signal + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    return y, signal


def _model(signal: np.ndarray, noise: float, seed: int) -> Scored:
    rng = np.random.default_rng(seed)
    p_yes = 1 / (1 + np.exp(-(signal + rng.normal(scale=noise, size=len(signal)))))
    pred = np.where(p_yes > 0.5, "yes", "no")
    return Scored(pred, np.column_stack([1 - p_yes, p_yes]))


def _test(metric: str, y: np.ndarray, champion: Scored, challenger: Scored) -> PairedTest:
    problem = Problem("binary", "label", metric, None, ("no", "yes"), "yes")
    return paired_test(problem, y, champion, challenger, resampling=Resampling(1000, seed=0))


def test_a_clearly_better_challenger_is_significant_on_roc_auc() -> None:
    y, signal = _binary(400, seed=1)
    result = _test("roc_auc", y, _model(signal, 3.0, seed=2), _model(signal, 0.2, seed=3))
    assert result.test == "paired bootstrap"
    assert result.challenger - result.champion == pytest.approx(result.difference)
    assert result.difference > 0.1
    assert 0 < result.low < result.difference < result.high
    assert result.p_value == pytest.approx(2 / 1001)  # no resample favoured the champion
    assert result.significant
    # the same seed gives the same numbers
    again = _test("roc_auc", y, _model(signal, 3.0, seed=2), _model(signal, 0.2, seed=3))
    assert again == result


def test_an_equal_challenger_is_not_significant() -> None:
    y, signal = _binary(400, seed=1)
    same = _model(signal, 1.0, seed=2)
    identical = _test("roc_auc", y, same, same)
    assert (identical.difference, identical.low, identical.high) == (0.0, 0.0, 0.0)
    assert identical.p_value == 1.0 and not identical.significant
    # as good, but different: the noise of two equal models is not a win
    twin = _test("roc_auc", y, _model(signal, 1.0, seed=2), _model(signal, 1.0, seed=5))
    assert twin.low < 0 < twin.high
    assert twin.p_value > 0.05 and not twin.significant


def test_accuracy_uses_mcnemar_and_the_bootstrap_interval() -> None:
    y, signal = _binary(400, seed=1)
    champion, challenger = _model(signal, 3.0, seed=2), _model(signal, 0.2, seed=3)
    result = _test("accuracy", y, champion, challenger)
    assert result.test == "mcnemar chi-square"
    assert result.p_value == mcnemar(champion.pred == y, challenger.pred == y)[0]
    assert result.significant and result.low > 0


def test_a_loss_metric_favours_the_lower_value() -> None:
    y, signal = _binary(400, seed=1)
    result = _test("log_loss", y, _model(signal, 3.0, seed=2), _model(signal, 0.2, seed=3))
    assert result.difference < 0 and result.high < 0
    assert result.favours_challenger and result.significant
    worse = _test("log_loss", y, _model(signal, 0.2, seed=3), _model(signal, 3.0, seed=2))
    assert not worse.favours_challenger and not worse.significant
    assert worse.p_value < 0.05  # significantly worse is not better
