"""Stage 6: holdout metrics, diagnostics, plots' data, the model card and the success gate."""

from __future__ import annotations

from loopml._lazy import lazy_exports as _lazy_exports

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.evaluation._bootstrap": [
            "Interval",
            "Resampling",
            "bootstrap_interval",
            "bootstrap_scores",
        ],
        "loopml.evaluation._card": ["model_card"],
        "loopml.evaluation._common": ["DiagnosisSettings", "TrainAndHoldout"],
        "loopml.evaluation._contributions": ["contributions"],
        "loopml.evaluation._diagnose": ["Diagnostics", "diagnose"],
        "loopml.evaluation._evaluate": ["Evaluation", "GateResult", "check_gate", "evaluate"],
        "loopml.evaluation._fit": ["FitCheck"],
        "loopml.evaluation._importance": [
            "Explanations",
            "FeatureImportance",
            "PermutationImportance",
            "RowExplanation",
        ],
        "loopml.evaluation._learning": [
            "CurveSettings",
            "LearningCurve",
            "LearningPoint",
            "learning_curve",
        ],
        "loopml.evaluation._notes": ["NEAR_PERFECT", "Note", "near_perfect"],
        "loopml.evaluation._run": ["AssessSettings", "Assessment", "assess", "evaluate_labelled"],
        "loopml.evaluation._probability": [
            "Calibration",
            "CalibrationCurve",
            "Lift",
            "LiftRow",
            "calibration",
            "lift_table",
        ],
    },
)

__all__ = [
    "NEAR_PERFECT",
    "AssessSettings",
    "Assessment",
    "Calibration",
    "CalibrationCurve",
    "CurveSettings",
    "DiagnosisSettings",
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
    "Resampling",
    "RowExplanation",
    "TrainAndHoldout",
    "assess",
    "bootstrap_interval",
    "bootstrap_scores",
    "calibration",
    "check_gate",
    "contributions",
    "diagnose",
    "evaluate",
    "evaluate_labelled",
    "learning_curve",
    "lift_table",
    "model_card",
    "near_perfect",
]
