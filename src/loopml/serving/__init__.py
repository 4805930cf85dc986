"""Stage 7: deployment. Batch scoring, the prediction service (`loopml serve`: the request
reader, the compiled row path, ONNX Runtime, the prediction log, model swaps without downtime)
and export to ONNX, Docker and Kubernetes."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.serving._batch import ScoringSummary, score_file
    from loopml.serving._compile import CompiledPredictor, Runtime, compile_predictor
    from loopml.serving._contract import (
        METRICS,
        MONITORING_METRICS,
        Feedback,
        FieldProblem,
        LoggedPrediction,
        Predictions,
        PredictionSink,
        Predictor,
        ReadBatch,
        Records,
        RequestError,
        RowBatch,
    )
    from loopml.serving._dataset import (
        PART,
        PartSummary,
        check_columns,
        dataset_summary,
        score_dataset,
        score_part,
        staged_output,
    )
    from loopml.serving._deps import MONITORING_STATUS, ServiceSettings, service_settings
    from loopml.serving._export_docker import (
        DockerExport,
        ServingSettings,
        docker_image_name,
        export_docker,
    )
    from loopml.serving._export_k8s import ClusterSettings, K8sExport, export_k8s
    from loopml.serving._forget import ErasurePolicy, forget_entity
    from loopml.serving._frame import FramePredictor
    from loopml.serving._holder import LoadedModel, ModelSource, RegistryModelSource
    from loopml.serving._latency import row_latency_ms
    from loopml.serving._onnx import (
        OnnxExport,
        OnnxPredictor,
        ParityError,
        ParityReport,
        check_parity,
        export_onnx,
        to_onnx,
    )
    from loopml.serving._onnx_base import OnnxConversionError
    from loopml.serving._predlog import ForgetResult, LogStats, PredictionLog
    from loopml.serving._predlog_columns import LoggedColumns, columns_of
    from loopml.serving._predlog_store import LoggedRow, PredictionLogError
    from loopml.serving._reader import ExtraColumns, RecordReader
    from loopml.serving.app import create_app, serve

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.serving._batch": ["ScoringSummary", "score_file"],
        "loopml.serving._dataset": [
            "PART",
            "PartSummary",
            "check_columns",
            "dataset_summary",
            "score_dataset",
            "score_part",
            "staged_output",
        ],
        "loopml.serving._contract": [
            "Feedback",
            "FieldProblem",
            "LoggedPrediction",
            "METRICS",
            "MONITORING_METRICS",
            "PredictionSink",
            "Predictions",
            "Predictor",
            "ReadBatch",
            "Records",
            "RequestError",
            "RowBatch",
        ],
        "loopml.serving._reader": ["ExtraColumns", "RecordReader"],
        "loopml.serving._frame": ["FramePredictor"],
        "loopml.serving._forget": ["ErasurePolicy", "forget_entity"],
        "loopml.serving._compile": ["CompiledPredictor", "Runtime", "compile_predictor"],
        "loopml.serving._predlog": ["ForgetResult", "LogStats", "PredictionLog"],
        "loopml.serving._predlog_columns": ["LoggedColumns", "columns_of"],
        "loopml.serving._predlog_store": ["LoggedRow", "PredictionLogError"],
        "loopml.serving._onnx_base": ["OnnxConversionError"],
        "loopml.serving._onnx": [
            "OnnxExport",
            "OnnxPredictor",
            "ParityError",
            "ParityReport",
            "check_parity",
            "export_onnx",
            "to_onnx",
        ],
        "loopml.serving._export_docker": [
            "DockerExport",
            "ServingSettings",
            "docker_image_name",
            "export_docker",
        ],
        "loopml.serving._export_k8s": ["ClusterSettings", "K8sExport", "export_k8s"],
        "loopml.serving._deps": ["MONITORING_STATUS", "ServiceSettings", "service_settings"],
        "loopml.serving._holder": ["LoadedModel", "ModelSource", "RegistryModelSource"],
        "loopml.serving._latency": ["row_latency_ms"],
        "loopml.serving.app": ["create_app", "serve"],
    },
)

__all__ = [
    "METRICS",
    "MONITORING_METRICS",
    "MONITORING_STATUS",
    "PART",
    "ClusterSettings",
    "CompiledPredictor",
    "DockerExport",
    "ErasurePolicy",
    "ExtraColumns",
    "Feedback",
    "FieldProblem",
    "ForgetResult",
    "FramePredictor",
    "K8sExport",
    "LoadedModel",
    "LogStats",
    "LoggedColumns",
    "LoggedPrediction",
    "LoggedRow",
    "ModelSource",
    "OnnxConversionError",
    "OnnxExport",
    "OnnxPredictor",
    "ParityError",
    "ParityReport",
    "PartSummary",
    "PredictionLog",
    "PredictionLogError",
    "PredictionSink",
    "Predictions",
    "Predictor",
    "ReadBatch",
    "RecordReader",
    "Records",
    "RegistryModelSource",
    "RequestError",
    "RowBatch",
    "Runtime",
    "ScoringSummary",
    "ServiceSettings",
    "ServingSettings",
    "check_columns",
    "check_parity",
    "columns_of",
    "compile_predictor",
    "create_app",
    "dataset_summary",
    "docker_image_name",
    "export_docker",
    "export_k8s",
    "export_onnx",
    "forget_entity",
    "row_latency_ms",
    "score_dataset",
    "score_file",
    "score_part",
    "serve",
    "service_settings",
    "staged_output",
    "to_onnx",
]
