"""Batch scoring of CSV and Parquet files in chunks, so memory stays flat for any file size."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:  # Parquet support loads when a Parquet file is read or written
    import pyarrow.parquet as pq

from loopml.data import CsvDialect, file_kind, read_header
from loopml.errors import DataError
from loopml.registry import ModelBundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringSummary:
    """What a batch scoring run did, including the input problems it scored through."""

    input: str
    output: str
    rows: int
    chunks: int
    seconds: float
    model_version: str
    issues: dict[str, dict[str, int]] = field(default_factory=dict)
    prediction_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "rows": self.rows,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "model_version": self.model_version,
            "issues": self.issues,
            "prediction_counts": self.prediction_counts,
        }


def _chunks(path: Path, kind: str, chunk_rows: int, dialect: CsvDialect) -> Iterator[pd.DataFrame]:
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            reader = pq.ParquetFile(path)
            for batch in reader.iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        else:
            yield from dialect.chunks(path, chunk_rows)
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {path}: {exc}. Fix the file and retry.") from exc


def score_file(
    bundle: ModelBundle,
    input_path: Path,
    output_path: Path,
    *,
    model_version: str = "",
    chunk_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    dialect: CsvDialect | None = None,
) -> ScoringSummary:
    """Score ``input_path`` into ``output_path`` (CSV or Parquet, by extension).

    Id columns the model was trained with are copied to the output when present. The output
    appears only when every chunk was scored (written to a temporary file, then renamed).
    ``transform`` is applied to each chunk first (the privacy policy the model was trained
    under, so personal data is dropped or hashed before scoring and in the output).
    ``dialect`` is how a CSV input is written (separator, decimal mark, thousands separator;
    default: comma, dot, comma).

    Raises
    ------
    DataError
        The input is missing, unreadable, or lacks a column the model needs (checked before
        any output is written).
    """
    started = time.monotonic()
    if not input_path.is_file():
        raise DataError(f"input file {input_path} not found.")
    in_kind = file_kind(input_path)
    out_kind = file_kind(output_path)
    dialect = dialect or CsvDialect()
    columns = read_header(input_path, dialect)
    bundle.schema.check(columns, where=f"input file {input_path}")
    keep = [c for c in bundle.id_columns if c in columns]

    output_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=output_path.parent, prefix=f".{output_path.name}.", suffix=".part"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    rows = chunks = 0
    issues: dict[str, dict[str, int]] = {}
    counts: dict[str, int] = {}
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in _chunks(input_path, in_kind, chunk_rows, dialect):
            if chunk.empty:
                continue
            if transform is not None:
                chunk = transform(chunk)
            scored = bundle.predict_frame(chunk)
            for col, found in bundle.schema.inspect(chunk).items():
                slot = issues.setdefault(col, {})
                for key, n in found.items():
                    slot[key] = slot.get(key, 0) + n
            if bundle.problem.is_classification:
                for label, n in scored["prediction"].astype(str).value_counts().items():
                    counts[str(label)] = counts.get(str(label), 0) + int(n)
            out = pd.concat(
                [chunk[keep].reset_index(drop=True), scored.reset_index(drop=True)], axis=1
            )
            if out_kind == "parquet":
                table = pa.Table.from_pandas(out, preserve_index=False)
                if writer is None:
                    import pyarrow.parquet as pq

                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
            else:
                out.to_csv(tmp, mode="a", header=chunks == 0, index=False)
            rows += len(chunk)
            chunks += 1
            if progress is not None:
                progress(rows)
        if writer is not None:
            writer.close()
            writer = None
        if chunks == 0:
            raise DataError(f"input file {input_path} has a header but no rows to score.")
        os.replace(tmp, output_path)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return ScoringSummary(
        input=str(input_path),
        output=str(output_path),
        rows=rows,
        chunks=chunks,
        seconds=time.monotonic() - started,
        model_version=model_version,
        issues=issues,
        prediction_counts=counts,
    )
