"""Scoring a Spark DataFrame with a registered loopml model, through MLflow's ``spark_udf``.

A registered model is an MLflow pyfunc model, so Spark runs it as a pandas UDF on its
executors (each needs loopml installed, in the same version). :func:`spark_scorer` builds
that UDF from the model's own schema: its feature columns are passed by name (the UDF is
given a struct of them, so the DataFrame may hold other columns in any order) and its result
is one column per output of ``loopml score``: ``prediction`` and, for a classifier,
``proba_<class>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loopml.registry import ModelBundle


def _label_type(classes: tuple[Any, ...]) -> str:
    if all(isinstance(c, bool) for c in classes):
        return "boolean"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "bigint"
    return "string"


def result_type(bundle: ModelBundle) -> str:
    """The UDF's result as a Spark DDL struct: the columns ``predict_frame`` returns."""
    problem = bundle.problem
    if problem.task == "regression":
        return "`prediction` double"
    fields = [f"`prediction` {_label_type(tuple(problem.classes))}"]
    fields += [f"`proba_{c}` double" for c in problem.classes]
    if problem.task == "anomaly":
        fields.append("`anomaly_score` double")
    return ", ".join(fields)


def spark_scorer(
    spark: Any, model_uri: str, bundle: ModelBundle, *, tracking_uri: str
) -> Callable[[Any], Any]:
    """A function that adds the model's outputs to a Spark DataFrame.

    Parameters
    ----------
    spark
        The ``SparkSession``.
    model_uri
        The registered model, as MLflow names it (``models:/churn@champion``).
    bundle
        The same model, loaded here: its schema names the columns and types.
    tracking_uri
        Where the registry is (the project's ``tracking.uri``, resolved).
    """
    import mlflow
    from mlflow.pyfunc import spark_udf
    from pyspark.sql import functions

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:  # the model is fetched here, on the driver, and shipped to the executors
        udf = spark_udf(spark, model_uri, result_type=result_type(bundle), env_manager="local")
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    features = [c.name for c in bundle.schema.feature_columns]
    outputs = bundle.output_columns()

    def score(frame: Any) -> Any:
        missing = [c for c in features if c not in frame.columns]
        if missing:
            from loopml.errors import SchemaError

            raise SchemaError(
                f"the Spark DataFrame lacks the model's column(s) {', '.join(missing)}; "
                "add them (null where unknown) or select a DataFrame that has them."
            )
        scored = frame.withColumn("_loopml", udf(functions.struct(*features)))
        return scored.select("*", *[f"_loopml.`{c}`" for c in outputs]).drop("_loopml")

    return score
