"""Per-prediction feature contributions, from the models themselves (no SHAP dependency).

Which method explains a pipeline depends on its model, found by unwrapping ``estimator_``
attributes (early stopping, probability smoothing, threshold tuning):

* LightGBM ``pred_contrib``, XGBoost ``pred_contribs`` and CatBoost ``ShapValues``: exact
  tree SHAP values of the raw score (log-odds, class logit, or the regression prediction);
* scikit-learn HistGradientBoosting: path attribution (Saabas) of the raw score, each split
  crediting its feature with the change of the expected value (training rows as weights);
* scikit-learn decision trees and forests: the same path attribution of the probability (or
  the prediction);
* linear models: coefficient × (value − background mean) on the model's inputs;
* anything else: occlusion, the change of the prediction when one input column is replaced
  by background values. Occlusion is not additive; every other method is, and is checked:
  base + the row's contributions must reproduce the model's own raw output, or the next
  method is used.

Contributions on the model's inputs (one-hot columns, datetime parts, missing indicators) are
summed back to the input column they came from, so the numbers read in the data's own terms.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from loopml.modeling import unwrap

log = logging.getLogger(__name__)

BASE = "__base__"  # not a column: the base values live in ``frame.attrs["base"]``

#: contributions (rows × features), base (rows), method, what they add up to
_Explained = tuple[np.ndarray, np.ndarray, str, str]


def contributions(
    pipeline: Any,
    X: pd.DataFrame,
    *,
    positive_class: Any = None,
    background: pd.DataFrame | None = None,
    group: bool = True,
    max_background: int = 10,
) -> pd.DataFrame | None:
    """How much each feature moved each row's prediction, by the best method the model allows.

    Parameters
    ----------
    pipeline
        A fitted scikit-learn ``Pipeline`` whose last step is the model (or a bare model).
    X
        The rows to explain, raw columns as the pipeline takes them.
    positive_class
        Binary tasks: the class whose score is explained (default: the model's second class).
        Multiclass tasks always explain each row's predicted class.
    background
        Reference rows (e.g. a sample of the training rows): the centre for linear models and
        the replacement values for occlusion. Default: ``X`` itself.
    group
        Sum contributions of derived model inputs back to the input column they come from.
    max_background
        Background rows used by occlusion.

    Returns
    -------
    pandas.DataFrame or None
        One row per row of ``X`` (same index), one column per feature. ``frame.attrs`` holds
        ``method`` (what produced the numbers), ``output`` (what they add up to),
        ``additive`` (whether ``base + row sum`` equals that output), ``base`` (a list, one
        value per row) and ``explained`` (the class explained per row, or None). None when
        ``X`` is empty.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LinearRegression
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 1.0, 4.0]})
    >>> model = LinearRegression().fit(X, 2 * X["a"] - X["b"])
    >>> c = contributions(model, X)
    >>> c.attrs["method"]
    'linear: coefficient × (value − background mean)'
    >>> c.round(6).to_dict("list")
    {'a': [-2.0, 0.0, 2.0], 'b': [1.0, 1.0, -2.0]}
    """
    if len(X) == 0:
        return None
    steps = getattr(pipeline, "steps", None)
    if steps:
        prep, model = (pipeline[:-1] if len(steps) > 1 else None), steps[-1][1]
    else:
        prep, model = None, pipeline
    Xt = prep.transform(X) if prep is not None else X
    names = _names(prep, Xt)
    classes = list(getattr(model, "classes_", [])) or None
    explained: np.ndarray | None = None
    if classes is not None:
        if len(classes) == 2:
            j = classes.index(positive_class) if positive_class in classes else 1
            column = np.full(len(X), j)
        else:
            column = np.argmax(np.asarray(pipeline.predict_proba(X)), axis=1)
        explained = np.asarray(classes, dtype=object)[column]
    else:
        column = np.zeros(len(X), dtype=int)
    reference = None if background is None or len(background) == 0 else background
    result = _native(model, Xt, column, reference, prep)
    if result is None:
        values, base, method, output = _occlusion(
            pipeline, X, column, classes, reference, max_background
        )
        frame = pd.DataFrame(values, index=X.index, columns=list(X.columns))
        additive = False
    else:
        values, base, method, output = result
        frame = pd.DataFrame(values, index=X.index, columns=names)
        if group:
            frame = _group(frame, list(X.columns))
        additive = True
    frame.attrs.update(
        method=method,
        output=output,
        additive=additive,
        base=[float(b) for b in base],
        explained=None if explained is None else [str(c) for c in explained],
    )
    return frame


def _names(prep: Any, Xt: Any) -> list[str]:
    if isinstance(Xt, pd.DataFrame):
        return [str(c) for c in Xt.columns]
    try:
        return [str(c) for c in prep.get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):
        return [f"x{i}" for i in range(np.shape(Xt)[1])]


def input_column(name: str, columns: list[str]) -> str:
    """The input column a model input ``name`` was derived from (itself if none matches).

    Examples
    --------
    >>> input_column("city_Paris", ["city", "day"]), input_column("day__month", ["city", "day"])
    ('city', 'day')
    >>> input_column("missingindicator_age", ["age"]), input_column("ratio", ["age"])
    ('age', 'ratio')
    """
    bare = name.removeprefix("missingindicator_")
    if bare in columns:
        return bare
    matches = [c for c in columns if bare.startswith(f"{c}_")]
    return max(matches, key=len) if matches else name


def _group(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    owner = [input_column(str(c), columns) for c in frame.columns]
    summed = frame.T.groupby(owner, sort=False).sum().T
    order = [c for c in columns if c in summed.columns]
    order += [c for c in summed.columns if c not in order]
    return summed[order]


# --------------------------------------------------------------------------- the models


def _unwrap(model: Any) -> Any | None:
    """The innermost fitted model. loopml's own wrappers (probability smoothing, early
    stopping) are opened by :func:`loopml.modeling.unwrap`; other wrappers that keep it in
    ``estimator_`` (threshold tuning) are followed too. Each must keep the same classes (or
    their codes ``0 .. k-1``): None when a wrapper maps classes some other way. A pipeline
    inside, or a target transform (whose model predicts on another scale), is explained whole.
    """
    for _ in range(5):
        if _knows(model) or hasattr(model, "steps") or hasattr(model, "regressor_"):
            return model
        inner = unwrap(model)
        if inner is model:
            inner = getattr(model, "estimator_", None)
            if inner is None:
                return model
        if not _same_classes(model, inner):
            return None
        model = inner
    return model


def _same_classes(outer: Any, inner: Any) -> bool:
    classes = list(getattr(outer, "classes_", []))
    inner_classes = [
        c.item() if isinstance(c, np.generic) else c for c in getattr(inner, "classes_", [])
    ]
    return not classes or inner_classes in (classes, list(range(len(classes))))


def _knows(model: Any) -> bool:
    library = type(model).__module__.split(".")[0]
    return (
        library in ("lightgbm", "xgboost", "catboost")
        or hasattr(model, "tree_")
        or _is_forest(model)
        or hasattr(model, "_predictors")
        or hasattr(model, "coef_")
    )


def _is_forest(model: Any) -> bool:
    trees = getattr(model, "estimators_", None)
    return isinstance(trees, list) and bool(trees) and all(hasattr(t, "tree_") for t in trees)


def _native(
    model: Any, Xt: Any, column: np.ndarray, background: Any, prep: Any
) -> _Explained | None:
    inner = _unwrap(model)
    if inner is None:
        return None
    try:
        return _explain(inner, Xt, column, background, prep)
    except Exception as exc:  # a library's own failure: occlusion still explains the rows
        log.info("contributions from %s failed (%s); using occlusion", type(inner).__name__, exc)
        return None


def _explain(
    model: Any, Xt: Any, column: np.ndarray, background: Any, prep: Any
) -> _Explained | None:
    library = type(model).__module__.split(".")[0]
    if library == "lightgbm":
        return _lightgbm(model, Xt, column)
    if library == "xgboost":
        return _xgboost(model, Xt, column)
    if library == "catboost":
        return _catboost(model, Xt, column)
    if hasattr(model, "_predictors"):  # HistGradientBoosting*
        return _hist_gradient_boosting(model, Xt, column)
    if hasattr(model, "tree_") or _is_forest(model):
        return _forest(model, Xt, column)
    if hasattr(model, "coef_") and hasattr(model, "intercept_"):
        if background is None:
            reference = Xt
        else:
            reference = prep.transform(background) if prep is not None else background
        return _linear(model, Xt, column, reference)
    return None


def _raw_label(model: Any) -> str:
    n_classes = len(getattr(model, "classes_", []))
    if n_classes == 0:
        return "prediction"
    return "log-odds" if n_classes == 2 else "class score (logit)"


def _binary_sign(column: np.ndarray) -> np.ndarray:
    """A binary model's raw score is the log-odds of its second class: flip it for the first."""
    return np.where(column == 1, 1.0, -1.0)


def _select(
    full: np.ndarray, raw: np.ndarray, column: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(contributions, base, raw) of the explained output from (rows, [classes,] p + 1)."""
    rows = np.arange(len(column))
    if full.ndim == 3:
        picked = full[rows, column]
        return picked[:, :-1], picked[:, -1], np.asarray(raw).reshape(len(column), -1)[rows, column]
    sign = _binary_sign(column) if n_classes == 2 else np.ones(len(column))
    return full[:, :-1] * sign[:, None], full[:, -1] * sign, np.ravel(raw) * sign


def _checked(
    values: np.ndarray, base: np.ndarray, raw: np.ndarray, method: str, output: str
) -> _Explained | None:
    """The explanation, if base + contributions reproduce the model's own output."""
    if not np.all(np.abs(values.sum(axis=1) + base - raw) <= 1e-4 * (1.0 + np.abs(raw))):
        log.info("%s does not add up to the model's output here; using occlusion", method)
        return None
    return values, base, method, output


def _lightgbm(model: Any, Xt: Any, column: np.ndarray) -> _Explained | None:
    n_classes = len(getattr(model, "classes_", []))
    full = np.asarray(model.predict(Xt, pred_contrib=True), dtype=float)
    if n_classes > 2:
        full = full.reshape(len(column), n_classes, -1)
    raw = np.asarray(model.predict(Xt, raw_score=True), dtype=float)
    values, base, raw = _select(full, raw, column, n_classes)
    return _checked(values, base, raw, "tree SHAP (LightGBM pred_contrib)", _raw_label(model))


def _xgboost(model: Any, Xt: Any, column: np.ndarray) -> _Explained | None:
    import xgboost

    try:
        best = model.best_iteration  # set only when the booster stopped early
    except AttributeError:
        best = None
    rounds = (0, best + 1) if best is not None else (0, 0)
    matrix = xgboost.DMatrix(Xt, missing=np.nan)
    booster = model.get_booster()
    full = np.asarray(
        booster.predict(matrix, pred_contribs=True, iteration_range=rounds), dtype=float
    )
    raw = np.asarray(model.predict(Xt, output_margin=True), dtype=float)
    values, base, raw = _select(full, raw, column, len(getattr(model, "classes_", [])))
    return _checked(values, base, raw, "tree SHAP (XGBoost pred_contribs)", _raw_label(model))


def _catboost(model: Any, Xt: Any, column: np.ndarray) -> _Explained | None:
    from catboost import Pool

    from loopml.modeling import native_frame

    categorical = tuple(model.get_cat_feature_indices())
    pool = Pool(native_frame(Xt, "catboost", categorical), cat_features=list(categorical) or None)
    full = np.asarray(model.get_feature_importance(pool, type="ShapValues"), dtype=float)
    raw = np.asarray(model.predict(pool, prediction_type="RawFormulaVal"), dtype=float)
    values, base, raw = _select(full, raw, column, len(getattr(model, "classes_", [])))
    return _checked(values, base, raw, "tree SHAP (CatBoost ShapValues)", _raw_label(model))


def _hist_gradient_boosting(model: Any, Xt: Any, column: np.ndarray) -> _Explained | None:
    X = np.asarray(Xt, dtype=float)
    n, p = X.shape
    predictors = model._predictors  # scikit-learn's fitted trees, [iteration][output]
    n_out = len(predictors[0])
    values = np.zeros((n, n_out, p))
    base = np.tile(np.asarray(model._baseline_prediction, dtype=float).ravel(), (n, 1))
    for iteration in predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                return None  # categorical splits use bitsets this walk does not read
            expected = _expected_values(nodes)
            base[:, k] += expected[0]
            _walk(nodes, expected, X, values[:, k, :])
    full = np.concatenate([values, base[:, :, None]], axis=2)
    full = full[:, 0, :] if n_out == 1 else full
    raw = np.asarray(model._raw_predict(Xt), dtype=float)
    values, base, raw = _select(full, raw, column, len(getattr(model, "classes_", [])))
    method = "tree path attribution (Saabas) of HistGradientBoosting's raw score"
    return _checked(values, base, raw, method, _raw_label(model))


def _expected_values(nodes: np.ndarray) -> np.ndarray:
    """Each node's mean leaf value over the training rows that reach it."""
    expected = nodes["value"].astype(float).copy()
    weight = nodes["count"].astype(float).copy()
    for i in range(len(nodes) - 1, -1, -1):  # children always come after their parent
        if not nodes["is_leaf"][i]:
            left, right = nodes["left"][i], nodes["right"][i]
            total = weight[left] + weight[right]
            weight[i] = total
            expected[i] = (
                (weight[left] * expected[left] + weight[right] * expected[right]) / total
                if total
                else 0.5 * (expected[left] + expected[right])
            )
    return expected


def _walk(nodes: np.ndarray, expected: np.ndarray, X: np.ndarray, out: np.ndarray) -> None:
    """Route every row down one tree, crediting each split's feature with the change."""
    position = np.zeros(len(X), dtype=int)
    active = np.flatnonzero(~nodes["is_leaf"][position])
    while len(active):
        here = position[active]
        feature = nodes["feature_idx"][here].astype(int)
        x = X[active, feature]
        left = np.where(
            np.isnan(x), nodes["missing_go_to_left"][here], x <= nodes["num_threshold"][here]
        )
        child = np.where(left, nodes["left"][here], nodes["right"][here]).astype(int)
        np.add.at(out, (active, feature), expected[child] - expected[here])
        position[active] = child
        active = active[~nodes["is_leaf"][child].astype(bool)]


def _forest(model: Any, Xt: Any, column: np.ndarray) -> _Explained | None:
    n, p = np.shape(Xt)
    is_forest = _is_forest(model)
    trees = model.estimators_ if is_forest else [model]
    # the nodes each row visits, validated once (trees inside a forest were fitted on arrays)
    path, offsets = model.decision_path(Xt) if is_forest else (model.decision_path(Xt), None)
    path = sparse.csr_matrix(path)
    is_classifier = hasattr(model, "classes_")
    values = np.zeros((n, p))
    base = np.zeros(n)
    rows_all = np.arange(n)
    for i, tree in enumerate(trees):
        t = tree.tree_
        visited = path if offsets is None else path[:, offsets[i] : offsets[i + 1]]
        node_values = t.value[:, 0, :]
        # the value of every node for the output each row explains: rows × nodes
        target = node_values[:, column].T if is_classifier else np.tile(node_values[:, 0], (n, 1))
        parent = np.full(t.node_count, -1)
        for side in (t.children_left, t.children_right):
            has = side >= 0
            parent[side[has]] = np.flatnonzero(has)
        rows, nodes = visited.nonzero()
        keep = parent[nodes] >= 0
        rows, nodes = rows[keep], nodes[keep]
        delta = target[rows, nodes] - target[rows, parent[nodes]]
        feature = t.feature[parent[nodes]]
        values += sparse.csr_matrix((delta, (rows, feature)), shape=(n, p)).toarray()
        base += target[rows_all, 0]
    values /= len(trees)
    base /= len(trees)
    method = f"tree path attribution (Saabas) of the {'forest' if is_forest else 'tree'}"
    if is_classifier:
        raw = np.asarray(model.predict_proba(Xt), dtype=float)[rows_all, column]
        return _checked(values, base, raw, method, "probability")
    raw = np.asarray(model.predict(Xt), dtype=float).ravel()
    return _checked(values, base, raw, method, "prediction")


def _linear(model: Any, Xt: Any, column: np.ndarray, reference: Any) -> _Explained | None:
    X = np.asarray(Xt, dtype=float)
    centre = np.asarray(reference, dtype=float).mean(axis=0)
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=float))
    if hasattr(model, "decision_function"):
        raw = np.asarray(model.decision_function(Xt), dtype=float)
    else:
        raw = np.asarray(model.predict(Xt), dtype=float)
    terms = (X - centre)[:, None, :] * coef[None, :, :]  # rows × outputs × features
    bases = intercept + coef @ centre
    full = np.concatenate([terms, np.tile(bases, (len(X), 1))[:, :, None]], axis=2)
    full = full[:, 0, :] if coef.shape[0] == 1 else full
    values, base, raw = _select(full, raw, column, len(getattr(model, "classes_", [])))
    method = "linear: coefficient × (value − background mean)"
    output = "prediction" if not hasattr(model, "classes_") else _raw_label(model)
    return _checked(values, base, raw, method, output)


def _occlusion(
    pipeline: Any,
    X: pd.DataFrame,
    column: np.ndarray,
    classes: list[Any] | None,
    background: pd.DataFrame | None,
    max_background: int,
) -> tuple[np.ndarray, np.ndarray, str, str]:
    reference = X if background is None else background
    keep = np.linspace(0, len(reference) - 1, min(max_background, len(reference))).astype(int)
    reference = reference.iloc[np.unique(keep)].reset_index(drop=True)
    n, b = len(X), len(reference)

    def output(frame: pd.DataFrame, cols: np.ndarray) -> np.ndarray:
        if classes is None:
            return np.asarray(pipeline.predict(frame), dtype=float).ravel()
        proba = np.asarray(pipeline.predict_proba(frame), dtype=float)
        return proba[np.arange(len(frame)), cols]

    rows = X.reset_index(drop=True)
    full = output(rows, column)
    repeated = rows.iloc[np.repeat(np.arange(n), b)].reset_index(drop=True)
    cols = np.repeat(column, b)
    values = np.zeros((n, X.shape[1]))
    for j, name in enumerate(X.columns):
        swapped = repeated.copy()
        swapped[name] = np.tile(reference[name].to_numpy(), n)
        values[:, j] = full - output(swapped, cols).reshape(n, b).mean(axis=1)
    base = output(reference.iloc[np.repeat(np.arange(b), n)], np.tile(column, b))
    method = "occlusion: change when a column takes background values (not additive)"
    return (
        values,
        base.reshape(b, n).mean(axis=0),
        method,
        ("probability" if classes is not None else "prediction"),
    )
