"""Stage 6: holdout metrics, diagnostics, plots' data, the model card and the success gate."""

from __future__ import annotations

from loopml.evaluation._bootstrap import Interval, bootstrap_interval, bootstrap_scores
from loopml.evaluation._card import model_card
from loopml.evaluation._contributions import contributions
from loopml.evaluation._diagnose import Diagnostics, diagnose
from loopml.evaluation._evaluate import Evaluation, GateResult, check_gate, evaluate
from loopml.evaluation._fit import FitCheck
from loopml.evaluation._importance import (
    Explanations,
    FeatureImportance,
    PermutationImportance,
    RowExplanation,
)
from loopml.evaluation._learning import LearningCurve, LearningPoint, learning_curve
from loopml.evaluation._notes import NEAR_PERFECT, Note, near_perfect
from loopml.evaluation._probability import (
    Calibration,
    CalibrationCurve,
    Lift,
    LiftRow,
    calibration,
    lift_table,
)

__all__ = [
    "NEAR_PERFECT",
    "Calibration",
    "CalibrationCurve",
    "Diagnostics",
    "Evaluation",
    "Explanations",
    "FeatureImportance",
    "FitCheck",
    "GateResult",
    "Interval",
    "LearningCurve",
    "LearningPoint",
    "Lift",
    "LiftRow",
    "Note",
    "PermutationImportance",
    "RowExplanation",
    "bootstrap_interval",
    "bootstrap_scores",
    "calibration",
    "check_gate",
    "contributions",
    "diagnose",
    "evaluate",
    "learning_curve",
    "lift_table",
    "model_card",
    "near_perfect",
]
