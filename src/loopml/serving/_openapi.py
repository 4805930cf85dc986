"""``/openapi.json`` for the loaded model: its real input columns and their types.

The predict route reads its body as bytes (no pydantic model on the request path), so the
request schema is written here from the schema's column roles, the way the reader reads
them, and rebuilt when another model version goes live.
"""

from __future__ import annotations

from typing import Any

from loopml.data import ColumnSchema
from loopml.serving._holder import LoadedModel


def column_schema(col: ColumnSchema) -> dict[str, Any]:
    """The JSON schema of one column's values (``null`` is a missing value everywhere)."""
    if col.role == "numeric":
        out: dict[str, Any] = {"type": ["number", "null"]}
        if col.minimum is not None and col.maximum is not None:
            out["description"] = f"seen in training: {col.minimum:g} to {col.maximum:g}"
    elif col.role == "boolean":
        out = {"type": ["boolean", "null"]}
    elif col.role == "datetime":
        out = {"type": ["string", "null"], "format": "date-time"}
    elif col.role == "categorical":
        out = {"type": ["string", "null"]}
        if col.categories:
            out["examples"] = list(col.categories[:20])
            out["description"] = "unseen categories are predicted and flagged in warnings"
    else:
        out = {"type": ["string", "null"]}
    out["title"] = col.name
    return out


def instance_schema(model: LoadedModel, extra_columns: str) -> dict[str, Any]:
    features = model.features
    return {
        "type": "object",
        "title": "Instance",
        "properties": {c.name: column_schema(c) for c in features},
        "required": [c.name for c in features],
        "additionalProperties": extra_columns != "reject",
    }


def _response_schema(model: LoadedModel) -> dict[str, Any]:
    classification = model.problem.is_classification
    prediction: dict[str, Any] = (
        {"type": "string", "enum": model.classes}
        if classification
        else {"type": ["number", "null"]}
    )
    if model.problem.unsupervised:  # clusters are integers, anomaly flags booleans
        classes = model.problem.classes
        prediction = {"type": _label_type(classes), "enum": list(classes)}
    props: dict[str, Any] = {
        "predictions": {"type": "array", "items": prediction},
        "model_version": {"type": "string"},
        "request_ids": {"type": "array", "items": {"type": "string"}},
        "warnings": {"type": "object"},
        # only while serving.challenger compares: who answered
        "variant": {"type": "string", "enum": ["champion", "challenger"]},
    }
    if classification:
        props["probabilities"] = {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {c: {"type": "number"} for c in model.classes},
            },
        }
    if model.problem.task == "anomaly":  # the raw scores behind the flags
        props["anomaly_scores"] = {"type": "array", "items": {"type": "number"}}
    return {"type": "object", "properties": props, "required": list(props)[:3]}


def _label_type(classes: tuple[Any, ...]) -> str:
    """The JSON type of a clustering's or an anomaly model's labels."""
    return "boolean" if all(isinstance(c, bool) for c in classes) else "integer"


def _error_responses() -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "400": {"description": "The body is not JSON", **error},
        "401": {"description": "Missing or wrong API key", **error},
        "413": {"description": "Too large: body bytes or instances", **error},
        "422": {"description": "An instance cannot be scored (every field named)", **error},
    }


def patch_document(doc: dict[str, Any], model: LoadedModel, extra_columns: str) -> dict[str, Any]:
    """Put the model's request and response schemas into FastAPI's document ``doc``."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Instance"] = instance_schema(model, extra_columns)
    schemas["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "detail": {"type": "array"}},
        "required": ["error"],
    }
    body = {
        "type": "object",
        "properties": {
            "instances": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Instance"},
                "minItems": 1,
            }
        },
        "required": ["instances"],
    }
    predict = doc["paths"]["/v1/predict"]["post"]
    predict["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    predict["responses"] = {
        "200": {
            "description": f"Predictions of {model.name} version {model.version}",
            "content": {"application/json": {"schema": _response_schema(model)}},
        },
        **_error_responses(),
    }
    _patch_feedback(doc, model)
    _patch_infer(doc)
    doc["info"]["description"] = (
        f"Predictions of model {model.name!r} version {model.version} ({model.problem.task}, "
        f"target {model.schema.target!r}). Columns the model does not use are ignored and "
        "listed in `warnings`."
    )
    return doc


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _patch_feedback(doc: dict[str, Any], model: LoadedModel) -> None:
    label: dict[str, Any] = (
        {"type": "string", "enum": model.classes}
        if model.problem.is_classification
        else {"type": "number"}
    )
    doc["components"]["schemas"]["Feedback"] = {
        "type": "object",
        "properties": {"request_id": {"type": "string", "minLength": 1}, "label": label},
        "required": ["request_id", "label"],
    }
    one = {"$ref": "#/components/schemas/Feedback"}
    feedback = doc["paths"]["/v1/feedback"]["post"]
    feedback["requestBody"] = _json_body(
        {"oneOf": [one, {"type": "array", "items": one, "minItems": 1}]}
    )
    stored = {"type": "object", "properties": {"stored": {"type": "integer"}}}
    feedback["responses"] = {
        "200": {
            "description": "Labels stored",
            "content": {"application/json": {"schema": stored}},
        },
        "404": {"description": "Unknown request ids (nothing stored)"},
        **_error_responses(),
    }


def _patch_infer(doc: dict[str, Any]) -> None:
    tensor = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string"},
            "data": {"type": "array"},
        },
        "required": ["name", "shape", "datatype", "data"],
    }
    body = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "inputs": {"type": "array", "items": tensor}},
        "required": ["inputs"],
    }
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        doc["paths"][path]["post"]["requestBody"] = _json_body(body)
