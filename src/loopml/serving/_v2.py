"""The Open Inference Protocol v2 (KServe, Triton): health, model metadata and infer.

Inputs are one tensor per feature column, named like the column, shape ``[n]`` (or
``[n, 1]``), as JSON data or in Triton's binary data extension (tritonclient's default).
Outputs: ``prediction`` ``[n]`` and, for classifiers, ``probabilities`` ``[n, classes]``
with the classes in the order ``GET /v2/models/{name}`` lists them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from loopml.serving._contract import FieldProblem, Predictions, RequestError
from loopml.serving._holder import LoadedModel
from loopml.serving._routes_common import (
    HttpProblem,
    json_response,
    parse_json,
    read_body,
    request_id_of,
    state_of,
)

#: The v2 datatype of each column role.
DATATYPES = {
    "numeric": "FP64",
    "boolean": "BOOL",
    "categorical": "BYTES",
    "datetime": "BYTES",
    "text": "BYTES",
}


def _model(request: Request) -> LoadedModel:
    model = state_of(request).holder.model
    name = request.path_params.get("name")
    if name != model.name:
        raise HttpProblem(
            404,
            f"unknown model {name!r}; this server serves {model.name!r} (version {model.version}).",
        )
    version = request.path_params.get("version")
    if version is not None and version != model.version:
        raise HttpProblem(
            404,
            f"model {model.name!r} version {version} is not loaded; this server serves "
            f"version {model.version}. Leave the version out to use it.",
        )
    return model


async def server_metadata(request: Request) -> Response:
    from importlib.metadata import PackageNotFoundError, version

    try:
        loopml_version = version("loopml")
    except PackageNotFoundError:
        loopml_version = "unknown"
    return json_response({"name": "loopml", "version": loopml_version, "extensions": []})


async def ready(request: Request) -> Response:
    holder = state_of(request).holder
    return json_response({"ready": holder.is_ready}, 200 if holder.is_ready else 503)


async def live(request: Request) -> Response:
    return json_response({"live": True})


async def model_ready(request: Request) -> Response:
    _model(request)
    return json_response({"name": request.path_params["name"], "ready": True})


def metadata(model: LoadedModel) -> dict[str, Any]:
    """The v2 model metadata: one input per feature column, the outputs."""
    outputs: list[dict[str, Any]] = [
        {
            "name": "prediction",
            "datatype": "BYTES" if model.problem.is_classification else "FP64",
            "shape": [-1],
        }
    ]
    if model.problem.is_classification:
        outputs.append(
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(model.classes)]}
        )
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "loopml",
        "inputs": [
            {"name": c.name, "datatype": DATATYPES.get(c.role, "BYTES"), "shape": [-1]}
            for c in model.features
        ],
        "outputs": outputs,
        "parameters": {"classes": model.classes, "runtime": model.runtime},
    }


async def model_metadata(request: Request) -> Response:
    return json_response(metadata(_model(request)))


def _flat(tensor: dict[str, Any], index: int) -> tuple[str, list[Any]]:
    name = tensor.get("name")
    data = tensor.get("data")
    if not isinstance(name, str) or not isinstance(data, list):
        raise HttpProblem(
            400, f"inputs[{index}] needs a 'name' and a 'data' list (JSON tensor data)."
        )
    if data and isinstance(data[0], list):  # [[v], [v]] for shape [n, 1]
        data = [row[0] if isinstance(row, list) and len(row) == 1 else row for row in data]
    return name, data


def records_of(payload: Any, model: LoadedModel) -> list[dict[str, Any]]:
    """Instances from v2 input tensors (one per column, all of the same length)."""
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise HttpProblem(400, "the body needs an 'inputs' list, one tensor per column.")
    columns = dict(_flat(t if isinstance(t, dict) else {}, i) for i, t in enumerate(inputs))
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        shown = ", ".join(f"{k}: {len(v)}" for k, v in columns.items())
        raise HttpProblem(
            400,
            f"the input tensors differ in length ({shown}); send one value per instance in each.",
        )
    n = lengths.pop()
    missing = [c.name for c in model.features if c.name not in columns]
    if missing:
        raise RequestError(
            [
                FieldProblem(
                    0, name, "no input tensor has this column; send it (null values for missing)"
                )
                for name in missing
            ]
        )
    names = list(columns)
    return [{name: columns[name][i] for name in names} for i in range(n)]


def _outputs(model: LoadedModel, answer: Predictions, n: int) -> list[dict[str, Any]]:
    classification = model.problem.is_classification
    outputs: list[dict[str, Any]] = [
        {
            "name": "prediction",
            "shape": [n],
            "datatype": "BYTES" if classification else "FP64",
            "data": [str(p) for p in answer.predictions] if classification else answer.predictions,
        }
    ]
    if answer.probabilities is not None:
        classes = model.classes
        outputs.append(
            {
                "name": "probabilities",
                "shape": [n, len(classes)],
                "datatype": "FP64",
                "data": [row.get(c, 0.0) for row in answer.probabilities for c in classes],
            }
        )
    return outputs


#: Numpy dtypes of the v2 datatypes sent as binary tensor data (little-endian).
_BINARY = {
    "FP64": "<f8",
    "FP32": "<f4",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT64": "<u8",
    "UINT32": "<u4",
    "UINT16": "<u2",
    "UINT8": "u1",
    "BOOL": "?",
}


def _decode(datatype: str, blob: bytes, name: str) -> list[Any]:
    """One input's binary tensor data as Python values (Triton's binary data extension)."""
    if datatype == "BYTES":  # each element: a 4-byte little-endian length, then the bytes
        values: list[Any] = []
        at = 0
        while at + 4 <= len(blob):
            size = int.from_bytes(blob[at : at + 4], "little")
            values.append(blob[at + 4 : at + 4 + size].decode("utf-8", errors="replace"))
            at += 4 + size
        return values
    dtype = _BINARY.get(datatype)
    if dtype is None or len(blob) % np.dtype(dtype).itemsize:
        raise HttpProblem(400, f"input {name!r}: cannot read binary data of type {datatype!r}.")
    return list(np.frombuffer(blob, dtype=dtype).tolist())


def binary_payload(body: bytes, header_length: str) -> Any:
    """A request in Triton's binary data extension: the JSON header, with each input's
    ``binary_data_size`` bytes read into its ``data``."""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise HttpProblem(400, "Inference-Header-Content-Length does not fit the body.")
    split = int(header_length)
    payload = parse_json(body[:split])
    at = split
    for tensor in payload.get("inputs", []) if isinstance(payload, dict) else []:
        size = (
            (tensor.get("parameters") or {}).get("binary_data_size")
            if isinstance(tensor, dict)
            else None
        )
        if isinstance(size, int) and size >= 0:
            blob = body[at : at + size]
            at += size
            tensor["data"] = _decode(str(tensor.get("datatype")), blob, str(tensor.get("name")))
    return payload


async def infer(request: Request) -> Response:
    """``POST /v2/models/{name}/infer``: JSON tensor data, or Triton's binary data
    extension for the inputs; the outputs are always JSON."""
    state = state_of(request)
    model = _model(request)
    body = await read_body(request, state.settings.max_body_bytes)
    header_length = request.headers.get("inference-header-content-length")
    payload = binary_payload(body, header_length) if header_length else parse_json(body)
    records = records_of(payload, model)
    if len(records) > state.settings.max_instances:
        raise HttpProblem(
            413, f"{len(records)} instances; at most {state.settings.max_instances} per request."
        )
    batch = model.reader.read(records)
    answer = model.predictor.predict(batch.rows, batch.n)
    state.metrics.predictions.labels(model.version, "champion").inc(batch.n)
    outputs = _outputs(model, answer, batch.n)
    requested = payload.get("outputs")
    if isinstance(requested, list) and requested:
        wanted = {o.get("name") for o in requested if isinstance(o, dict)}
        outputs = [o for o in outputs if o["name"] in wanted]
    rid = payload.get("id") or request_id_of(request)
    return json_response(
        {"model_name": model.name, "model_version": model.version, "id": rid, "outputs": outputs}
    )
