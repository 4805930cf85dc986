"""Which alias a newly trained model gets (loopml.loop._promote)."""

from __future__ import annotations

import math

import pytest

from loopml.evaluation import Evaluation, GateResult
from loopml.loop import PromotionDecision, decide_promotion
from loopml.types import Finding


def _evaluation(metric: str, value: float, *, passed: bool = True) -> Evaluation:
    gate = GateResult(gate=f"{metric} >= 0.5", value=value, passed=passed)
    return Evaluation(
        task="regression" if metric in ("rmse", "mae", "r2", "mape") else "binary",
        metric=metric,
        primary=value,
        metrics={metric: value},
        gate=gate,
        n_rows=100,
    )


def test_failed_gate_makes_a_challenger() -> None:
    new = _evaluation("roc_auc", 0.4, passed=False)

    decision = decide_promotion(new, champion=None)

    assert decision == PromotionDecision(
        "challenger", "success gate not met (roc_auc >= 0.5: 0.4000 → FAILED)"
    )


def test_failed_gate_loses_even_against_a_worse_champion() -> None:
    new = _evaluation("roc_auc", 0.45, passed=False)
    decision = decide_promotion(new, champion=_evaluation("roc_auc", 0.3))
    assert decision.alias == "challenger"
    assert decision.reason.startswith("success gate not met")
    assert decision.champion_score is None


def test_first_model_passing_the_gate_becomes_champion() -> None:
    decision = decide_promotion(_evaluation("roc_auc", 0.8), champion=None)
    assert decision == PromotionDecision(
        "champion", "passes the gate and no champion exists yet", champion_score=None
    )


@pytest.mark.parametrize(
    ("metric", "new", "old", "alias"),
    [
        # larger is better
        ("roc_auc", 0.90, 0.85, "champion"),
        ("roc_auc", 0.80, 0.85, "challenger"),
        ("roc_auc", 0.85, 0.85, "challenger"),  # a tie does not replace the champion
        # smaller is better
        ("rmse", 1.5, 2.0, "champion"),
        ("rmse", 2.5, 2.0, "challenger"),
        ("rmse", 2.0, 2.0, "challenger"),
        ("log_loss", 0.30, 0.35, "champion"),
        ("log_loss", 0.40, 0.35, "challenger"),
    ],
)
def test_the_better_model_becomes_champion(metric: str, new: float, old: float, alias: str) -> None:
    decision = decide_promotion(_evaluation(metric, new), champion=_evaluation(metric, old))

    assert decision.alias == alias
    assert decision.champion_score == old
    verdict = "beats" if alias == "champion" else "does not beat"
    assert decision.reason == (
        f"{metric} {new:.4f} {verdict} the champion's {old:.4f} on the same holdout"
    )


def test_a_champion_that_cannot_be_scored_is_replaced() -> None:
    champion = _evaluation("roc_auc", float("nan"))

    decision = decide_promotion(_evaluation("roc_auc", 0.7), champion)

    assert decision.alias == "champion"
    assert decision.champion_score is not None and math.isnan(decision.champion_score)


def test_a_champion_without_the_metric_is_replaced() -> None:
    champion = _evaluation("accuracy", 0.99)  # scored, but not on roc_auc

    decision = decide_promotion(_evaluation("roc_auc", 0.7), champion)

    assert decision.alias == "champion"
    assert decision.champion_score is not None and math.isnan(decision.champion_score)


# --------------------------------------------------------------------------------------------
# a near-perfect model while a leakage finding stands


def _leak(column: str = "refund_amount") -> Finding:
    return Finding(id="suspected-leakage", severity="warning", column=column, message="...")


def _scores(metric: str, primary: float, **others: float) -> Evaluation:
    gate = GateResult(gate=None, value=None, passed=True)
    task = "regression" if metric in ("rmse", "mae", "r2", "mape") else "binary"
    metrics = {metric: primary, **others}
    return Evaluation(task, metric, primary, metrics, gate, n_rows=100)


def test_a_near_perfect_model_with_a_leakage_finding_is_held_back() -> None:
    new = _scores("roc_auc", 0.995, balanced_accuracy=0.97)

    decision = decide_promotion(new, None, leakage=[_leak(), _leak("a, b")], cv_score=0.98)

    assert decision == PromotionDecision(
        "challenger",
        "holdout roc_auc 0.9950 looks too good while a leakage finding stands on "
        "'refund_amount', 'a, b'",
        leakage_columns=("refund_amount", "a, b"),
    )


def test_a_near_perfect_cross_validated_score_is_enough() -> None:
    new = _scores("log_loss", 0.2, roc_auc=0.95)
    decision = decide_promotion(new, None, leakage=[_leak()], cv_score=0.04)
    assert decision.alias == "challenger"
    assert decision.reason.startswith("cross-validated log_loss 0.0400 looks too good")


def test_error_metrics_are_judged_by_r2() -> None:
    new = _scores("rmse", 0.3, r2=0.995, mae=0.2)
    decision = decide_promotion(new, None, leakage=[_leak()], cv_score=0.31)
    assert decision.reason.startswith("holdout r2 0.9950 looks too good")


@pytest.mark.parametrize(
    ("new", "leakage"),
    [
        (_scores("roc_auc", 0.995), []),  # near-perfect, but nothing found in the data
        (_scores("roc_auc", 0.93, balanced_accuracy=0.85), [_leak()]),  # a finding, a fair score
        (_scores("accuracy", 0.995, recall=1.0, balanced_accuracy=0.6), [_leak()]),  # one class
    ],
)
def test_otherwise_the_usual_rules_apply(new: Evaluation, leakage: list[Finding]) -> None:
    decision = decide_promotion(new, None, leakage=leakage, cv_score=new.primary)
    assert (decision.alias, decision.leakage_columns) == ("champion", ())


def test_a_failed_gate_is_the_reason_before_leakage() -> None:
    new = _evaluation("roc_auc", 0.999, passed=False)
    decision = decide_promotion(new, None, leakage=[_leak()], cv_score=0.999)
    assert decision.reason.startswith("success gate not met")
    assert decision.leakage_columns == ()
