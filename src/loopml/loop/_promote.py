"""Which alias a newly trained model gets: champion only if it passes the gate, does not look
too good while a leakage finding stands, and beats the current champion on the same holdout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loopml.evaluation import Evaluation, near_perfect
from loopml.metrics import greater_is_better
from loopml.types import Finding


@dataclass(frozen=True)
class PromotionDecision:
    alias: str  # champion | challenger
    reason: str
    champion_score: float | None = None
    #: The columns of the leakage findings that held a near-perfect model back, if any.
    leakage_columns: tuple[str, ...] = ()


def decide_promotion(
    new: Evaluation,
    champion: Evaluation | None,
    *,
    leakage: Sequence[Finding] = (),
    cv_score: float | None = None,
) -> PromotionDecision:
    """The alias for ``new``, and why.

    Parameters
    ----------
    new
        The new model's evaluation on the holdout.
    champion
        The current champion scored on the same holdout, or None if none exists (or it cannot
        score this data).
    leakage
        The ``suspected-leakage`` findings that stand on the training data.
    cv_score
        The new model's cross-validated score on ``new.metric``.

    Returns
    -------
    PromotionDecision
        ``challenger`` when the gate fails; ``challenger`` when a leakage finding stands and a
        score is near-perfect (:data:`loopml.evaluation.NEAR_PERFECT`: the cross-validated
        primary metric, or a holdout metric), with the columns in ``leakage_columns``;
        otherwise ``champion`` if there is none yet or the new model beats it.
    """
    if not new.gate.passed:
        return PromotionDecision("challenger", f"success gate not met ({new.gate.describe()})")
    columns = tuple(dict.fromkeys(f.column for f in leakage if f.column))
    if leakage:
        cv = {} if cv_score is None else {new.metric: cv_score}
        holdout = {new.metric: new.primary, **new.metrics}  # the primary metric first
        too_good = [f"cross-validated {name} {value:.4f}" for name, value in near_perfect(cv)]
        too_good += [f"holdout {name} {value:.4f}" for name, value in near_perfect(holdout)]
        if too_good:
            shown = ", ".join(repr(c) for c in columns) or "the data"
            return PromotionDecision(
                "challenger",
                f"{' and '.join(too_good[:2])} looks too good while a leakage finding stands "
                f"on {shown}",
                leakage_columns=columns,
            )
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
