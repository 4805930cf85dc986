"""What ``Project.train`` and ``Project.run`` return: the run's results and where they went."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.evaluation import Evaluation
    from loopml.loop import PromotionDecision
    from loopml.modeling import Leaderboard
    from loopml.registry import ModelVersionInfo
    from loopml.serving import ScoringSummary


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced and where it went."""

    version: ModelVersionInfo
    alias: str
    decision: PromotionDecision
    leaderboard: Leaderboard
    evaluation: Evaluation
    report: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def promotion_reason(self) -> str:
        """Why the version holds its alias: the decision's reason, or, when the registry
        published it as challenger because the champion moved while it trained, that."""
        if self.alias == self.decision.alias or not self.version.promotion_reason:
            return self.decision.reason
        prefix = f"{self.alias}: "
        reason = self.version.promotion_reason
        return reason[len(prefix) :] if reason.startswith(prefix) else reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.version.name,
            "version": self.version.version,
            "run_id": self.version.run_id,
            "alias": self.alias,
            "promotion_reason": self.promotion_reason,
            "held_back_for_leakage": list(self.decision.leakage_columns),
            "evaluation": self.evaluation.to_dict(),
            "leaderboard": self.leaderboard.to_dict(),
            "report": str(self.report),
            "data": self.data,
        }


def held_alias(aliases: tuple[str, ...], decided: str) -> str:
    """The alias the registry gave the version (it publishes a champion decided against a
    champion that moved meanwhile as challenger), else the decided one."""
    for alias in ("champion", "challenger"):
        if alias in aliases:
            return alias
    return decided


@dataclass(frozen=True)
class RunResult:
    train: TrainResult
    scoring: ScoringSummary | None
    scoring_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": self.train.to_dict(),
            "scoring": self.scoring.to_dict() if self.scoring else None,
            "scoring_note": self.scoring_note,
        }
