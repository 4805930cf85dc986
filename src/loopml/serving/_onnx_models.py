"""ONNX converters for the model end of a pipeline: the library model, loopml's wrappers
(SmoothedClassifier, the early-stopping boosters), WeightedEnsemble, FixedThresholdClassifier,
and the graph's outputs.

Every predictor below parses into one ``double`` score variable: class probabilities
``[N, C]`` in the order of its ``classes_``, or the prediction ``[N, 1]`` of a regressor.
:class:`Exported` then moves the probabilities into the problem's class order and adds the
label, decided like :func:`loopml.modeling.decide` (the threshold, else the most probable).
loopml's own model classes live in private modeling modules, which serving may not import;
they are recognised by their class name on the fitted object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx._parse import _parse_sklearn
from skl2onnx._supported_operators import sklearn_operator_name_map

from loopml.serving._onnx_base import cannot_convert
from loopml.serving._onnx_ops import (
    columns,
    const,
    double,
    float32,
    matmul,
    node,
    step_name,
    strings,
)

#: scikit-learn modules whose ONNX converters compute in double; others (trees, boosters)
#: read float32, as the libraries do themselves (scikit-learn's trees cast X to float32).
_DOUBLE_MODULES = ("sklearn.linear_model", "sklearn.neighbors", "sklearn.neural_network")


class Exported:
    """A bundle's fitted model with what its outputs mean: the task and the problem's classes."""

    def __init__(self, model: Any, task: str, classes: Sequence[Any]):
        self.model = model
        self.task = task
        self.classes = list(classes)


class Cast:
    def __init__(self, to: int | None):
        self.to = to


class Smooth:
    def __init__(self, model: Any):
        self.model = model


class Affine:
    """``x * scale + offset``: a target scaler's inverse transform."""

    def __init__(self, scale: float, offset: float):
        self.scale = scale
        self.offset = offset


class Ensemble:
    def __init__(self, model: Any, classes: list[Any] | None):
        self.model = model
        self.classes = classes


def _cast(scope: Any, variable: Any, to: str, identity: bool = False) -> Any:
    target = float32(_width(variable)) if to == "float" else double(_width(variable))
    out = scope.declare_local_variable(f"{variable.raw_name}_{to}", target)
    kind = TensorProto.FLOAT if to == "float" else TensorProto.DOUBLE
    operator = scope.declare_local_operator("LoopmlCast", Cast(None if identity else kind))
    operator.inputs.append(variable)
    operator.outputs.append(out)
    return out


def _width(variable: Any) -> int | None:
    shape = getattr(variable.type, "shape", None) or [None, None]
    return shape[1] if len(shape) > 1 else None


def convert_cast(scope: Any, operator: Any, container: Any) -> None:
    if operator.raw_operator.to is None:
        node(
            scope,
            container,
            "Identity",
            [operator.inputs[0].full_name],
            operator.outputs[0].full_name,
        )
        return
    node(
        scope,
        container,
        "Cast",
        [operator.inputs[0].full_name],
        operator.outputs[0].full_name,
        to=operator.raw_operator.to,
    )


# ---------------------------------------------------------------- predictors


def classes_of(model: Any) -> list[Any] | None:
    """The model's classes in its probability columns' order; None for a regressor."""
    classes = getattr(model, "classes_", None)
    return None if classes is None else list(classes)


def parse_predictor(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any, name: str = "model"
) -> Any:
    """The score variable of ``model`` (see the module docstring)."""
    kind = type(model).__name__
    if hasattr(model, "steps"):
        return _parse_pipeline(scope, model, inputs, custom_parsers)
    if kind == "FixedThresholdClassifier":
        return parse_predictor(scope, model.estimator_, inputs, custom_parsers, name)
    if kind in ("WeightedEnsemble", "BaggedEnsemble"):
        return _parse_ensemble(scope, model, inputs, custom_parsers)
    if kind == "StackedEnsemble":
        raise cannot_convert(
            step_name(model, name),
            "is a two-layer stack (a level-2 model over bagged models), which has no ONNX "
            "form; training.bagging: false trains a model that exports",
        )
    if kind == "SmoothedClassifier":
        inner = _parse_library(scope, model.estimator_, inputs, custom_parsers, name)
        out = scope.declare_local_variable("smoothed", double(len(model.classes_)))
        operator = scope.declare_local_operator("LoopmlSmooth", Smooth(model))
        operator.inputs.append(inner)
        operator.outputs.append(out)
        return out
    if kind in ("EarlyStoppingClassifier", "EarlyStoppingRegressor"):
        if getattr(model, "categorical_", ()) and getattr(model, "library_", "") == "catboost":
            raise cannot_convert(
                step_name(model, name),
                "splits CatBoost's native categories, which no ONNX converter reads",
            )
        return _parse_library(scope, model.estimator_, inputs, custom_parsers, name)
    if kind == "TransformedTargetRegressor":
        return _parse_target_scaler(scope, model, inputs, custom_parsers, name)
    return _parse_library(scope, model, inputs, custom_parsers, name)


def _parse_target_scaler(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any, name: str
) -> Any:
    """A regressor learning a standardised target: its predictions scaled back."""
    scaler = model.transformer_
    plain = getattr(scaler, "with_mean", False) and getattr(scaler, "with_std", False)
    if type(scaler).__name__ != "StandardScaler" or not plain:
        raise cannot_convert(
            step_name(model, name), "transforms the target with something other than StandardScaler"
        )
    inner = parse_predictor(scope, model.regressor_, inputs, custom_parsers, name)
    out = scope.declare_local_variable("unscaled", double(1))
    affine = Affine(float(scaler.scale_[0]), float(scaler.mean_[0]))
    operator = scope.declare_local_operator("LoopmlAffine", affine)
    operator.inputs.append(inner)
    operator.outputs.append(out)
    return out


def convert_affine(scope: Any, operator: Any, container: Any) -> None:
    affine: Affine = operator.raw_operator
    scaled = node(
        scope,
        container,
        "Mul",
        [operator.inputs[0].full_name, const(scope, container, np.float64(affine.scale))],
    )
    offset = const(scope, container, np.float64(affine.offset))
    node(scope, container, "Add", [scaled, offset], operator.outputs[0].full_name)


def _parse_pipeline(scope: Any, pipeline: Any, inputs: list[Any], custom_parsers: Any) -> Any:
    variables = list(inputs)
    for name, step in pipeline.steps[:-1]:
        if step in (None, "passthrough"):
            continue
        known = type(step) in custom_parsers or type(step) in sklearn_operator_name_map
        if not known:
            raise cannot_convert(step_name(step, name), _why_not(step))
        variables = _parse_sklearn(scope, step, variables, custom_parsers=custom_parsers)
    name, last = pipeline.steps[-1]
    return parse_predictor(scope, last, variables, custom_parsers, name)


def _why_not(step: Any) -> str:
    if type(step).__name__ == "TextVectorizer":
        return "turns free text into TF-IDF terms, which loopml does not export to ONNX"
    return "has no ONNX converter"


def _parse_library(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any, name: str
) -> Any:
    """A library's model (scikit-learn, LightGBM, XGBoost) through its registered converter."""
    step = step_name(model, name)
    register_boosters(model)
    if type(model) not in sklearn_operator_name_map:
        raise cannot_convert(step, "has no ONNX converter")
    if len(inputs) != 1:
        raise cannot_convert(step, "does not read one feature matrix")
    if type(model).__name__.startswith("KNeighbors") and model.weights == "distance":
        # measured: skl2onnx 1.20's distance weighting differs from scikit-learn's by up to 0.17
        raise cannot_convert(
            step, "weighs neighbours by distance, which its ONNX converter gets wrong"
        )
    x = inputs[0]
    module = type(model).__module__
    if module.startswith("lightgbm"):
        # declared float32 for onnxmltools, fed double: its thresholds are written as double
        # (see with_double_thresholds), as LightGBM compares in double
        x = _cast(scope, x, "float", identity=True)
    elif not module.startswith(_DOUBLE_MODULES):
        x = _cast(scope, x, "float")
    is_classifier = classes_of(model) is not None
    if is_classifier:
        scope.add_options(id(model), {"zipmap": False})
    try:
        outputs = _parse_sklearn(scope, model, [x], custom_parsers=custom_parsers)
    except Exception as exc:  # skl2onnx raises many kinds for a model it cannot read
        raise cannot_convert(step, f"failed to convert ({type(exc).__name__}: {exc})") from exc
    return _cast(scope, outputs[1] if is_classifier else outputs[0], "double")


def register_boosters(model: Any) -> None:
    """Register onnxmltools' converters for the LightGBM and XGBoost scikit-learn models."""
    module = type(model).__module__
    if type(model) in sklearn_operator_name_map or not module.startswith(("lightgbm", "xgboost")):
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    if module.startswith("lightgbm"):
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        convert = with_double_thresholds(convert_lightgbm)
    else:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

        convert = convert_xgboost  # XGBoost compares in float32 itself
    is_classifier = classes_of(model) is not None
    update_registered_converter(
        type(model),
        f"Loopml{type(model).__name__}",
        calculate_linear_classifier_output_shapes
        if is_classifier
        else calculate_linear_regressor_output_shapes,
        convert,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]}
        if is_classifier
        else {"split": None},
    )


def convert_smooth(scope: Any, operator: Any, container: Any) -> None:
    """``SmoothedClassifier.predict_proba``: class codes to classes, vote weights, the
    renormalisation (the prior where nothing voted), then the mix with the prior."""
    model = operator.raw_operator.model
    n = len(model.classes_)
    codes = np.asarray(model.estimator_.classes_).astype(int)
    spread = np.zeros((len(codes), n))
    spread[np.arange(len(codes)), codes] = 1.0
    raw = matmul(scope, container, operator.inputs[0].full_name, spread)
    raw = node(
        scope,
        container,
        "Mul",
        [raw, const(scope, container, np.asarray(model.vote_weight_, dtype=np.float64))],
    )
    total = node(
        scope,
        container,
        "ReduceSum",
        [raw, const(scope, container, np.asarray([1], dtype=np.int64))],
        keepdims=1,
    )
    prior = const(
        scope, container, np.asarray(model.prior_, dtype=np.float64).reshape(1, -1), "prior"
    )
    share = node(scope, container, "Div", [raw, total])
    voted = node(scope, container, "Greater", [total, const(scope, container, np.float64(0.0))])
    raw = node(scope, container, "Where", [voted, share, prior])
    weight = float(model.prior_weight)
    kept = node(scope, container, "Mul", [raw, const(scope, container, np.float64(1.0 - weight))])
    mixed = node(scope, container, "Mul", [prior, const(scope, container, np.float64(weight))])
    node(scope, container, "Add", [kept, mixed], operator.outputs[0].full_name)


def _parse_ensemble(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any) -> Any:
    members = [
        parse_predictor(scope, member, inputs, custom_parsers, f"member {i}")
        for i, member in enumerate(model.estimators_)
    ]
    classes = classes_of(model)
    out = scope.declare_local_variable("ensemble", double(1 if classes is None else len(classes)))
    operator = scope.declare_local_operator("LoopmlEnsemble", Ensemble(model, classes))
    operator.inputs.extend(members)
    operator.outputs.append(out)
    return out


def moves(source: Sequence[Any], target: Sequence[Any]) -> np.ndarray:
    """The 0/1 matrix taking columns in ``source`` class order to ``target`` order."""
    matrix = np.zeros((len(source), len(target)))
    position = {c: j for j, c in enumerate(list(target))}
    for i, c in enumerate(source):
        matrix[i, position[c]] = 1.0
    return matrix


def convert_ensemble(scope: Any, operator: Any, container: Any) -> None:
    """``WeightedEnsemble``: the weighted sum of its members, in the order it adds them."""
    ensemble: Ensemble = operator.raw_operator
    model = ensemble.model
    total = None
    for weight, member, variable in zip(
        model.weights_, model.estimators_, operator.inputs, strict=True
    ):
        score = variable.full_name
        if ensemble.classes is not None:
            score = matmul(
                scope, container, score, moves(classes_of(member) or [], ensemble.classes)
            )
        term = node(scope, container, "Mul", [score, const(scope, container, np.float64(weight))])
        total = term if total is None else node(scope, container, "Add", [total, term])
    node(scope, container, "Identity", [total or ""], operator.outputs[0].full_name)


# ---------------------------------------------------------------- the graph's outputs


def parse_exported(
    scope: Any, exported: Exported, inputs: list[Any], custom_parsers: Any = None
) -> Any:
    score = parse_predictor(scope, exported.model, inputs, custom_parsers)
    operator = scope.declare_local_operator("LoopmlOutputs", exported)
    operator.inputs.append(score)
    if exported.task == "regression":
        operator.outputs.append(scope.declare_local_variable("prediction", double(1)))
    else:
        label = scope.declare_local_variable("label", strings())
        label.type.shape = [None]
        operator.outputs.append(label)
        operator.outputs.append(
            scope.declare_local_variable("probabilities", double(len(exported.classes)))
        )
    return list(operator.outputs)


def convert_exported(scope: Any, operator: Any, container: Any) -> None:
    exported: Exported = operator.raw_operator
    score = operator.inputs[0].full_name
    if exported.task == "regression":
        node(scope, container, "Identity", [score], operator.outputs[0].full_name)
        return
    top = classes_of(exported.model) or []
    proba = matmul(scope, container, score, moves(top, exported.classes))
    node(scope, container, "Identity", [proba], operator.outputs[1].full_name)
    labels = const(scope, container, [str(c) for c in exported.classes], "classes")
    model, label = exported.model, operator.outputs[0].full_name
    if type(model).__name__ == "FixedThresholdClassifier" and len(exported.classes) == 2:
        positive = exported.classes.index(model.pos_label)
        column = columns(scope, container, proba, [positive])
        flat = node(
            scope,
            container,
            "Reshape",
            [column, const(scope, container, np.asarray([-1], dtype=np.int64))],
        )
        threshold = const(scope, container, np.float64(model.threshold), "threshold")
        is_positive = node(scope, container, "GreaterOrEqual", [flat, threshold])
        at = node(
            scope,
            container,
            "Where",
            [
                is_positive,
                const(scope, container, np.int64(positive)),
                const(scope, container, np.int64(1 - positive)),
            ],
        )
    else:
        at = node(scope, container, "ArgMax", [proba], axis=1, keepdims=0)
    node(scope, container, "Gather", [labels, at], label)


# ---------------------------------------------------------------- scikit-learn's trees

#: Trees whose skl2onnx converter sends every missing value right; scikit-learn learns where
#: missing values go at each split (``tree_.missing_go_to_left``).
TREES = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
)


def with_missing_routes(convert: Any) -> Any:
    """``convert`` (skl2onnx's tree converter), then each node's route for missing values
    set as the fitted trees have it."""

    def converter(scope: Any, operator: Any, container: Any) -> None:
        first = len(container.nodes)
        convert(scope, operator, container)
        model = operator.raw_operator
        trees = [model] if hasattr(model, "tree_") else list(model.estimators_)
        routes = []
        for tree in trees:
            left = getattr(tree.tree_, "missing_go_to_left", None)
            routes += [0] * tree.tree_.node_count if left is None else [int(v) for v in left]
        for added in container.nodes[first:]:
            for attribute in added.attribute:
                named = attribute.name == "nodes_missing_value_tracks_true"
                if named and len(attribute.ints) == len(routes):
                    del attribute.ints[:]
                    attribute.ints.extend(routes)

    return converter


def with_integer_flags(convert: Any) -> Any:
    """``convert`` (skl2onnx's HistGradientBoosting converter) with its missing-value routes
    written as integers: it passes numpy booleans, which onnx refuses."""

    def converter(scope: Any, operator: Any, container: Any) -> None:
        add_node = container.add_node

        def add_integer_flags(*args: Any, **attrs: Any) -> Any:
            flags = attrs.get("nodes_missing_value_tracks_true")
            if flags is not None:
                attrs["nodes_missing_value_tracks_true"] = [int(v) for v in flags]
            return add_node(*args, **attrs)

        container.add_node = add_integer_flags
        try:
            convert(scope, operator, container)
        finally:
            del container.add_node

    return converter


def with_double_thresholds(convert: Any) -> Any:
    """``convert`` (onnxmltools' LightGBM converter) writing thresholds, leaf values and base
    values as double tensors: LightGBM compares features in double, and float32 thresholds
    send values within rounding of a split the other way."""

    def converter(scope: Any, operator: Any, container: Any) -> None:
        from onnx import numpy_helper

        add_node = container.add_node

        def add_double(op_type: str, *args: Any, **attrs: Any) -> Any:
            if op_type.startswith("TreeEnsemble"):
                for key in ("nodes_values", "target_weights", "class_weights", "base_values"):
                    if key in attrs:
                        values = np.asarray(attrs.pop(key), dtype=np.float64)
                        attrs[f"{key}_as_tensor"] = numpy_helper.from_array(values, key)
                attrs["op_version"] = 3  # the ML opset where *_as_tensor exist
            return add_node(op_type, *args, **attrs)

        container.add_node = add_double
        try:
            convert(scope, operator, container)
        finally:
            del container.add_node

    return converter
