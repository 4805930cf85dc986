"""The live model of one worker, swapped without a failed request when the champion moves.

A :class:`ModelHolder` keeps one :class:`LoadedModel`. :meth:`ModelHolder.refresh` asks the
registry where the reference (``champion`` or a version) points; when it moved, the new
version is loaded aside, checked by predicting one row, and only then put in place by one
attribute assignment, so a request sees either the old model or the new one, never a
half-loaded one. A request keeps the ``LoadedModel`` it started with until it answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loopml.data import ColumnSchema, Problem, Schema
from loopml.errors import ConfigError, LoopmlError, ModelNotFoundError, RegistryError
from loopml.serving._contract import Predictions, Predictor, ReadBatch, Records
from loopml.serving._entity import EntityKeys

if TYPE_CHECKING:
    from loopml.registry import ModelBundle

log = logging.getLogger(__name__)

#: How often a worker looks at the reload signal file (seconds).
SIGNAL_TICK = 0.25


def _mtime(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None


class Reader(Protocol):
    """Reads a request's instances into typed columns (``serving._reader.RecordReader``)."""

    def read(self, records: Records) -> ReadBatch: ...


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to answer: its reader and predictor, prepared once at load."""

    name: str
    version: str
    runtime: str
    reader: Reader
    predictor: Predictor
    schema: Schema
    problem: Problem
    id_columns: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    loaded_at: float = field(default_factory=time.time)
    entity_keys: EntityKeys = field(default_factory=EntityKeys)  # ids kept in the log

    @property
    def features(self) -> list[ColumnSchema]:
        return self.schema.feature_columns

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.problem.classes] if self.problem.is_classification else []


class ModelSource(Protocol):
    """Where models come from: the registry in production, anything with these two in tests."""

    def resolve(self, ref: str) -> str:
        """The version ``ref`` (``champion``, ``challenger``, ``latest`` or a number) names."""

    def load(self, version: str) -> LoadedModel:
        """Load ``version`` with its reader and predictor, warmed."""


@dataclass(frozen=True)
class RefreshOutcome:
    """What a refresh did: ``unchanged``, ``swapped`` or ``failed`` (the old model stays);
    for an optional reference also ``absent`` (names nothing) and ``removed`` (let go)."""

    outcome: str
    version: str
    previous: str
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "model_version": self.version,
            "previous_version": self.previous,
            "message": self.message,
        }


def probe_record(schema: Schema) -> dict[str, Any]:
    """One plausible instance of ``schema``: the row a new model must predict before it
    goes live (the lowest value seen, the first category, a missing date)."""
    record: dict[str, Any] = {}
    for col in schema.feature_columns:
        if col.role == "numeric":
            record[col.name] = col.minimum if col.minimum is not None else 0.0
        elif col.role == "boolean":
            record[col.name] = False
        elif col.role == "categorical":
            record[col.name] = col.categories[0] if col.categories else None
        elif col.role == "text":
            record[col.name] = ""
        else:
            record[col.name] = None
    return record


def check_model(model: LoadedModel) -> None:
    """Predict one row with ``model``; raise :class:`RegistryError` naming the version if it
    cannot, so a broken model never goes live."""
    try:
        batch = model.reader.read([probe_record(model.schema)])
        answer = model.predictor.predict(batch.rows, batch.n)
    except Exception as exc:
        raise RegistryError(
            f"model {model.name!r} version {model.version} failed its check (predicting one "
            f"row): {exc}. The previous model keeps serving; fix or retrain the model."
        ) from exc
    if len(answer.predictions) != 1:
        raise RegistryError(
            f"model {model.name!r} version {model.version} answered {len(answer.predictions)} "
            "predictions for one row; the previous model keeps serving."
        )


class ModelHolder:
    """The model one worker serves, and the swap to a new one.

    Parameters
    ----------
    source
        Resolves references and loads versions.
    ref
        What to serve: ``champion`` (follows promotions) or a fixed version number.
    on_swap
        Called with ``(outcome, model)`` after each refresh that loaded something (metrics).
    optional
        The reference may name nothing (the ``challenger`` alias of an online comparison):
        then no model is held and :attr:`current` is None, and a refresh after the alias
        was removed lets the model go (outcome ``removed``) instead of failing.
    """

    def __init__(
        self,
        source: ModelSource,
        ref: str,
        on_swap: Callable[[RefreshOutcome, LoadedModel | None], None] | None = None,
        *,
        optional: bool = False,
    ):
        self.source = source
        self.ref = ref
        self.on_swap = on_swap
        self.optional = optional
        self._model: LoadedModel | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def model(self) -> LoadedModel:
        """The live model (one attribute read: atomic)."""
        model = self._model
        if model is None:
            raise RegistryError("no model is loaded yet; the service is starting.")
        return model

    @property
    def current(self) -> LoadedModel | None:
        """The live model, or None when none is held (an optional reference naming nothing)."""
        return self._model

    @property
    def is_ready(self) -> bool:
        return self._model is not None

    def start(self) -> LoadedModel:
        """Load, check and warm the first model; raise if it cannot serve."""
        version = self.source.resolve(self.ref)
        model = self.source.load(version)
        check_model(model)
        self._model = model
        self._notify(RefreshOutcome("swapped", version, ""), model)
        return model

    def refresh(self) -> RefreshOutcome:
        """Swap to the version ``ref`` names now, if it moved; the old model serves until the
        new one passed its check, and keeps serving if it fails."""
        with self._lock:
            previous = self._model.version if self._model is not None else ""
            version = ""
            try:
                try:
                    version = self.source.resolve(self.ref)
                except ModelNotFoundError as exc:
                    if not self.optional:
                        raise
                    return self._absent(previous, exc)
                if version == previous:
                    return RefreshOutcome("unchanged", version, previous)
                model = self.source.load(version)
                check_model(model)
            except Exception as exc:  # whatever broke, the model serving now keeps serving
                message = (
                    str(exc)
                    if isinstance(exc, LoopmlError)
                    else (
                        f"loading version {version or self.ref} failed "
                        f"({type(exc).__name__}: {exc}); version {previous} keeps serving"
                    )
                )
                outcome = RefreshOutcome("failed", previous, previous, message)
                log.error("model reload failed: %s", message)
                self._notify(outcome, None)
                return outcome
            self._model = model
            outcome = RefreshOutcome("swapped", version, previous)
            log.info("now serving %s version %s (was %s)", model.name, version, previous)
            self._notify(outcome, model)
            return outcome

    def _absent(self, previous: str, exc: ModelNotFoundError) -> RefreshOutcome:
        """An optional reference names nothing (now): hold no model."""
        self._model = None
        if not previous:
            return RefreshOutcome("absent", "", "", str(exc))
        log.info("%s names no model any more (%s); version %s let go", self.ref, exc, previous)
        outcome = RefreshOutcome("removed", "", previous, str(exc))
        self._notify(outcome, None)
        return outcome

    def _notify(self, outcome: RefreshOutcome, model: LoadedModel | None) -> None:
        if self.on_swap is not None:
            self.on_swap(outcome, model)

    # ------------------------------------------------------------------ polling

    def poll(self, every_seconds: float, signal: Path | None = None) -> None:
        """Refresh every ``every_seconds`` in a background thread (0: never), and soon after
        ``signal`` (a file another worker touches on an admin reload) changes."""
        if (every_seconds <= 0 and signal is None) or self._poller is not None:
            return
        self._stop.clear()
        self._poller = threading.Thread(
            target=self._poll_loop,
            args=(every_seconds, signal),
            name="loopml-model-poll",
            daemon=True,
        )
        self._poller.start()

    def _poll_loop(self, every_seconds: float, signal: Path | None) -> None:
        tick = min(every_seconds, SIGNAL_TICK) if every_seconds > 0 else SIGNAL_TICK
        seen = _mtime(signal)
        due = time.monotonic() + every_seconds
        while not self._stop.wait(tick):
            stamp = _mtime(signal)
            signalled = stamp != seen
            if not signalled and (every_seconds <= 0 or time.monotonic() < due):
                continue
            seen, due = stamp, time.monotonic() + every_seconds
            try:
                self.refresh()
            except Exception:  # a registry hiccup must not end the polling
                log.exception("checking the registry for a new model failed")

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=10)
            self._poller = None


class RegistryModelSource:
    """Models from the project's MLflow registry, read and predicted by the row path.

    ``runtime`` picks the predictor: ``python`` (the compiled numpy path, falling back to
    the pipeline on a DataFrame where a step does not compile), ``onnx`` (ONNX Runtime) or
    ``auto`` (ONNX where the pipeline converts, else python).
    """

    def __init__(
        self,
        registry: Any,
        runtime: str = "auto",
        extra_columns: str = "ignore",
        build: Callable[[Any, str, str], tuple[Reader, Predictor]] | None = None,
    ):
        self.registry = registry
        self.runtime = runtime
        self.extra_columns = extra_columns
        self._build = build or build_runtime

    def resolve(self, ref: str) -> str:
        return str(self.registry.resolve(ref))

    def load(self, version: str) -> LoadedModel:
        bundle, info = self.registry.load(version)
        reader, predictor = self._build(bundle, self.runtime, self.extra_columns)
        return LoadedModel(
            name=str(info.name),
            version=str(info.version),
            runtime=str(predictor.runtime),
            reader=reader,
            predictor=predictor,
            schema=bundle.schema,
            problem=bundle.problem,
            id_columns=tuple(bundle.id_columns),
            metrics=dict(info.metrics),
            aliases=tuple(info.aliases),
            entity_keys=EntityKeys.of(logged_keys(bundle), bundle.info),
        )


def logged_keys(bundle: ModelBundle) -> tuple[str, ...]:
    """The columns the log keeps besides the features: the id columns (for ``loopml forget``)
    and the sensitive columns (for fairness monitoring), each as the privacy policy wrote it."""
    return tuple(dict.fromkeys((*bundle.id_columns, *bundle.sensitive_columns)))


class BundleDirectorySource:
    """One model from a bundle directory (``loopml export docker`` writes ``model/``): its
    files are checked against the checksums in its ``version.json`` before anything loads.

    A directory holds one version, so ``resolve`` names it whatever the reference and the
    service never swaps; a new model means a new image.
    """

    def __init__(self, directory: Path, runtime: str = "auto", extra_columns: str = "ignore"):
        self.directory = directory
        self.runtime = runtime
        self.extra_columns = extra_columns
        self._meta = _version_file(directory)

    def resolve(self, ref: str) -> str:
        return str(self._meta["version"])

    def load(self, version: str) -> LoadedModel:
        from loopml.registry import ModelBundle

        bundle = ModelBundle.load(self.directory, expected=self._meta.get("checksums") or None)
        reader, predictor = build_runtime(bundle, self.runtime, self.extra_columns)
        return LoadedModel(
            name=str(self._meta.get("name", bundle.problem.target)),
            version=str(self._meta["version"]),
            runtime=str(predictor.runtime),
            reader=reader,
            predictor=predictor,
            schema=bundle.schema,
            problem=bundle.problem,
            id_columns=tuple(bundle.id_columns),
            metrics=dict(bundle.metrics),
            entity_keys=EntityKeys.of(logged_keys(bundle), bundle.info),
        )


def _version_file(directory: Path) -> dict[str, Any]:
    """``version.json`` of a bundle directory: name, version and the files' sha256."""
    import json

    path = directory / "version.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{directory} is not an exported model directory: it has no version.json. Pass "
            "--model champion, challenger or a version number to serve from the registry, or "
            "the model/ directory `loopml export docker` writes."
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}. Export the model again.") from exc
    if not isinstance(meta, dict) or "version" not in meta:
        raise ConfigError(f"{path} names no model version. Export the model again.")
    return meta


def build_runtime(bundle: Any, runtime: str, extra_columns: str) -> tuple[Reader, Predictor]:
    """The reader and predictor of ``bundle`` for ``runtime``, checked and warmed.

    ``onnx``: ONNX Runtime (an error naming the step if the pipeline does not convert);
    ``python``: the compiled numpy path (an error naming the step if it does not compile);
    ``frame``: the pipeline on a DataFrame; ``auto``: ONNX Runtime when the pipeline converts
    and agrees with the pipeline on probe instances, else the compiled path, else the frame.
    """
    from loopml.serving._compile import compile_predictor
    from loopml.serving._reader import RecordReader

    reader = RecordReader(bundle, extra_columns=extra_columns)  # type: ignore[arg-type]
    if runtime == "onnx":
        return reader, _onnx_predictor(bundle)
    fallback = compile_predictor(bundle, runtime)  # type: ignore[arg-type]
    if runtime == "auto":
        onnx = _checked_onnx(bundle, reader, fallback)
        if onnx is not None:
            return reader, onnx
    return reader, fallback


def _onnx_predictor(bundle: Any) -> Predictor:
    try:
        from loopml.serving._onnx import OnnxPredictor
    except ImportError as exc:
        raise ConfigError(
            f"serving.runtime 'onnx' needs ONNX Runtime, which is not installed ({exc}). "
            "Install loopml[onnx], or serve with --runtime python."
        ) from exc
    predictor: Predictor = OnnxPredictor(bundle)
    return predictor


#: How far ONNX Runtime may be from the pipeline for ``runtime: auto`` to pick it: the
#: parity bound of ``loopml export onnx`` (probabilities absolute, regression relative).
ONNX_TOLERANCE = 1e-4


def _checked_onnx(bundle: Any, reader: Reader, reference: Predictor) -> Predictor | None:
    """ONNX Runtime for ``bundle`` if it converts and agrees with ``reference`` on the probe
    instances (within :data:`ONNX_TOLERANCE`); None (logged) otherwise."""
    from loopml.serving._compile import probe_records

    try:
        onnx = _onnx_predictor(bundle)
        probe = reader.read(probe_records(bundle))
        gap = _gap(onnx.predict(probe.rows, probe.n), reference.predict(probe.rows, probe.n))
    except Exception as exc:  # not convertible or not installed: the numpy path serves
        log.info("runtime auto: not serving with ONNX Runtime (%s)", exc)
        return None
    if gap > ONNX_TOLERANCE:
        log.warning(
            "runtime auto: ONNX Runtime differs from the pipeline by %.3g on the probe "
            "instances (more than %g); serving with the %s runtime",
            gap,
            ONNX_TOLERANCE,
            reference.runtime,
        )
        return None
    return onnx


def _gap(got: Predictions, want: Predictions) -> float:
    """The largest difference: of probabilities (absolute), or of regression predictions
    (relative); infinite when the shapes differ."""
    import numpy as np

    if want.probabilities is None or got.probabilities is None:
        a = np.asarray(got.predictions, dtype=float)
        b = np.asarray(want.predictions, dtype=float)
        scale = np.maximum(np.abs(b), 1.0)
    else:
        a = np.asarray([list(p.values()) for p in got.probabilities], dtype=float)
        b = np.asarray([list(p.values()) for p in want.probabilities], dtype=float)
        scale = np.ones_like(b)
    if a.shape != b.shape:
        return float("inf")
    return float(np.nanmax(np.abs(a - b) / scale, initial=0.0))
