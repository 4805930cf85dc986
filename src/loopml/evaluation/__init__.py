"""Stage 6: holdout metrics, plots' data and the success gate."""

from __future__ import annotations

from loopml.evaluation._evaluate import Evaluation, GateResult, check_gate, evaluate

__all__ = ["Evaluation", "GateResult", "check_gate", "evaluate"]
