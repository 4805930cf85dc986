"""What the service is configured with, and the checks every request goes through first."""

from __future__ import annotations

import hmac
import json
import os
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from loopml.config import ProjectConfig
from loopml.errors import ConfigError

#: Hosts that only this machine can reach: serving there without an API key is allowed.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: Paths anyone may call, key or not: load balancers and Prometheus do not send one.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/ready", "/v2/health/live"})
ADMIN_PREFIX = "/v1/admin/"


#: Where ``loopml monitor`` writes its latest gauges, inside the workspace (``.loopml``).
MONITORING_STATUS = "monitoring/status.json"


@dataclass(frozen=True)
class ServiceSettings:
    """Everything a worker needs to build its app; JSON-serialisable, so a worker started
    by uvicorn gets the same settings as the process that started it."""

    tracking_uri: str
    model_name: str
    artifact_root: str
    experiment: str = ""
    project_root: str = "."
    model: str = "champion"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    runtime: Literal["auto", "onnx", "python", "frame"] = "auto"
    api_key_env: str | None = None
    extra_columns: Literal["ignore", "reject"] = "ignore"
    max_body_bytes: int = 1_048_576
    max_instances: int = 1000
    reload_poll_seconds: float = 5.0
    prediction_log: Mapping[str, Any] = field(default_factory=dict)
    # the gauges `loopml monitor` last wrote (exported on /metrics when the file exists)
    monitoring_status: str | None = None
    # the online comparison (serving.challenger): off, ab or shadow
    challenger_mode: Literal["off", "ab", "shadow"] = "off"
    challenger_fraction: float = 0.1
    challenger_sticky_column: str | None = None
    challenger_ref: str = "challenger"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServiceSettings:
        return cls(**json.loads(text))

    def api_key(self, env: Mapping[str, str]) -> str | None:
        """The API key from the environment variable ``api_key_env`` names (None: no auth).

        Raises
        ------
        ConfigError
            ``api_key_env`` is set but the variable is empty or absent.
        """
        if not self.api_key_env:
            return None
        key = env.get(self.api_key_env, "")
        if not key:
            raise ConfigError(
                f"serving.api_key_env names the environment variable {self.api_key_env!r}, "
                "which is not set or empty. Export it with the API key (e.g. "
                f"`export {self.api_key_env}=$(openssl rand -hex 32)`) and start again."
            )
        return key

    def check_exposure(self, env: Mapping[str, str]) -> None:
        """Refuse to listen beyond this machine without an API key.

        Raises
        ------
        ConfigError
            ``host`` is not a loopback address and no API key is configured.
        """
        key = self.api_key(env)
        if key is None and self.host not in LOCAL_HOSTS:
            raise ConfigError(
                f"refusing to serve on {self.host} without an API key: anyone who can reach "
                "this address could predict and reload models. Set serving.api_key_env in "
                "loopml.yaml to the name of an environment variable holding a key (clients "
                "then send `Authorization: Bearer <key>`), or serve on --host 127.0.0.1."
            )


def service_settings(
    config: ProjectConfig,
    *,
    tracking_uri: str,
    workspace: Path,
    overrides: Mapping[str, Any] | None = None,
) -> ServiceSettings:
    """The settings of ``loopml serve``: the ``serving:`` section, then the flags given
    (``overrides``: model, host, port, workers, runtime, challenger, challenger_fraction;
    None values are not given)."""
    serving = config.serving
    log_cfg = serving.prediction_log.model_dump()
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    return ServiceSettings(
        tracking_uri=tracking_uri,
        model_name=config.model_name,
        experiment=config.experiment_name,
        project_root=str(workspace.parent),
        artifact_root=str(workspace / "artifacts"),
        monitoring_status=str(workspace / MONITORING_STATUS),
        model=str(given.get("model", "champion")),
        host=given.get("host", serving.host),
        port=int(given.get("port", serving.port)),
        workers=int(given.get("workers", serving.workers)),
        runtime=given.get("runtime", serving.runtime),
        api_key_env=serving.api_key_env,
        extra_columns=serving.extra_columns,
        max_body_bytes=serving.limits.max_body_bytes,
        max_instances=serving.limits.max_instances,
        reload_poll_seconds=serving.reload_poll_seconds,
        prediction_log=log_cfg,
        challenger_mode=given.get("challenger", serving.challenger.mode),
        challenger_fraction=float(given.get("challenger_fraction", serving.challenger.fraction)),
        challenger_sticky_column=serving.challenger.sticky_column,
    )


class _IdSource:
    """128 random bits as 32 hex digits, like ``uuid4().hex``, from a generator seeded by
    the OS once per process: ``uuid4`` reads the OS's random source on every call, measured
    at 0.1 ms here, half the cost of an empty endpoint."""

    def __init__(self) -> None:
        self._pid = -1
        self._random = random.Random()

    def new(self) -> str:
        if os.getpid() != self._pid:  # a forked worker must not repeat its parent's ids
            self._pid = os.getpid()
            self._random.seed(os.urandom(32))
        return f"{self._random.getrandbits(128):032x}"


_ids = _IdSource()


def request_id(header: bytes | None) -> str:
    """The caller's ``X-Request-ID`` when it is usable, else a new one."""
    if header:
        text = header.decode("latin-1").strip()
        if 0 < len(text) <= 128 and text.isprintable():
            return text
    return _ids.new()


def instance_ids(rid: str, n: int) -> list[str]:
    """One id per instance: the request's id, then ``<id>-1``, ``<id>-2``, ..."""
    return [rid] + [f"{rid}-{i}" for i in range(1, n)]


class KeyCheck:
    """Bearer-key checks: ``None`` when the request may pass, else why not (a 401/403)."""

    def __init__(self, key: str | None):
        self._expected = f"Bearer {key}".encode() if key else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def problem(self, path: str, authorization: bytes | None) -> tuple[int, str] | None:
        if path in OPEN_PATHS:
            return None
        if self._expected is None:
            if path.startswith(ADMIN_PREFIX):
                return 403, (
                    "the admin endpoints need an API key, and this server has none. Set "
                    "serving.api_key_env in loopml.yaml to an environment variable holding a "
                    "key, restart, and send `Authorization: Bearer <key>`."
                )
            return None
        if authorization is None:
            return 401, "this endpoint needs `Authorization: Bearer <key>`; none was sent."
        if not hmac.compare_digest(authorization, self._expected):
            return 401, "the API key sent in `Authorization: Bearer <key>` is not valid."
        return None


def environ() -> dict[str, str]:
    """The process environment, read at the edge (the worker factory and the CLI)."""
    return dict(os.environ)
