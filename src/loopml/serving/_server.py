"""Running the service under uvicorn, with one or several worker processes.

The process that runs ``loopml serve`` checks the settings, then hands them to every worker
through one environment variable (JSON); each worker builds its own app from them
(:func:`worker_app`). With several workers, Prometheus' multi-process directory and the
admin reload signal live in one temporary directory, removed at exit.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.errors import ConfigError
from loopml.serving._contract import PredictionSink
from loopml.serving._deps import ServiceSettings
from loopml.serving._metrics import MULTIPROC_ENV

if TYPE_CHECKING:
    from loopml.registry import Registry
    from loopml.serving._holder import ModelSource

log = logging.getLogger(__name__)

SETTINGS_ENV = "LOOPML_SERVE_SETTINGS"
SIGNAL_ENV = "LOOPML_SERVE_SIGNAL"


def run(settings: ServiceSettings, env: Mapping[str, str]) -> None:
    """Serve until interrupted.

    Raises
    ------
    ConfigError
        Bound beyond localhost without an API key, or the key's variable is empty.
    """
    import uvicorn

    settings.check_exposure(env)
    make_sink(settings).close()  # an unreachable prediction log: a clear error, now
    version = model_source(settings).resolve(settings.model)  # no model: the same
    log.info("serving %s version %s (%s)", settings.model_name, version, settings.model)
    shared = Path(tempfile.mkdtemp(prefix="loopml-serve-"))
    os.environ[SETTINGS_ENV] = settings.to_json()
    os.environ[SIGNAL_ENV] = str(shared / "reload")
    if settings.workers > 1:
        metrics_dir = shared / "metrics"
        metrics_dir.mkdir()
        os.environ[MULTIPROC_ENV] = str(metrics_dir)
    try:
        uvicorn.run(
            "loopml.serving._server:worker_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            access_log=False,
            log_level="info",
            timeout_graceful_shutdown=10,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port}: {exc}. Choose another "
            "--port (or serving.port), or stop what uses it."
        ) from exc
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def worker_app() -> Any:
    """The app of one uvicorn worker, from the settings the parent process left in the
    environment (uvicorn's ``factory=True``)."""
    from loopml.serving.app import create_app

    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise ConfigError(
            f"{SETTINGS_ENV} is not set: start the service with `loopml serve`, which sets it."
        )
    settings = ServiceSettings.from_json(text)
    signal = os.environ.get(SIGNAL_ENV)
    return create_app(
        settings,
        model_source(settings),
        sink=make_sink(settings),
        api_key=settings.api_key(os.environ),
        reload_signal=Path(signal) if signal else None,
    )


def model_source(settings: ServiceSettings) -> ModelSource:
    """The registry, or the bundle directory ``--model`` names (an exported image's model)."""
    from loopml.serving._holder import BundleDirectorySource, RegistryModelSource

    if Path(settings.model).is_dir():
        return BundleDirectorySource(Path(settings.model), settings.runtime, settings.extra_columns)
    return RegistryModelSource(_registry(settings), settings.runtime, settings.extra_columns)


def _registry(settings: ServiceSettings) -> Registry:
    from loopml.registry import Registry

    return Registry(
        uri=settings.tracking_uri,
        experiment=settings.experiment or settings.model_name,
        model_name=settings.model_name,
        artifact_root=Path(settings.artifact_root),
    )


def make_sink(settings: ServiceSettings) -> PredictionSink:
    """The prediction log the settings name (SQLite in the workspace by default)."""
    from loopml.serving._predlog import PredictionLog

    cfg = dict(settings.prediction_log)
    return PredictionLog(
        cfg.get("url", "sqlite:///.loopml/predictions.db"),
        base_dir=settings.project_root,
        mode=cfg.get("mode", "async"),
        batch_size=int(cfg.get("batch_size", 256)),
        queue_size=int(cfg.get("queue_size", 10_000)),
        flush_seconds=float(cfg.get("flush_seconds", 1.0)),
    )
