"""ONNX export of a model bundle, the parity check that guards it, and the ONNX runtime.

:func:`to_onnx` converts a bundle's fitted pipeline with skl2onnx, using loopml's converters
for its own steps (``_onnx_steps``, ``_onnx_models``). The model reads one input per column
the pipeline uses, typed by the column's role::

    numeric, boolean   double [N, 1]   missing: NaN
    categorical, text  string [N, 1]   missing: "" (labels normalised: trimmed, lower case)
    datetime           int64  [N, 1]   epoch nanoseconds (UTC); missing: -2**63 (NaT)

and answers ``label`` (string [N]) and ``probabilities`` (double [N, C], the problem's class
order) for classifiers, ``prediction`` (double [N, 1]) for regression.

:func:`export_onnx` writes the file only after :func:`check_parity` found the ONNX model
agreeing with ``bundle.predict_frame`` on the given rows (the holdout). :class:`OnnxPredictor`
serves it (runtime ``"onnx"``).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.errors import LoopmlError
from loopml.serving._contract import Predictions, RowBatch
from loopml.serving._onnx_base import (
    MISSING_LABEL,
    TARGET_OPSET,
    OnnxConversionError,
    cannot_convert,
)

if TYPE_CHECKING:
    import onnx

    from loopml.registry import ModelBundle

__all__ = [
    "OnnxConversionError",
    "OnnxExport",
    "OnnxPredictor",
    "ParityError",
    "ParityReport",
    "check_parity",
    "export_onnx",
    "onnx_inputs",
    "to_onnx",
]

#: Probabilities must agree within this absolute difference, predictions within this
#: relative one (see :func:`check_parity`).
TOLERANCE = 1e-4


class ParityError(LoopmlError, RuntimeError):
    """The ONNX model does not predict what the pipeline predicts; nothing was written."""


# ---------------------------------------------------------------- conversion


@functools.cache
def _custom_parsers() -> dict[type, Any]:
    """Register loopml's converters with skl2onnx (once) and return its parsers by class."""
    from skl2onnx import update_registered_converter
    from sklearn.compose import ColumnTransformer

    from loopml.features import (
        CategoryMerger,
        CorrelationFilter,
        DatetimeExpander,
        ExpressionFeatures,
        FeatureSelector,
        FrameCoercer,
        OutlierClipper,
    )
    from loopml.serving import _onnx_expressions as expressions
    from loopml.serving import _onnx_models as models
    from loopml.serving import _onnx_steps as steps

    converters = [
        (DatetimeExpander, "LoopmlDatetimeExpander", steps.convert_expander),
        (CategoryMerger, "LoopmlCategoryMerger", steps.convert_merger),
        (OutlierClipper, "LoopmlOutlierClipper", steps.convert_clipper),
        (ExpressionFeatures, "LoopmlExpressionFeatures", expressions.convert_expressions),
        (FeatureSelector, "LoopmlSelector", steps.convert_selector),
        (CorrelationFilter, "LoopmlSelector", steps.convert_selector),
        (steps.Branch, "LoopmlColumnBranch", steps.convert_branch),
        (steps.Join, "LoopmlConcat", steps.convert_concat),
        (models.Cast, "LoopmlCast", models.convert_cast),
        (models.Smooth, "LoopmlSmooth", models.convert_smooth),
        (models.Ensemble, "LoopmlEnsemble", models.convert_ensemble),
        (models.Affine, "LoopmlAffine", models.convert_affine),
        (models.Exported, "LoopmlOutputs", models.convert_exported),
    ]
    for cls, alias, convert in converters:
        update_registered_converter(cls, alias, steps.no_shape, convert, overwrite=True)
    _route_missing_values(models)
    return {
        FrameCoercer: steps.parse_coercer,
        DatetimeExpander: steps.parse_expander,
        CategoryMerger: steps.parse_mapped,
        OutlierClipper: steps.parse_mapped,
        ExpressionFeatures: expressions.parse_expressions,
        FeatureSelector: steps.parse_selector,
        CorrelationFilter: steps.parse_selector,
        ColumnTransformer: steps.parse_columns,
        models.Exported: models.parse_exported,
    }


def _route_missing_values(models: Any) -> None:
    """Make skl2onnx's converters of scikit-learn's trees route missing values as the trees do."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter, register_converter

    for cls, alias in list(sklearn_operator_name_map.items()):
        if not cls.__module__.startswith("sklearn."):
            continue
        if cls.__name__ in models.TREES:
            fix = models.with_missing_routes
        elif cls.__name__.startswith("HistGradientBoosting"):
            fix = models.with_integer_flags
        else:
            continue
        original = get_converter(alias)
        register_converter(
            alias, fix(original), overwrite=True, options=original.get_allowed_options()
        )


def onnx_inputs(bundle: ModelBundle) -> dict[str, str]:
    """Column -> role of the model's inputs: the columns its pipeline reads, in its order."""
    model: Any = bundle.pipeline
    while True:
        if hasattr(model, "steps"):
            model = model.steps[0][1]
        elif hasattr(model, "estimators_"):
            model = model.estimators_[0]
        elif hasattr(model, "estimator_"):
            model = model.estimator_
        else:
            break
    roles = getattr(model, "roles_", None)
    if roles is None:
        raise cannot_convert(
            type(model).__name__, "comes first, where loopml expects FrameCoercer to read the rows"
        )
    return dict(roles)


def to_onnx(
    bundle: ModelBundle, *, name: str = "loopml", model_version: str = ""
) -> onnx.ModelProto:
    """The bundle's fitted pipeline as an ONNX model (see the module docstring).

    Raises
    ------
    OnnxConversionError
        Naming the first step that cannot be converted, and why.
    """
    from skl2onnx import convert_sklearn

    from loopml.serving._onnx_models import Exported
    from loopml.serving._onnx_ops import double, stamps, strings

    types = {"numeric": double, "boolean": double, "categorical": strings, "text": strings}
    parsers = _custom_parsers()
    problem = bundle.problem
    roles = onnx_inputs(bundle)
    initial = [(c, types.get(r, stamps)()) for c, r in roles.items()]
    exported = Exported(bundle.pipeline, problem.task, list(problem.classes))
    try:
        model = convert_sklearn(
            exported,
            name=name,
            initial_types=initial,
            target_opset=dict(TARGET_OPSET),
            custom_parsers=parsers,
        )
    except OnnxConversionError:
        raise
    except Exception as exc:  # skl2onnx's own errors: wrap them with what loopml knows
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise OnnxConversionError(
            f"the pipeline cannot be exported to ONNX: {type(exc).__name__}: {reason}. Serve "
            "this model with `loopml serve --runtime python`."
        ) from exc
    model.producer_name = "loopml"
    meta = {
        "loopml.task": problem.task,
        "loopml.classes": json.dumps([_plain(c) for c in problem.classes]),
        "loopml.inputs": json.dumps(roles),
        "loopml.model_version": model_version,
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- the runtime


def row_batch(bundle: ModelBundle, frame: pd.DataFrame) -> RowBatch:
    """The typed columns of ``frame`` as the row reader makes them (the pipeline's
    FrameCoercer reads them, so types match by construction)."""
    model: Any = bundle.pipeline
    while not hasattr(model, "roles_"):
        model = (
            model.steps[0][1]
            if hasattr(model, "steps")
            else (model.estimators_[0] if hasattr(model, "estimators_") else model.estimator_)
        )
    typed = model.transform(frame)
    return {c: typed[c].to_numpy() for c in typed.columns}


class OnnxPredictor:
    """The ``"onnx"`` runtime: ONNX Runtime on one intra-op thread, warmed at load.

    Parameters
    ----------
    bundle
        The model bundle (its problem gives the classes; converted when ``model`` is None).
    model
        An ONNX model exported from this bundle: a ModelProto, its bytes, or a file path.
    threads
        ONNX Runtime's intra-op threads; 1 (the default) suits one request per worker.
    """

    runtime = "onnx"

    def __init__(
        self,
        bundle: ModelBundle,
        model: onnx.ModelProto | bytes | str | Path | None = None,
        *,
        threads: int = 1,
    ):
        import onnxruntime as ort

        if model is None:
            model = to_onnx(bundle)
        if isinstance(model, (str, Path)):
            model = Path(model).read_bytes()
        content = model if isinstance(model, bytes) else model.SerializeToString()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                content, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph kinds
            raise OnnxConversionError(
                f"ONNX Runtime cannot load the model: {exc}. Export it again with "
                "`loopml export onnx`."
            ) from exc
        self.task = bundle.problem.task
        self.classes = list(bundle.problem.classes)
        self.roles = onnx_inputs(bundle)
        self._check_inputs()
        # the label and probabilities, or the prediction: the model's first outputs
        outputs = [o.name for o in self.session.get_outputs()]
        self._outputs = outputs[: 1 if self.task == "regression" else 2]
        self._by_label = {str(c): c for c in self.classes}
        self._names = [str(c) for c in self.classes]
        self.predict(_blank_rows(self.roles), 1)  # warm: the first run allocates

    def _check_inputs(self) -> None:
        kinds = {"numeric": "double", "boolean": "double", "categorical": "string"}
        kinds |= {"text": "string", "datetime": "int64"}
        found = {i.name: i.type for i in self.session.get_inputs()}
        wanted = {c: f"tensor({kinds.get(r, r)})" for c, r in self.roles.items()}
        if found != wanted:
            raise OnnxConversionError(
                f"the ONNX model's inputs {found} are not this model's columns {wanted}; it "
                "was exported from another model. Export it again with `loopml export onnx`."
            )

    def feeds(self, rows: RowBatch, n: int) -> dict[str, np.ndarray]:
        """The ONNX inputs of a row batch (missing labels become ``""``, stamps int64)."""
        out = {}
        for column, role in self.roles.items():
            values = np.asarray(rows[column])
            if role in ("categorical", "text"):
                labels = [v if isinstance(v, str) else MISSING_LABEL for v in values]
                out[column] = np.asarray(labels, dtype=object).reshape(n, 1)
            elif role == "datetime":
                ns = values.astype("datetime64[ns]").view(np.int64)
                out[column] = ns.reshape(n, 1)
            else:
                out[column] = values.astype(np.float64, copy=False).reshape(n, 1)
        return out

    def predict(self, rows: RowBatch, n: int) -> Predictions:
        results = self.session.run(self._outputs, self.feeds(rows, n))
        if self.task == "regression":
            return Predictions(predictions=results[0].reshape(-1).tolist())
        labels, proba = results
        names, by_label = self._names, self._by_label
        return Predictions(
            predictions=[by_label[v] for v in labels.reshape(-1).tolist()],
            # map/zip: half the time of a comprehension building 10,000 dicts
            probabilities=list(map(dict, map(zip, repeat(names), proba.tolist()))),
        )

    def scores(self, rows: RowBatch, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels (or predictions) and probabilities as arrays, for checks and benchmarks."""
        results = self.session.run(self._outputs, self.feeds(rows, n))
        if self.task == "regression":
            return results[0].reshape(-1), None
        return results[0].reshape(-1), results[1]


def _blank_rows(roles: dict[str, str]) -> RowBatch:
    blank: dict[str, Any] = {"categorical": np.nan, "text": "", "datetime": np.datetime64("NaT")}
    out = {}
    for column, role in roles.items():
        value = blank.get(role, np.nan)
        dtype = "datetime64[ns]" if role == "datetime" else (object if role in blank else float)
        out[column] = np.asarray([value], dtype=dtype)
    return out


# ---------------------------------------------------------------- parity and export


@dataclass(frozen=True)
class ParityReport:
    """How the ONNX model's predictions compare with ``predict_frame`` on some rows."""

    rows: int
    max_difference: float  # probabilities: absolute; regression: relative
    label_mismatches: int
    worst_row: int
    detail: str  # the worst row, in words

    @property
    def ok(self) -> bool:
        return self.max_difference <= TOLERANCE and self.label_mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "max_difference": self.max_difference,
            "label_mismatches": self.label_mismatches,
            "worst_row": self.worst_row,
            "tolerance": TOLERANCE,
            "ok": self.ok,
        }


def check_parity(
    bundle: ModelBundle, frame: pd.DataFrame, model: onnx.ModelProto | bytes
) -> ParityReport:
    """Compare ``model`` with ``bundle.predict_frame`` on ``frame``.

    Probabilities must agree within 1e-4 (absolute) and labels exactly, except on rows whose
    label the two may decide differently by rounding alone (the deciding probabilities within
    1e-4 of the threshold, or of each other); regression predictions within 1e-4 relative to
    the larger of the value and a thousandth of the largest prediction.
    """
    if len(frame) == 0:
        raise ParityError("no rows to check the ONNX model on; the holdout is empty.")
    expected = bundle.predict_frame(frame)
    predictor = OnnxPredictor(bundle, model)
    labels, proba = predictor.scores(row_batch(bundle, frame), len(frame))
    if proba is None:
        return _regression_parity(expected["prediction"].to_numpy(dtype=float), labels)
    classes = list(bundle.problem.classes)
    want = expected[[f"proba_{c}" for c in classes]].to_numpy(dtype=float)
    gap = np.abs(proba - want)
    worst = int(np.unravel_index(np.argmax(gap), gap.shape)[0]) if gap.size else 0
    mismatched = np.asarray([str(v) for v in expected["prediction"]]) != labels.astype(str)
    mismatched &= ~_ambiguous(bundle, want)
    if mismatched.any():
        worst = int(np.flatnonzero(mismatched)[0])
    row = worst
    detail = (
        f"row {row}: ONNX says {labels[row]!r} with probabilities "
        f"{np.round(proba[row], 6).tolist()}, the pipeline {expected['prediction'].iloc[row]!r} "
        f"with {np.round(want[row], 6).tolist()}"
    )
    return ParityReport(len(frame), float(gap.max()), int(mismatched.sum()), row, detail)


def _ambiguous(bundle: ModelBundle, proba: np.ndarray) -> np.ndarray:
    """Rows whose label a rounding difference below the tolerance could flip."""
    model = bundle.pipeline
    classes = list(bundle.problem.classes)
    if type(model).__name__ == "FixedThresholdClassifier" and len(classes) == 2:
        column = proba[:, classes.index(model.pos_label)]
        return np.abs(column - model.threshold) <= TOLERANCE
    if proba.shape[1] < 2:
        return np.zeros(len(proba), dtype=bool)
    top = np.sort(proba, axis=1)
    return (top[:, -1] - top[:, -2]) <= TOLERANCE


def _regression_parity(want: np.ndarray, got: np.ndarray) -> ParityReport:
    scale = np.maximum(np.abs(want), 1e-3 * float(np.max(np.abs(want), initial=0.0)) or 1.0)
    relative = np.abs(got - want) / scale
    relative = np.where(np.isnan(want) & np.isnan(got), 0.0, relative)
    worst = int(np.nanargmax(np.where(np.isnan(relative), np.inf, relative)))
    detail = f"row {worst}: ONNX predicts {got[worst]!r}, the pipeline {want[worst]!r}"
    biggest = float(np.max(np.where(np.isnan(relative), np.inf, relative)))
    return ParityReport(len(want), biggest, 0, worst, detail)


@dataclass(frozen=True)
class OnnxExport:
    """What ``loopml export onnx`` wrote and how the parity check went."""

    path: Path
    bytes: int
    inputs: dict[str, str]
    parity: ParityReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "inputs": self.inputs,
            "parity": self.parity.to_dict(),
        }


def export_onnx(
    bundle: ModelBundle, path: str | Path, holdout: pd.DataFrame, *, model_version: str = ""
) -> OnnxExport:
    """Convert ``bundle``, check it on ``holdout`` (:func:`check_parity`), then write it.

    The file appears only once the check passed (written aside, then renamed), so a failed
    export leaves nothing behind and an existing file as it was.

    Raises
    ------
    OnnxConversionError
        When a step of the pipeline cannot be converted (the message names it).
    ParityError
        When the ONNX model disagrees with the pipeline on the holdout.
    """
    target = Path(path)
    if target.is_dir():
        raise OnnxConversionError(
            f"cannot write {target}: it is a folder. Give a file name, e.g. "
            f"{target / 'model.onnx'}."
        )
    if not target.parent.is_dir():
        raise OnnxConversionError(
            f"cannot write {target}: the folder {target.parent} does not exist. Create it or "
            "choose another path."
        )
    model = to_onnx(bundle, model_version=model_version)
    content = model.SerializeToString()
    report = check_parity(bundle, holdout, content)
    if not report.ok:
        measure = "relative difference" if bundle.problem.task == "regression" else "difference"
        raise ParityError(
            f"the ONNX model disagrees with the pipeline on the holdout ({report.rows} rows): "
            f"largest {measure} {report.max_difference:.3g} (allowed {TOLERANCE:g}), "
            f"{report.label_mismatches} label(s) differ; {report.detail}. Nothing was written "
            f"to {target}. Serve this model with `loopml serve --runtime python`, and report "
            "the model and this message as a bug."
        )
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return OnnxExport(target, len(content), onnx_inputs(bundle), report)
