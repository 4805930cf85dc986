"""Stage 6: holdout metrics, diagnostics, plots' data, the model card and the success gate."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.evaluation._bootstrap import (
        Interval,
        Resampling,
        bootstrap_interval,
        bootstrap_scores,
    )
    from loopml.evaluation._card import model_card
    from loopml.evaluation._clusters import ClusterProfile, cluster_profiles
    from loopml.evaluation._common import DiagnosisSettings, TrainAndHoldout
    from loopml.evaluation._contributions import contributions
    from loopml.evaluation._diagnose import Diagnostics, diagnose
    from loopml.evaluation._evaluate import Evaluation, GateResult, check_gate, evaluate
    from loopml.evaluation._fairness import FairnessReport, FairnessSettings, fairness_report
    from loopml.evaluation._fit import FitCheck
    from loopml.evaluation._importance import (
        Explanations,
        FeatureImportance,
        PermutationImportance,
        RowExplanation,
    )
    from loopml.evaluation._learning import (
        CurveSettings,
        LearningCurve,
        LearningPoint,
        learning_curve,
    )
    from loopml.evaluation._notes import NEAR_PERFECT, Note, near_perfect
    from loopml.evaluation._paired import (
        MCNEMAR_EXACT_BELOW,
        PairedTest,
        Scored,
        bootstrap_p_value,
        mcnemar,
        paired_test,
    )
    from loopml.evaluation._probability import (
        Calibration,
        CalibrationCurve,
        Lift,
        LiftRow,
        calibration,
        lift_table,
    )
    from loopml.evaluation._run import Assessment, AssessSettings, assess, evaluate_labelled
    from loopml.evaluation._unsupervised import (
        UnsupervisedFindings,
        anomaly_scores,
        evaluate_unsupervised,
        unsupervised_findings,
    )

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.evaluation._clusters": ["ClusterProfile", "cluster_profiles"],
        "loopml.evaluation._unsupervised": [
            "UnsupervisedFindings",
            "anomaly_scores",
            "evaluate_unsupervised",
            "unsupervised_findings",
        ],
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
        "loopml.evaluation._fairness": ["FairnessReport", "FairnessSettings", "fairness_report"],
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
        "loopml.evaluation._paired": [
            "MCNEMAR_EXACT_BELOW",
            "PairedTest",
            "Scored",
            "bootstrap_p_value",
            "mcnemar",
            "paired_test",
        ],
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
    "MCNEMAR_EXACT_BELOW",
    "NEAR_PERFECT",
    "AssessSettings",
    "Assessment",
    "Calibration",
    "CalibrationCurve",
    "ClusterProfile",
    "CurveSettings",
    "DiagnosisSettings",
    "Diagnostics",
    "Evaluation",
    "Explanations",
    "FairnessReport",
    "FairnessSettings",
    "FeatureImportance",
    "FitCheck",
    "GateResult",
    "Interval",
    "LearningCurve",
    "LearningPoint",
    "Lift",
    "LiftRow",
    "Note",
    "PairedTest",
    "PermutationImportance",
    "Resampling",
    "RowExplanation",
    "Scored",
    "TrainAndHoldout",
    "UnsupervisedFindings",
    "anomaly_scores",
    "assess",
    "bootstrap_interval",
    "bootstrap_p_value",
    "bootstrap_scores",
    "calibration",
    "check_gate",
    "cluster_profiles",
    "contributions",
    "diagnose",
    "evaluate",
    "evaluate_labelled",
    "evaluate_unsupervised",
    "fairness_report",
    "learning_curve",
    "lift_table",
    "mcnemar",
    "model_card",
    "near_perfect",
    "paired_test",
    "unsupervised_findings",
]
