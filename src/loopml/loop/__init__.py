"""Stage 8 (on top of the others): promotion decisions; retraining comes later."""

from __future__ import annotations

from loopml.loop._promote import PromotionDecision, decide_promotion

__all__ = ["PromotionDecision", "decide_promotion"]
