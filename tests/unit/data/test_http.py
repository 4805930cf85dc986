"""loopml.data._http against a real HTTP server on 127.0.0.1 that this test starts."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from loopml.config import DataConfig, HttpSource
from loopml.data import collect
from loopml.data._http import load_http
from loopml.errors import DataError

CUSTOMERS = [
    {"id": i, "name": f"c{i}", "address": {"city": "Oslo" if i % 2 else "Rome"}}
    for i in range(1, 8)
]

Reply = tuple[int, dict[str, str], Any]  # status, headers, body (JSON-encoded unless bytes)
Route = Callable[[dict[str, str], dict[str, str]], Reply]


class Api:
    """Routes by path; each route gets the query and the request headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.base = ""

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            route = state.routes.get(parts.path)
            if route is None:
                status, headers, body = 404, {}, {"error": f"no route {parts.path}"}
            else:
                status, headers, body = route(query, dict(self.headers))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
                pass

        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class Sleeps(list[float]):
    """A stand-in for time.sleep that records the waits."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def http(url: str, **fields: Any) -> HttpSource:
    return HttpSource.model_validate({"type": "http", "url": url, **fields})


def page_route(size_default: int = 3, param: str = "page", offset: bool = False) -> Route:
    def route(query: dict[str, str], headers: dict[str, str]) -> Reply:
        size = int(query.get("limit", size_default))
        position = int(query.get(param, 0))
        start = position if offset else position * size
        return 200, {}, {"data": CUSTOMERS[start : start + size]}

    return route


# --------------------------------------------------------------------------------------------
# pages


def test_single_response_body_is_the_list(api: Api) -> None:
    api.routes["/customers"] = lambda q, h: (200, {}, CUSTOMERS[:2])
    data = load_http(http(api.url("/customers")), env={})
    assert data.frame.to_dict("list") == {
        "id": [1, 2],
        "name": ["c1", "c2"],
        "address.city": ["Oslo", "Rome"],
    }
    assert data.origin == f"http:{api.url('/customers')}"


def test_next_link_with_relative_and_absolute_links(api: Api) -> None:
    def route(query: dict[str, str], headers: dict[str, str]) -> Reply:
        cursor = int(query.get("cursor", 0))
        links: dict[str, Any] = {"next": None}
        if cursor == 0:
            links["next"] = "/customers?cursor=3"  # relative to the server
        elif cursor == 3:
            links["next"] = api.url("/customers?cursor=6")  # absolute
        return 200, {}, {"results": CUSTOMERS[cursor : cursor + 3], "links": links}

    api.routes["/customers"] = route
    source = http(
        api.url("/customers"),
        params={"region": "eu"},
        records_path="results",
        pagination={"style": "next_link", "next_path": "links.next"},
    )
    data = load_http(source, env={})
    assert data.frame["id"].tolist() == list(range(1, 8))
    assert api.requests == ["/customers?region=eu", "/customers?cursor=3", "/customers?cursor=6"]


def test_next_link_cycle(api: Api) -> None:
    api.routes["/c"] = lambda q, h: (200, {}, {"data": [{"x": 1}], "next": "/c"})
    source = http(api.url("/c"), records_path="data", pagination={"style": "next_link"})
    with pytest.raises(
        DataError, match=r"the next-page link leads back to .*/c, a page already read"
    ):
        load_http(source, env={})


def test_page_style_stops_on_a_short_page(api: Api) -> None:
    api.routes["/customers"] = page_route()
    source = http(
        api.url("/customers"),
        records_path="data",
        pagination={"style": "page", "page_size": 3, "start": 0},
    )
    data = load_http(source, env={})
    assert data.frame["id"].tolist() == list(range(1, 8))
    assert api.requests == [
        "/customers?page=0&limit=3",
        "/customers?page=1&limit=3",
        "/customers?page=2&limit=3",
    ]


def test_page_style_stops_on_an_empty_page(api: Api) -> None:
    api.routes["/customers"] = page_route(size_default=7, param="p")
    source = http(
        api.url("/customers"),
        records_path="data",
        pagination={"style": "page", "page_param": "p", "size_param": None, "start": 0},
    )
    data = load_http(source, env={})
    assert data.n_rows == 7
    assert api.requests == ["/customers?p=0", "/customers?p=1"]


def test_offset_style(api: Api) -> None:
    api.routes["/customers"] = page_route(param="offset", offset=True)
    source = http(
        api.url("/customers"),
        records_path="data",
        pagination={"style": "offset", "page_size": 4},
    )
    data = load_http(source, env={})
    assert data.frame["id"].tolist() == list(range(1, 8))
    assert api.requests == ["/customers?offset=0&limit=4", "/customers?offset=4&limit=4"]


def test_max_pages_guard(api: Api) -> None:
    api.routes["/c"] = lambda q, h: (200, {}, {"data": [{"p": q["page"]}], "next": None})
    source = http(
        api.url("/c"),
        records_path="data",
        pagination={"style": "page", "size_param": None, "page_size": 1, "max_pages": 3},
    )
    expected = (
        f"GET {api.url('/c')}: stopped after 3 pages (data.source.pagination.max_pages) and the "
        "API still had more."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}"):
        load_http(source, env={})
    assert len(api.requests) == 3


def test_api_ignoring_the_page_parameter(api: Api) -> None:
    api.routes["/c"] = lambda q, h: (200, {}, [{"x": 1}, {"x": 2}])
    source = http(api.url("/c"), pagination={"style": "page", "page_size": 2})
    with pytest.raises(DataError, match=r"returned the same records as the page before"):
        load_http(source, env={})


def test_headers_and_headers_from_env(api: Api) -> None:
    seen: dict[str, str] = {}

    def route(query: dict[str, str], headers: dict[str, str]) -> Reply:
        seen.update(headers)
        return 200, {}, [{"x": 1}]

    api.routes["/c"] = route
    source = http(
        api.url("/c"),
        headers={"Accept": "application/json"},
        headers_env={"Authorization": "API_TOKEN"},
    )
    load_http(source, env={"API_TOKEN": "Bearer t0ken"})
    assert seen["Authorization"] == "Bearer t0ken"
    assert seen["Accept"] == "application/json"


def test_missing_header_env_var(api: Api) -> None:
    source = http(api.url("/c"), headers_env={"Authorization": "API_TOKEN"})
    expected = (
        "environment variable API_TOKEN is not set; data.source.headers_env.Authorization names "
        "it to hold the Authorization header."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}"):
        load_http(source, env={})
    assert api.requests == []


# --------------------------------------------------------------------------------------------
# retries


def flaky(failures: list[Reply], then: Any) -> Route:
    """Answer each failure once, in order, then ``then``."""
    queue = list(failures)

    def route(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return queue.pop(0) if queue else (200, {}, then)

    return route


def test_retries_500_and_429_then_succeeds(api: Api) -> None:
    api.routes["/c"] = flaky(
        [(500, {}, {"e": 1}), (429, {"Retry-After": "2"}, b""), (503, {}, b"busy")],
        [{"x": 1}],
    )
    sleeps = Sleeps()
    data = load_http(http(api.url("/c"), backoff_seconds=0.5), env={}, sleep=sleeps)
    assert data.frame["x"].tolist() == [1]
    assert sleeps == [0.5, 2.0, 2.0]  # backoff, Retry-After, backoff doubled twice
    assert len(api.requests) == 4


def test_retry_after_is_capped(api: Api) -> None:
    api.routes["/c"] = flaky([(429, {"Retry-After": "3600"}, b"")], [{"x": 1}])
    sleeps = Sleeps()
    load_http(http(api.url("/c")), env={}, sleep=sleeps)
    assert sleeps == [60.0]


def test_500_forever_fails_after_the_last_retry(api: Api) -> None:
    api.routes["/customers"] = lambda q, h: (500, {}, {"error": "database down"})
    source = http(
        api.url("/customers"),
        records_path="data",
        pagination={"style": "page", "start": 3, "size_param": None},
    )
    sleeps = Sleeps()
    expected = (
        f"GET {api.url('/customers')}?page=3 failed after 4 attempts: HTTP 500 Internal Server "
        'Error: {"error": "database down"}. Check the service, or raise data.source.retries '
        "(now 3)."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_http(source, env={}, sleep=sleeps)
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(api.requests) == 4


def test_timeout_fails_after_retries(api: Api) -> None:
    def slow(query: dict[str, str], headers: dict[str, str]) -> Reply:
        time.sleep(1.0)
        return 200, {}, [{"x": 1}]

    api.routes["/slow"] = slow
    source = http(api.url("/slow"), timeout_seconds=0.2, retries=1)
    expected = (
        f"GET {api.url('/slow')} failed after 2 attempts: timed out after 0.2 s (ReadTimeout). "
        "Check the service, or raise data.source.retries (now 1), or data.source.timeout_seconds "
        "(now 0.2)."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_http(source, env={}, sleep=Sleeps())


def test_refused_connection_is_retried_then_fails(api: Api) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(
        DataError, match=r"failed after 3 attempts: ConnectError: .*Check the service"
    ):
        load_http(http(f"http://127.0.0.1:{port}/c", retries=2), env={}, sleep=sleeps)
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (404, "Check data.source.url."),
        (401, "Check the credentials sent in data.source.headers / data.source.headers_env."),
        (400, "Check data.source.url and data.source.params."),
    ],
)
def test_client_errors_fail_at_once(api: Api, status: int, hint: str) -> None:
    api.routes["/c"] = lambda q, h: (status, {}, {"detail": "nope " * 100})
    sleeps = Sleeps()
    with pytest.raises(
        DataError, match=rf"^GET {re.escape(api.url('/c'))} failed: HTTP {status} "
    ) as info:
        load_http(http(api.url("/c")), env={}, sleep=sleeps)
    message = str(info.value)
    assert message.endswith(hint)
    assert '{"detail": "nope nope' in message
    assert len(message) < 400  # a snippet of the body, not all of it
    assert sleeps == []
    assert len(api.requests) == 1


def test_unknown_path_404(api: Api) -> None:
    with pytest.raises(
        DataError, match=r"failed: HTTP 404 Not Found: \{\"error\": \"no route /x\"\}"
    ):
        load_http(http(api.url("/x")), env={}, sleep=Sleeps())


# --------------------------------------------------------------------------------------------
# bodies


def test_body_that_is_not_json(api: Api) -> None:
    api.routes["/c"] = lambda q, h: (200, {"Content-Type": "text/html"}, b"<html>hi</html>")
    with pytest.raises(
        DataError, match=r"answered HTTP 200 but the body is not JSON \(text/html\): <html>"
    ):
        load_http(http(api.url("/c")), env={})


def test_object_body_without_records_path(api: Api) -> None:
    api.routes["/c"] = lambda q, h: (200, {}, {"items": [{"x": 1}], "count": 1})
    with pytest.raises(
        DataError,
        match=r"is a JSON object, not a list of records\. Set data\.source\.records_path to the "
        r"key holding the records \(lists at: items\)\.",
    ):
        load_http(http(api.url("/c")), env={})


def test_wrong_records_path(api: Api) -> None:
    api.routes["/c"] = lambda q, h: (200, {}, {"items": []})
    with pytest.raises(
        DataError,
        match=r"the response has no 'data' \(data\.source\.records_path\); its top-level keys "
        r"are \['items'\]",
    ):
        load_http(http(api.url("/c"), records_path="data"), env={})


def test_records_that_are_not_objects(api: Api) -> None:
    api.routes["/c"] = lambda q, h: (200, {}, [1, 2])
    with pytest.raises(DataError, match=r"record 1 is a JSON int \(1\), not an object"):
        load_http(http(api.url("/c")), env={})


def test_collect_http_source_with_incremental_filter(api: Api, tmp_path: Path) -> None:
    api.routes["/c"] = lambda q, h: (200, {}, CUSTOMERS)
    cfg = DataConfig.model_validate(
        {
            "source": {"type": "http", "url": api.url("/c")},
            "incremental": {"column": "id"},
        }
    )
    data = collect(cfg, tmp_path, since=5)
    assert data.frame["id"].tolist() == [6, 7]
    assert data.watermark == 7


def test_collect_http_empty_response_is_an_error(api: Api, tmp_path: Path) -> None:
    api.routes["/c"] = lambda q, h: (200, {}, [])
    cfg = DataConfig.model_validate({"source": {"type": "http", "url": api.url("/c")}})
    with pytest.raises(DataError, match=r"^http:http://127\.0\.0\.1:\d+/c returned no rows"):
        collect(cfg, tmp_path)
