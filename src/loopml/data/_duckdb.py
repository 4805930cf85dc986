"""DuckDB SQL over local files: ``select * from read_parquet('data/*.parquet')``.

Each load runs in a fresh in-memory DuckDB connection. Relative paths in the query are looked
up in the project directory (DuckDB's ``file_search_path``); DuckDB looks in the current
directory first, so run from the project directory or use paths that exist only there.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import duckdb

from loopml.config import DuckDbSource
from loopml.data._sources import fingerprint
from loopml.errors import DataError
from loopml.types import DataSet

log = logging.getLogger(__name__)


def load_duckdb(
    source: DuckDbSource,
    base_dir: Path,
    *,
    key: str = "data.source",
    newer_than: tuple[str, Any] | None = None,
) -> DataSet:
    """Run ``source.query`` with ``source.params`` bound (``$name`` in the query).

    ``newer_than=(column, value)`` wraps the query in ``WHERE column > $loopml_since``.
    """
    query = re.sub(r"[\s;]+$", "", source.query)
    params: dict[str, Any] = dict(source.params)
    if newer_than is not None:
        column, value = newer_than
        quoted = '"' + column.replace('"', '""') + '"'
        query = f"SELECT * FROM ({query}) AS loopml_source WHERE {quoted} > $loopml_since"
        params["loopml_since"] = value
    conn = duckdb.connect(":memory:")
    try:
        search_path = str(base_dir.resolve()).replace("'", "''")
        conn.execute(f"SET file_search_path = '{search_path}'")
        try:
            result = conn.execute(query, params) if params else conn.execute(query)
            frame = result.df()
        except duckdb.Error as exc:
            hint = ""
            if newer_than is not None:
                hint = (
                    f" The rows are filtered on data.incremental.column {newer_than[0]!r}, which "
                    "must be a column the query returns."
                )
            bound = f" with params {sorted(source.params)}" if source.params else ""
            message = " ".join(str(exc).split())
            raise DataError(
                f"the DuckDB query{bound} failed ({key}.query): {message}.{hint}\n"
                f"query: {_one_line(source.query, 500)}\n"
                f"Fix {key}.query (relative paths are read from {base_dir}; bind values as "
                f"$name with {key}.params)."
            ) from exc
    finally:
        conn.close()
    origin = f"duckdb:{_one_line(source.query)}"
    log.info("loaded %d rows x %d columns from %s", len(frame), frame.shape[1], origin)
    return DataSet(frame=frame, fingerprint=fingerprint(frame), origin=origin)


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
