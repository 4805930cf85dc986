"""The data-source sections of ``loopml.yaml``: files, SQL, DuckDB, HTTP APIs, joins.

Re-exported by :mod:`loopml.config`, where user code imports them from
(``from loopml.config import FileSource``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Section(BaseModel):
    """Base of every section of the project file: unknown keys are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: Separators as they may be written in the project file or on the command line.
_SEPARATOR_NAMES = {"\\t": "\t", "tab": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}


def reader_options(options: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise CSV reader options: ``sep`` ('\\t' and 'tab' are a tab),
    ``decimal`` ('.' or ','), ``thousands`` (',', '.', ' ', "'", or empty/null for none).

    Raises
    ------
    ValueError
        Naming the option, the value and what is allowed.
    """
    out = dict(options)
    for name in ("sep", "delimiter"):
        if name in out:
            value = out[name]
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"options.{name} must be a separator such as ',', ';', '\\t' or '|', "
                    f"got {value!r}"
                )
            out[name] = _SEPARATOR_NAMES.get(value.lower(), value)
    if "decimal" in out and out["decimal"] not in (".", ","):
        raise ValueError(f"options.decimal must be '.' or ',', got {out['decimal']!r}")
    if "thousands" in out:
        value = "" if out["thousands"] is None else out["thousands"]
        if value not in ("", ",", ".", " ", "'"):
            raise ValueError(
                "options.thousands must be ',', '.', ' ', \"'\" or empty for none, "
                f"got {out['thousands']!r}"
            )
        if value and value == out.get("decimal"):
            raise ValueError(f"options.decimal and options.thousands are both {value!r}")
        out["thousands"] = value
    return out


class FileSource(Section):
    """CSV, Parquet, JSON or JSON-lines files: one path or a glob, relative to the project.

    ``options`` go to the reader (pandas); for CSV files ``sep``, ``decimal`` and
    ``thousands`` are sniffed from the file when not given here.
    """

    type: Literal["csv", "parquet", "json", "jsonl"]
    path: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _reader_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        return reader_options(value)


class SqlSource(Section):
    """A table or a query through SQLAlchemy (SQLite, PostgreSQL, ...).

    Credentials never live in the file: ``url`` carries no password; ``username_env`` and
    ``password_env`` name environment variables, or ``url_env`` names one holding the URL.
    """

    type: Literal["sql"]
    url: str | None = None
    url_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    table: str | None = None
    query: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> SqlSource:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        if self.url is not None and _has_password(self.url):
            raise ValueError(
                "url must not contain a password; put it in an environment variable and name "
                "it in password_env (or the whole URL in url_env)"
            )
        if self.params and self.table is not None:
            raise ValueError("params apply to a query, not to a table")
        return self


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password is not None
    except (ArgumentError, ValueError):
        # unparseable: fall back to looking for user:secret@ before the host
        return re.match(r"^[^:/]+(\+[^:/]+)?://[^/@]*:.*@", url) is not None


class DuckDbSource(Section):
    """DuckDB SQL over local files, e.g. ``select * from read_parquet('data/*.parquet')``.

    Relative paths in the query are resolved against the project directory.
    """

    type: Literal["duckdb"]
    query: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class Pagination(Section):
    style: Literal["none", "next_link", "page", "offset"] = "none"
    next_path: str = "next"  # next_link: dotted path of the next URL in the response body
    page_param: str = "page"  # page: the page number parameter
    offset_param: str = "offset"  # offset: the offset parameter
    size_param: str | None = "limit"  # page/offset: the page size parameter
    page_size: int = Field(default=100, ge=1)
    start: int = 0  # first page number or offset
    max_pages: int = Field(default=10_000, ge=1)


class HttpSource(Section):
    """A JSON API: records at ``records_path`` of each response, pages followed as declared."""

    type: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="header name -> environment variable with its value"
    )
    records_path: str = ""  # dotted path to the list of records; "" when the body is the list
    pagination: Pagination = Field(default_factory=Pagination)
    timeout_seconds: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0, le=20)
    backoff_seconds: float = Field(default=0.5, ge=0)


Source = Annotated[FileSource | SqlSource | DuckDbSource | HttpSource, Field(discriminator="type")]


class Join(Section):
    """Another source joined onto the main one on key columns."""

    source: Source
    on: list[str] = Field(min_length=1)
    how: Literal["left", "inner"] = "left"
    relationship: Literal["many_to_one", "one_to_one"] = "many_to_one"
    suffix: str = "_right"


class Incremental(Section):
    """Load only rows newer than the last successful run, by ``column``."""

    column: str = Field(min_length=1)
