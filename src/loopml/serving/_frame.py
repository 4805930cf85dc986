"""The "frame" runtime: the fitted pipeline itself, on a DataFrame of the typed columns.

Every pipeline has this runtime, so it is the fallback when a step has no compiled form. It
skips only the ``FrameCoercer`` step (the :class:`~loopml.serving._reader.RecordReader` has
typed the columns exactly as that step would), so it gives exactly what
``ModelBundle.predict_frame`` gives for the same instances.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.serving._contract import Predictions, RowBatch
from loopml.serving._fast_model import one_thread
from loopml.serving._reader import find_coercer

if TYPE_CHECKING:
    import pandas as pd

    from loopml.registry import ModelBundle


class FramePredictor:
    """Predicts a :data:`RowBatch` with the bundle's fitted pipeline after its coercion step.

    A service reads each request once and predicts the typed columns::

        predictor = FramePredictor(bundle)
        batch = RecordReader(bundle).read([{"age": 41, "plan": "Gold"}])
        predictor.predict(batch.rows, batch.n).predictions  # e.g. ['no']

    Parameters
    ----------
    bundle
        The loaded model.
    """

    runtime = "frame"

    def __init__(self, bundle: ModelBundle):
        coercer = find_coercer(bundle.pipeline)
        if coercer is None:
            raise TypeError(
                "the model's pipeline has no FrameCoercer step, so it was not built by loopml's "
                "training; retrain it with loopml to serve it."
            )
        self.task = bundle.problem.task
        self.classes = list(bundle.problem.classes)
        self.columns: tuple[str, ...] = tuple(coercer.roles_)
        self.model = without_coercion(bundle.pipeline)
        # one thread per request, as on the compiled path (BLAS and OpenMP pools)
        call = self.model.predict if self.task == "regression" else self.model.predict_proba
        self._call = one_thread(call)

    def frame(self, rows: RowBatch, n: int) -> pd.DataFrame:
        """The typed columns as the pipeline's coercion step would hand them on."""
        import pandas as pd

        index = pd.RangeIndex(n)
        # the arrays' own dtypes: pandas would make object arrays of text its string dtype,
        # which the coercion step does not give
        columns = {
            name: pd.Series(rows[name], index=index, dtype=rows[name].dtype, copy=False)
            for name in self.columns
        }
        return pd.DataFrame(columns, index=index)

    def predict(self, rows: RowBatch, n: int) -> Predictions:
        if n == 0:  # scikit-learn refuses an empty frame
            return Predictions([], None if self.task == "regression" else [])
        frame = self.frame(rows, n)
        if self.task == "regression":
            values = np.asarray(self._call(frame), dtype=float)
            return Predictions(predictions=values.tolist())
        if self.task == "anomaly":  # the flag's probability from the score: one pass
            return _anomaly_predictions(self.model[-1], frame, self.classes)
        raw = self._call(frame)
        proba = align_probabilities(raw, self.model.classes_, self.classes)
        return to_predictions(self.model, proba, self.classes)


def _anomaly_predictions(detector: Any, frame: pd.DataFrame, classes: list[Any]) -> Predictions:
    """An anomaly detector's flags, their probabilities and its raw scores."""
    from scipy.special import expit

    scores = np.asarray(detector.score_samples(frame), dtype=float)
    flagged = expit(scores - detector.threshold)
    answer = to_predictions(detector, np.column_stack([1 - flagged, flagged]), classes)
    return Predictions(answer.predictions, answer.probabilities, scores.tolist())


def align_probabilities(raw: np.ndarray, fitted: Sequence[Any], classes: list[Any]) -> np.ndarray:
    """Probabilities in the problem's class order, as ``ModelBundle.predict_frame`` lays out."""
    proba = np.zeros((raw.shape[0], len(classes)))
    for j, c in enumerate(fitted):
        proba[:, classes.index(c)] = raw[:, j]
    return proba


def to_predictions(model: Any, proba: np.ndarray, classes: list[Any]) -> Predictions:
    """Labels (through the model's decision threshold, if any) and per-class probabilities."""
    from loopml.modeling import decide

    labels = decide(model, proba, classes)
    keys = [str(c) for c in classes]
    probabilities = [dict(zip(keys, row, strict=True)) for row in proba.tolist()]
    return Predictions(predictions=_plain(labels), probabilities=probabilities)


def _plain(values: np.ndarray) -> list[Any]:
    """JSON-ready Python values (numpy scalars become int, float, str, bool)."""
    return [v.item() if isinstance(v, np.generic) else v for v in np.asarray(values).tolist()]


def without_coercion(model: Any) -> Any:
    """``model`` with each member pipeline's leading ``FrameCoercer`` step removed.

    Wrappers (a decision threshold, a weighted ensemble) are copied shallowly with their
    members replaced; fitted steps are shared, not copied.
    """
    from loopml.features import FrameCoercer

    if hasattr(model, "estimators_") and (hasattr(model, "weights_") or hasattr(model, "combine")):
        out = copy.copy(model)  # a weighted ensemble (a bag is one) or a stack
        out.estimators_ = [without_coercion(m) for m in model.estimators_]
        return out
    if hasattr(model, "estimator_") and hasattr(model, "threshold"):  # FixedThreshold...
        out = copy.copy(model)
        out.estimator_ = without_coercion(model.estimator_)
        return out
    steps = getattr(model, "steps", None)
    if steps and isinstance(steps[0][1], FrameCoercer):
        return model[1:]
    return model
