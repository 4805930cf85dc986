"""Compiling a fitted pipeline into the numpy row path, at model load.

:func:`compile_predictor` turns each fitted step into a function on numpy arrays (see
``_fast_table``, ``_fast_columns``, ``_fast_model``), checks the compiled path against the
pipeline itself on probe instances built from the schema (every category, the range ends,
missing values, unseen labels), and warms it. A step without a compiled form, or a probe
where the two disagree, means the :class:`~loopml.serving._frame.FramePredictor` fallback
(``runtime="auto"``) or an error naming the step (``runtime="python"``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopml.errors import ConfigError
from loopml.serving._contract import Predictions, Predictor, RequestError, RowBatch
from loopml.serving._fast_columns import compile_column_transformer, compile_numeric
from loopml.serving._fast_model import compile_model
from loopml.serving._fast_table import (
    NoFastForm,
    Table,
    TableFn,
    compile_category_merger,
    compile_datetime_expander,
    compile_expressions,
    compile_outlier_clipper,
)
from loopml.serving._frame import FramePredictor, align_probabilities, to_predictions
from loopml.serving._reader import RecordReader, find_coercer

if TYPE_CHECKING:
    import pandas as pd

    from loopml.registry import ModelBundle

log = logging.getLogger(__name__)

#: Which row path serves: compiled when possible ("auto"), compiled or an error ("python"),
#: or the pipeline on a DataFrame ("frame").
Runtime = Literal["auto", "python", "frame"]
RUNTIMES: tuple[str, ...] = ("auto", "python", "frame")

#: Compiled model: table -> probabilities in the model's ``classes_`` order, or predictions.
ScoreFn = Callable[[Table], np.ndarray]

#: The compiled path must agree with the pipeline to this much on the load-time probe.
TOLERANCE = 1e-9


class CompiledPredictor:
    """The "python" runtime: the fitted pipeline compiled into numpy functions.

    Build it with :func:`compile_predictor`, which also checks it against the pipeline.
    """

    runtime = "python"

    def __init__(self, bundle: ModelBundle):
        coercer = find_coercer(bundle.pipeline)
        if coercer is None:
            raise NoFastForm("the pipeline has no FrameCoercer step")
        self.task = bundle.problem.task
        self.classes = list(bundle.problem.classes)
        self.columns: tuple[str, ...] = tuple(coercer.roles_)
        self.model = bundle.pipeline
        self._coercer = coercer
        self._scores = compile_scores(bundle.pipeline, self.task, dict(coercer.roles_))

    def predict(self, rows: RowBatch, n: int) -> Predictions:
        table = {name: rows[name] for name in self.columns}
        if n == 0:
            return _empty(self.task, self.classes)
        raw = self._scores(table)
        if self.task == "regression":
            return Predictions(predictions=np.asarray(raw, dtype=float).tolist())
        proba = align_probabilities(raw, self.model.classes_, self.classes)
        return to_predictions(self.model, proba, self.classes)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What ``ModelBundle.predict_frame`` gives for ``frame`` (the same columns, labels
        and probabilities), on the compiled path: batch scoring's fast path.

        The pipeline's own coercion step reads the raw columns, vectorised as in training
        (:meth:`coerce`); the compiled steps replace the rest (:meth:`predict_typed`), which
        for a large frame spend most of their time building pandas objects (datetime parts,
        category merging, the column transformer).
        """
        return self.predict_typed(self.coerce(frame))

    def coerce(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of ``frame`` typed by the pipeline's coercion step."""
        return self._coercer.transform(frame)

    def predict_typed(self, typed: pd.DataFrame) -> pd.DataFrame:
        """``predict_frame``'s output from columns :meth:`coerce` typed, indexed like them."""
        import pandas as pd

        from loopml.modeling import decide

        table = {name: _row_array(typed[name], role) for name, role in self._coercer.roles_.items()}
        raw = self._scores(table)
        if self.task == "regression":
            values = np.asarray(raw, dtype=float)
            return pd.DataFrame({"prediction": values}, index=typed.index)
        proba = align_probabilities(raw, self.model.classes_, self.classes)
        out = pd.DataFrame(
            {f"proba_{c}": proba[:, j] for j, c in enumerate(self.classes)}, index=typed.index
        )
        out.insert(0, "prediction", decide(self.model, proba, self.classes))
        return out


def _row_array(values: pd.Series, role: str) -> np.ndarray:
    """One coerced column as the :data:`RowBatch` array of its role (see ``_contract``)."""
    if role in ("numeric", "boolean"):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    if role == "datetime":
        return values.to_numpy(dtype="datetime64[ns]")
    return values.to_numpy(dtype=object)


def compile_predictor(bundle: ModelBundle, runtime: Runtime = "auto") -> Predictor:
    """The predictor a service uses for ``bundle``: compiled, checked and warmed.

    Parameters
    ----------
    bundle
        The loaded model.
    runtime
        ``"auto"``: the compiled path when every step has a compiled form and it agrees with
        the pipeline on the probe instances, else the DataFrame path (logged as a warning
        naming the step); ``"python"``: the compiled path or an error; ``"frame"``: the
        pipeline on a DataFrame.

    Raises
    ------
    ConfigError
        An unknown runtime, or ``"python"`` for a pipeline with a step that has no compiled
        form (the message names it).
    """
    if runtime not in RUNTIMES:
        raise ConfigError(
            f"serving.runtime must be one of {', '.join(RUNTIMES)} here, got {runtime!r}."
        )
    frame = FramePredictor(bundle)
    reader = RecordReader(bundle)
    try:
        probe = reader.read(probe_records(bundle))
    except RequestError:  # a schema the probe does not fit: every value missing still does
        probe = reader.read([dict.fromkeys(reader.names)])
    if runtime == "frame":
        frame.predict(probe.rows, probe.n)  # warm
        return frame
    try:
        compiled = CompiledPredictor(bundle)
        check_agreement(compiled, frame, probe.rows, probe.n)
    except NoFastForm as exc:
        if runtime == "python":
            raise ConfigError(
                f"serving.runtime is 'python', but the model cannot be compiled: {exc}. Use "
                "runtime 'auto' (falls back to the pipeline on a DataFrame) or 'frame'."
            ) from exc
        # clustering and anomaly models have no compiled form: expected, not a warning
        say = log.info if bundle.problem.unsupervised else log.warning
        say("serving the model on the DataFrame path: %s", exc)
        return frame
    compiled.predict({k: v[:1] for k, v in probe.rows.items()}, min(probe.n, 1))  # warm
    return compiled


# ------------------------------------------------------------------------------------------
# compiling the fitted objects


def compile_scores(model: Any, task: str, roles: dict[str, str]) -> ScoreFn:
    """A fitted pipeline, decision-threshold wrapper, weighted ensemble (a bag is one) or
    stack as one function."""
    if hasattr(model, "estimators_") and hasattr(model, "weights_"):  # WeightedEnsemble
        return _ensemble(model, task, roles)
    if hasattr(model, "estimators_") and hasattr(model, "combine"):  # StackedEnsemble
        members = [compile_scores(m, task, roles) for m in model.estimators_]
        return lambda table: model.combine([f(table) for f in members])
    if hasattr(model, "estimator_") and hasattr(model, "threshold"):  # FixedThreshold...
        return compile_scores(model.estimator_, task, roles)  # decided later, by decide()
    steps = getattr(model, "steps", None)
    if not steps:
        raise NoFastForm(f"{type(model).__name__} is not a pipeline loopml builds")
    return _pipeline(steps, task, roles)


def _ensemble(model: Any, task: str, roles: dict[str, str]) -> ScoreFn:
    members = [compile_scores(m, task, roles) for m in model.estimators_]
    weights = [float(w) for w in model.weights_]
    if task == "regression":

        def average(table: Table) -> np.ndarray:
            return np.sum(
                [
                    w * np.asarray(f(table), dtype=float)
                    for w, f in zip(weights, members, strict=True)
                ],
                axis=0,
            )

        return average
    index = {c: i for i, c in enumerate(model.classes_.tolist())}
    columns = [[index[c] for c in m.classes_.tolist()] for m in model.estimators_]
    width = len(index)

    def vote(table: Table) -> np.ndarray:
        n = len(next(iter(table.values())))
        out = np.zeros((n, width))
        for weight, member, where in zip(weights, members, columns, strict=True):
            proba = member(table)
            for j, k in enumerate(where):
                out[:, k] += weight * proba[:, j]
        return out

    return vote


def _pipeline(steps: list[tuple[str, Any]], task: str, roles: dict[str, str]) -> ScoreFn:
    from sklearn.compose import ColumnTransformer

    from loopml.features import FrameCoercer

    table_steps: list[TableFn] = []
    to_matrix = None
    matrix_steps = []
    for name, step in steps[:-1]:
        if isinstance(step, FrameCoercer) or step == "passthrough":
            continue  # the reader has typed the columns
        try:
            if to_matrix is None and isinstance(step, ColumnTransformer):
                to_matrix = compile_column_transformer(step, roles)
            elif to_matrix is None:
                table_steps.append(_table_step(step))
            else:
                matrix_steps.append(compile_numeric(step))
        except NoFastForm as exc:
            raise NoFastForm(f"step {name!r} ({type(step).__name__}): {exc}") from exc
    if to_matrix is None:
        raise NoFastForm("the pipeline has no ColumnTransformer step")
    model = compile_model(steps[-1][1], task == "regression")

    def scores(table: Table) -> np.ndarray:
        for step in table_steps:
            table = step(table)
        X = to_matrix(table)
        for transform in matrix_steps:
            X = transform(X)
        return model(X)

    return scores


def _table_step(step: Any) -> TableFn:
    from loopml.features import (
        CategoryMerger,
        DatetimeExpander,
        ExpressionFeatures,
        OutlierClipper,
    )

    if isinstance(step, CategoryMerger):
        return compile_category_merger(step)
    if isinstance(step, OutlierClipper):
        return compile_outlier_clipper(step)
    if isinstance(step, ExpressionFeatures):
        return compile_expressions(step)
    if isinstance(step, DatetimeExpander):
        return compile_datetime_expander(step)
    raise NoFastForm("no compiled form")


# ------------------------------------------------------------------------------------------
# the load-time check


def check_agreement(compiled: Predictor, frame: Predictor, rows: RowBatch, n: int) -> None:
    """Raise :class:`NoFastForm` unless both give the same labels and numbers on ``rows``."""
    try:
        got = compiled.predict(rows, n)
    except NoFastForm:
        raise
    except Exception as exc:  # a compiled step that fails on valid input: not usable
        raise NoFastForm(
            f"the compiled path failed on the probe ({type(exc).__name__}: {exc})"
        ) from exc
    want = frame.predict(rows, n)
    if want.probabilities is None:
        a = np.asarray(got.predictions, dtype=float)
        b = np.asarray(want.predictions, dtype=float)
        if not np.allclose(a, b, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True):
            raise NoFastForm("the compiled path's predictions differ from the pipeline's")
        return
    if got.predictions != want.predictions:
        raise NoFastForm("the compiled path's labels differ from the pipeline's")
    a = np.asarray([list(p.values()) for p in got.probabilities or []])
    b = np.asarray([list(p.values()) for p in want.probabilities])
    if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=TOLERANCE):
        raise NoFastForm("the compiled path's probabilities differ from the pipeline's")


def probe_records(bundle: ModelBundle) -> list[dict[str, Any]]:
    """Instances covering the schema: each known category, the range ends and middle,
    missing values, an unseen label, and one instance with every value missing."""
    values: dict[str, list[Any]] = {}
    for col in bundle.schema.feature_columns:
        values[col.name] = _probe_values(col)
    rows = max((len(v) for v in values.values()), default=1)
    records = [{name: vs[r % len(vs)] for name, vs in values.items()} for r in range(rows)]
    records.append(dict.fromkeys(values))
    return records


def _probe_values(col: Any) -> list[Any]:
    lo, hi = col.minimum, col.maximum
    if col.role == "numeric":
        if lo is None or hi is None:
            return [0.0, 1.0, None]
        return [lo, hi, (lo + hi) / 2, None, lo - 1.0, hi + 1.0]
    if col.role == "boolean":
        return [True, False, None]
    if col.role == "datetime":
        if lo is None or hi is None:
            return ["2024-01-01T00:00:00", None]
        stamps = [lo, hi, (lo + hi) / 2 + 3 * 3600 + 17 * 60]
        return [datetime.fromtimestamp(math.floor(s), UTC).isoformat() for s in stamps] + [None]
    if col.role == "text":
        return ["", None, "good price fast support", "bad slow", "a b c d"]
    labels = list(col.categories)[:24]
    return [*labels, None, "unseen label"]


def _empty(task: str, classes: list[Any]) -> Predictions:
    return Predictions(predictions=[], probabilities=None if task == "regression" else [])
