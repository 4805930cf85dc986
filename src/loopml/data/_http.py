"""HTTP JSON APIs: records from every page, retries with backoff, a clear error at the end.

Pagination styles (``pagination.style``):

- ``none``: one request.
- ``next_link``: the body holds the next page's URL at ``next_path`` (relative URLs resolve
  against the current one); stops when it is missing, null or empty.
- ``page``: ``page_param`` counts up from ``start``; ``offset``: ``offset_param`` moves on by
  the records received. Both send ``size_param=page_size`` (when ``size_param`` is set) and stop
  on an empty page or a short one.

429 and 5xx answers, timeouts and connection failures are retried ``retries`` times, waiting
``backoff_seconds * 2**n`` (or the server's ``Retry-After``), each wait capped at a minute.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import httpx

from loopml.config import HttpSource
from loopml.data._sources import MISSING, dig, fingerprint, records_frame
from loopml.errors import DataError
from loopml.types import DataSet

log = logging.getLogger(__name__)

#: The longest wait between two attempts, whatever Retry-After or the backoff say.
MAX_DELAY_SECONDS = 60.0
_SNIPPET = 200


def load_http(
    source: HttpSource,
    *,
    env: Mapping[str, str],
    key: str = "data.source",
    sleep: Callable[[float], None] = time.sleep,
) -> DataSet:
    """GET every page of ``source.url`` and stack the records into one frame.

    Nested objects become dotted columns (``address.city``). Header values named in
    ``headers_env`` come from ``env``; they never appear in messages or logs.
    """
    headers = dict(source.headers)
    for header, variable in source.headers_env.items():
        value = env.get(variable)
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise DataError(
                f"environment variable {variable} {state}; {key}.headers_env.{header} names it "
                f"to hold the {header} header. Set it before running (export {variable}=...), "
                f"or fix {key}.headers_env."
            )
        headers[header] = value
    with httpx.Client(
        timeout=source.timeout_seconds, headers=headers, follow_redirects=True
    ) as client:
        fetcher = _Fetcher(client, source, key, sleep)
        records = _paginate(fetcher, source, key)
    origin = f"http:{source.url}"
    frame = records_frame(records, f"the records of {origin}")
    log.info("loaded %d rows x %d columns from %s", len(frame), frame.shape[1], origin)
    return DataSet(frame=frame, fingerprint=fingerprint(frame), origin=origin)


class _Fetcher:
    """GET with retries; returns the decoded JSON body and the URL actually requested."""

    def __init__(
        self,
        client: httpx.Client,
        source: HttpSource,
        key: str,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.source = source
        self.key = key
        self.sleep = sleep

    def get(self, url: str, params: Mapping[str, Any] | None) -> tuple[Any, str]:
        source, key = self.source, self.key
        request = self.client.build_request("GET", url, params=_params(params))
        shown = str(request.url)
        attempts = source.retries + 1
        failure = ""
        timed_out = False
        for attempt in range(1, attempts + 1):
            delay = min(source.backoff_seconds * 2 ** (attempt - 1), MAX_DELAY_SECONDS)
            try:
                response = self.client.send(request)
            except httpx.TimeoutException as exc:
                timed_out = True
                failure = f"timed out after {source.timeout_seconds:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 429 or status >= 500:
                    failure = f"HTTP {status} {response.reason_phrase}{_snippet(response)}"
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    if retry_after is not None:
                        delay = min(retry_after, MAX_DELAY_SECONDS)
                elif status >= 400:
                    raise DataError(
                        f"GET {shown} failed: HTTP {status} {response.reason_phrase}"
                        f"{_snippet(response)}. {_client_error_hint(status, key)}"
                    )
                else:
                    return _json(response, shown, key), shown
            if attempt < attempts:
                log.warning(
                    "GET %s: %s; retrying in %.2f s (attempt %d of %d)",
                    shown,
                    failure,
                    delay,
                    attempt,
                    attempts,
                )
                self.sleep(delay)
        tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
        raise_timeout = (
            f", or {key}.timeout_seconds (now {source.timeout_seconds:g})" if timed_out else ""
        )
        raise DataError(
            f"GET {shown} failed after {tries}: {failure}. Check the service, or raise "
            f"{key}.retries (now {source.retries}){raise_timeout}."
        )


def _paginate(fetcher: _Fetcher, source: HttpSource, key: str) -> list[Any]:
    pagination = source.pagination
    if pagination.style == "none":
        body, shown = fetcher.get(source.url, source.params)
        return _records(body, shown, source, key)
    if pagination.style == "next_link":
        return _follow_links(fetcher, source, key)
    return _count_pages(fetcher, source, key)


def _follow_links(fetcher: _Fetcher, source: HttpSource, key: str) -> list[Any]:
    pagination = source.pagination
    records: list[Any] = []
    url: str = source.url
    params: Mapping[str, Any] | None = source.params
    seen: set[str] = set()
    for _ in range(pagination.max_pages):
        body, shown = fetcher.get(url, params)
        seen.add(shown)
        records.extend(_records(body, shown, source, key))
        link = dig(body, pagination.next_path)
        if link is MISSING or link is None or link == "":
            return records
        if not isinstance(link, str):
            raise DataError(
                f"GET {shown}: the next-page link at {pagination.next_path!r} "
                f"({key}.pagination.next_path) is a {type(link).__name__}, not a URL. Point "
                "next_path at the URL of the next page."
            )
        url, params = urljoin(shown, link), None  # a next link carries its own query
        if url in seen:
            raise DataError(
                f"GET {shown}: the next-page link leads back to {url}, a page already read. "
                f"Check {key}.pagination.next_path, or the API's paging."
            )
    raise _too_many_pages(source, key)


def _count_pages(fetcher: _Fetcher, source: HttpSource, key: str) -> list[Any]:
    pagination = source.pagination
    by_page = pagination.style == "page"
    name = pagination.page_param if by_page else pagination.offset_param
    expected = pagination.page_size if pagination.size_param else None
    records: list[Any] = []
    previous: list[Any] | None = None
    position = pagination.start
    for _ in range(pagination.max_pages):
        params = {**source.params, name: position}
        if pagination.size_param:
            params[pagination.size_param] = pagination.page_size
        body, shown = fetcher.get(source.url, params)
        page = _records(body, shown, source, key)
        if not page:
            return records
        if page == previous:
            raise DataError(
                f"GET {shown} returned the same records as the page before: the API seems to "
                f"ignore the {name!r} parameter. Fix {key}.pagination (style, "
                f"{'page_param' if by_page else 'offset_param'})."
            )
        records.extend(page)
        expected = expected if expected is not None else len(page)
        if len(page) < expected:
            return records
        previous = page
        position += 1 if by_page else len(page)
    raise _too_many_pages(source, key)


def _too_many_pages(source: HttpSource, key: str) -> DataError:
    limit = source.pagination.max_pages
    return DataError(
        f"GET {source.url}: stopped after {limit} pages ({key}.pagination.max_pages) and the "
        f"API still had more. Raise {key}.pagination.max_pages, or check {key}.pagination "
        "if the pages never end."
    )


def _records(body: Any, shown: str, source: HttpSource, key: str) -> list[Any]:
    path = source.records_path
    found = dig(body, path)
    if found is MISSING:
        keys = sorted(map(str, body)) if isinstance(body, dict) else []
        raise DataError(
            f"GET {shown}: the response has no {path!r} ({key}.records_path); its top-level "
            f"keys are {keys}. Fix {key}.records_path."
        )
    if found is None:
        return []
    if isinstance(found, dict) and not path:
        candidates = [k for k, v in found.items() if isinstance(v, list)]
        hint = f" (lists at: {', '.join(map(str, candidates))})" if candidates else ""
        raise DataError(
            f"GET {shown}: the response is a JSON object, not a list of records. Set "
            f"{key}.records_path to the key holding the records{hint}."
        )
    if not isinstance(found, list):
        raise DataError(
            f"GET {shown}: {path or 'the response'} ({key}.records_path) is a "
            f"{type(found).__name__}, not a list of records. Fix {key}.records_path."
        )
    return found


def _json(response: httpx.Response, shown: str, key: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("content-type", "no content type")
        raise DataError(
            f"GET {shown} answered HTTP {response.status_code} but the body is not JSON "
            f"({kind}){_snippet(response)}. Check {key}.url."
        ) from exc


def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, bool):
            out[name] = str(value).lower()
        elif isinstance(value, list | tuple):
            out[name] = [str(v) for v in value]
        else:
            out[name] = value
    return out


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(response: httpx.Response) -> str:
    try:
        text = " ".join(response.text.split())
    except (UnicodeDecodeError, LookupError, httpx.ResponseNotRead):
        return ""
    if not text:
        return ""
    return ": " + (text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "...")


def _client_error_hint(status: int, key: str) -> str:
    if status in (401, 403):
        return f"Check the credentials sent in {key}.headers / {key}.headers_env."
    if status == 404:
        return f"Check {key}.url."
    return f"Check {key}.url and {key}.params."
