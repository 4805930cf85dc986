"""Which alias a newly trained model gets: champion only if it passes the gate and beats the
current champion on the same holdout."""

from __future__ import annotations

from dataclasses import dataclass

from loopml.evaluation import Evaluation
from loopml.metrics import greater_is_better


@dataclass(frozen=True)
class PromotionDecision:
    alias: str  # champion | challenger
    reason: str
    champion_score: float | None = None


def decide_promotion(new: Evaluation, champion: Evaluation | None) -> PromotionDecision:
    """``champion`` is the current champion scored on ``new``'s holdout, or None if none exists
    (or it cannot score this data)."""
    if not new.gate.passed:
        return PromotionDecision("challenger", f"success gate not met ({new.gate.describe()})")
    if champion is None:
        return PromotionDecision("champion", "passes the gate and no champion exists yet")
    metric = new.metric
    ours, theirs = new.primary, champion.metrics.get(metric, float("nan"))
    better = ours > theirs if greater_is_better(metric) else ours < theirs
    if theirs != theirs or better:  # NaN: the champion could not be scored
        return PromotionDecision(
            "champion",
            f"{metric} {ours:.4f} beats the champion's {theirs:.4f} on the same holdout",
            champion_score=theirs,
        )
    return PromotionDecision(
        "challenger",
        f"{metric} {ours:.4f} does not beat the champion's {theirs:.4f} on the same holdout",
        champion_score=theirs,
    )
