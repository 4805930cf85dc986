"""RealMLP and TabM from pytabkit (the ``[neural]`` extra) as scikit-learn estimators, on CPU.

:class:`NeuralClassifier` and :class:`NeuralRegressor` wrap pytabkit's ``RealMLP_TD_*`` and
``TabM_D_*`` models: always on the CPU (no GPU is ever looked for), seeded, on ``n_threads``
PyTorch threads, for a bounded number of epochs. pytabkit holds out a fifth of the rows it is
given to pick the best epoch; the validation loss of every epoch is kept in ``curve_``, so the
search can hand it to TensorBoard (:mod:`loopml.modeling._tensorboard`).

Neither torch nor pytabkit is imported until a network is fitted: importing pytabkit takes
seconds, which ``import loopml`` and every search that leaves the networks out must not pay.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from loopml.modeling._families import NEURAL_EXTRA, require
from loopml.types import TaskKind

#: pytabkit's classes of each network: (classifier, regressor).
NETWORKS = {
    "realmlp": ("RealMLP_TD_Classifier", "RealMLP_TD_Regressor"),
    "tabm": ("TabM_D_Classifier", "TabM_D_Regressor"),
}

#: The least probability a class seen in training gets (log loss stays finite).
MIN_PROBABILITY = 1e-7

# What pytabkit reports after each epoch: RealMLP the validation loss ("Epoch 3/64: val
# cross_entropy = 0.41"), TabM its validation score, the negated loss ("(val) -0.4100").
_REALMLP_EPOCH = re.compile(r"^Epoch \d+/\d+: val \S+ = (\S+)$")
_TABM_EPOCH = re.compile(r"^\(val\) (\S+)$")

# pytabkit builds its progress logger from a module-level class inside fit(); recording a
# curve swaps that class for the fit, one fit at a time in a process.
_LOGGER_LOCK = threading.Lock()


def load_pytabkit(network: str) -> Any:
    """The pytabkit package, or a :class:`~loopml.errors.TrainingError` saying how to get it."""
    require("torch", network, NEURAL_EXTRA)
    return require("pytabkit", network, NEURAL_EXTRA)


class EpochRecorder:
    """A pytabkit progress logger that keeps each epoch's validation loss in ``curve``.

    It hears everything up to verbosity 2 (the epoch lines) while the fit itself runs at
    verbosity 0 (no progress bars); a module-level class, as the fitted model keeps it and
    must pickle.
    """

    def __init__(self, curve: list[float]) -> None:
        self.curve = curve

    def get_verbosity_level(self) -> int:
        return 2

    def log(self, verbosity: int, content: str) -> None:
        if verbosity <= 2:
            self.force_log(content)

    def force_log(self, content: str) -> None:
        if found := _REALMLP_EPOCH.match(content):
            self.curve.append(float(found.group(1)))
        elif found := _TABM_EPOCH.match(content):
            self.curve.append(-float(found.group(1)))


@contextmanager
def recording_epochs(curve: list[float]) -> Iterator[None]:
    """Append the validation loss of each epoch pytabkit reports inside this block to ``curve``."""
    from pytabkit.models.sklearn import sklearn_base

    with _LOGGER_LOCK:
        original = sklearn_base.StdoutLogger
        sklearn_base.StdoutLogger = lambda verbosity_level=0: EpochRecorder(curve)
        try:
            yield
        finally:
            sklearn_base.StdoutLogger = original


def _dense(X: Any) -> np.ndarray:
    """The encoded rows as the float32 matrix the networks read."""
    if hasattr(X, "toarray"):  # one-hot and text columns may arrive sparse
        X = X.toarray()
    return np.asarray(X, dtype=np.float32)


def make_network(
    network: str,
    task: TaskKind,
    n_epochs: int,
    options: dict[str, Any],
    seed: int,
    n_threads: int,
) -> NeuralClassifier | NeuralRegressor:
    """The estimator of ``network`` for ``task``: classifiers stop on the validation log loss
    (pytabkit's default, the error rate, cannot tell confident from lucky)."""
    if task == "regression":
        return NeuralRegressor(network, n_epochs, options, seed, n_threads)
    options = {"val_metric_name": "cross_entropy", **options}
    return NeuralClassifier(network, n_epochs, options, seed, n_threads)


class _Network(BaseEstimator):
    """What both estimators share: building and fitting the pytabkit model.

    Parameters
    ----------
    network
        ``"realmlp"`` or ``"tabm"``.
    n_epochs
        The most epochs trained; pytabkit keeps the best on its validation fifth.
    options
        Further keyword arguments of the pytabkit class (``lr``, ``p_drop``, ...).
    random_state
        Seeds the split, the initialisation and the batches.
    n_threads
        PyTorch threads while fitting.
    """

    def __init__(
        self,
        network: str = "realmlp",
        n_epochs: int = 64,
        options: dict[str, Any] | None = None,
        random_state: int = 0,
        n_threads: int = 1,
    ) -> None:
        self.network = network
        self.n_epochs = n_epochs
        self.options = options
        self.random_state = random_state
        self.n_threads = n_threads

    def _fit_network(self, X: Any, y: np.ndarray, regression: bool) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {self.network!r}")
        pytabkit = load_pytabkit(self.network)
        cls = getattr(pytabkit, NETWORKS[self.network][int(regression)])
        model = cls(
            device="cpu",
            random_state=self.random_state,
            n_threads=self.n_threads,
            verbosity=0,
            n_epochs=self.n_epochs,
            **(self.options or {}),
        )
        curve: list[float] = []
        with recording_epochs(curve):
            model.fit(_dense(X), y)
        self.model_ = model
        self.curve_ = tuple(curve)
        self.n_features_in_ = int(np.shape(X)[1])


class NeuralClassifier(ClassifierMixin, _Network):
    """A pytabkit network as a classifier with ``predict_proba``.

    Examples
    --------
    >>> NeuralClassifier("tabm", n_epochs=8).get_params()["network"]
    'tabm'
    """

    def fit(self, X: Any, y: Any) -> NeuralClassifier:
        encoder = LabelEncoder().fit(np.asarray(y))
        self.classes_ = encoder.classes_
        self._fit_network(X, encoder.transform(np.asarray(y)), regression=False)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        proba = np.asarray(self.model_.predict_proba(_dense(X)), dtype=float)
        # a confident softmax underflows to 0 in float32: no class seen in training gets that
        proba = np.clip(proba, MIN_PROBABILITY, None)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.classes_)[np.argmax(self.predict_proba(X), axis=1)]


class NeuralRegressor(RegressorMixin, _Network):
    """A pytabkit network as a regressor.

    Examples
    --------
    >>> NeuralRegressor(n_epochs=8).get_params()["n_epochs"]
    8
    """

    def fit(self, X: Any, y: Any) -> NeuralRegressor:
        # a copy: torch warns on the read-only arrays pandas may hand out
        self._fit_network(X, np.array(y, dtype=np.float32), regression=True)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict(_dense(X)), dtype=float).reshape(-1)
