"""What every route shares: the service state, JSON in and out, and errors as responses."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from loopml.serving._contract import FieldProblem, PredictionSink
from loopml.serving._deps import KeyCheck, ServiceSettings
from loopml.serving._holder import ModelHolder
from loopml.serving._metrics import ServiceMetrics

if TYPE_CHECKING:
    from loopml.serving._variants import ChallengerRoute, ShadowRunner

JSON = "application/json"
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


@dataclass
class ServiceState:
    """One app's live parts, reached from a request as ``request.app.state.loopml``."""

    settings: ServiceSettings
    holder: ModelHolder
    metrics: ServiceMetrics
    keys: KeyCheck
    sink: PredictionSink | None = None
    openapi_cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: a file the workers of one server watch: touched by /v1/admin/reload on any of them
    reload_signal: Path | None = None
    #: the online comparison (serving.challenger); None when it is off: no cost then
    challenger: ChallengerRoute | None = None
    #: runs the challenger's shadow predictions off the request path (shadow mode only)
    shadow: ShadowRunner | None = None

    def signal_reload(self) -> None:
        """Tell the other workers to check the registry now."""
        if self.reload_signal is not None:
            self.reload_signal.write_text(str(time.time()), encoding="utf-8")


class HttpProblem(Exception):
    """A request the service refuses: becomes ``{"error": message, "detail": [...]}``."""

    def __init__(
        self,
        status: int,
        message: str,
        detail: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = list(detail)
        self.headers = headers or {}


def state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.loopml
    return state


def request_id_of(request: Request) -> str:
    return str(request.scope.get("loopml.request_id", ""))


def json_response(
    payload: Any, status: int = 200, background: Any = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(payload, option=_DUMP_OPTIONS),
        status_code=status,
        media_type=JSON,
        background=background,
        headers=headers,
    )


def problem_response(problem: HttpProblem, rid: str) -> Response:
    body: dict[str, Any] = {"error": problem.message}
    if problem.detail:
        body["detail"] = problem.detail
    body["request_id"] = rid
    return json_response(body, problem.status, headers=problem.headers)


def field_problems(problems: Sequence[FieldProblem]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in problems]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(int(length), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> HttpProblem:
    return HttpProblem(
        413,
        f"the request body has {size} bytes or more; this server accepts at most {limit} "
        "(serving.limits.max_body_bytes). Send fewer instances per request, or raise the "
        "limit in loopml.yaml.",
    )


def parse_json(body: bytes) -> Any:
    """The body as JSON, or a 400 saying where it stops being JSON."""
    if not body.strip():
        raise HttpProblem(
            400, 'the request body is empty; send JSON such as {"instances": [{...}]}.'
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpProblem(
            400,
            f"the request body is not valid JSON: {exc}. Send a JSON object with "
            'Content-Type: application/json, e.g. {"instances": [{"age": 42}]}.',
        ) from None
