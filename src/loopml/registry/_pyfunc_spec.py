"""How MLflow describes a loopml model: its signature and the pinned requirements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.registry._bundle import ModelBundle


def requirements() -> list[str]:
    """Pinned requirements of the running environment, so MLflow does not infer them."""
    from importlib.metadata import PackageNotFoundError, version

    names = [
        "mlflow",
        "scikit-learn",
        "lightgbm",
        "pandas",
        "numpy",
        "pyarrow",
        "joblib",
        "pydantic",
        "pyyaml",
        "optuna",
    ]
    reqs = []
    for name in names:
        try:
            reqs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return reqs


def signature(bundle: ModelBundle) -> Any:
    """The model's inputs (the feature columns, by their training type) and outputs."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    def kind(dtype: str) -> str:
        # the type the column had in the training data, so the same kind of input passes
        if dtype.startswith(("int", "Int", "uint")):
            return "long"
        if dtype.startswith(("float", "Float")):
            return "double"
        if dtype == "bool":
            return "boolean"
        if dtype.startswith("datetime"):
            return "datetime"
        return "string"

    inputs = Schema(
        [ColSpec(kind(c.dtype), c.name, required=False) for c in bundle.schema.feature_columns]
    )
    out_type = "double" if bundle.problem.task == "regression" else "string"
    outputs = Schema(
        [
            ColSpec(out_type, "prediction"),
            *(ColSpec("double", f"proba_{c}") for c in bundle.problem.classes),
            *([ColSpec("double", "anomaly_score")] if bundle.problem.task == "anomaly" else []),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)
