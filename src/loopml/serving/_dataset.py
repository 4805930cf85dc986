"""Batch scoring of a Parquet dataset (a directory or a glob of files) into partitioned Parquet.

The output is a directory of ``part-NNNNN.parquet`` files, one per input part, in input
order. It is written into a staging directory next to it and moved in place only when every
part is scored, so a failed run leaves the previous output (or nothing) as it was. Each part
is written under its own name whatever runs it: a part scored twice (a Dask task retried
after its worker died) overwrites itself, so no row is lost or duplicated.

This module scores on this machine, one input file after another in chunks (memory stays
flat); :mod:`loopml.scale` scores the same parts as Dask tasks with :func:`score_part`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from loopml.data import dataset_files
from loopml.errors import DataError
from loopml.registry import ModelBundle
from loopml.serving._batch import ChunkScorer, ScoringSummary, score_file, tally_chunk

PART = "part-{:05d}.parquet"


def check_columns(bundle: ModelBundle, files: list[Path]) -> None:
    """Every file has the model's columns (read from the Parquet footers, before any work)."""
    import pyarrow.parquet as pq

    for path in files:
        try:
            names = pq.read_schema(path).names
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataError(f"cannot read {path}: {exc}. Fix or remove the file.") from None
        bundle.schema.check(names, where=f"input file {path}")


@dataclass
class PartSummary:
    """What scoring one part found: rows, input problems, predicted labels."""

    rows: int = 0
    issues: dict[str, dict[str, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, other: PartSummary) -> None:
        self.rows += other.rows
        for col, found in other.issues.items():
            slot = self.issues.setdefault(col, {})
            for key, n in found.items():
                slot[key] = slot.get(key, 0) + n
        for label, n in other.counts.items():
            self.counts[label] = self.counts.get(label, 0) + n


# one compiled scorer per process and model: a Dask worker compiles each model once
_SCORERS: dict[tuple[str, str, str], ChunkScorer] = {}


def _scorer(bundle: ModelBundle, runtime: str) -> ChunkScorer:
    key = (bundle.data_fingerprint, str(bundle.info.get("created", "")), runtime)
    if key not in _SCORERS:
        _SCORERS.clear()
        _SCORERS[key] = ChunkScorer(bundle, runtime)
    return _SCORERS[key]


def score_part(
    bundle: ModelBundle,
    frame: pd.DataFrame,
    path: Path,
    *,
    runtime: str = "auto",
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> PartSummary:
    """Score ``frame`` into the Parquet file ``path`` (written aside, then renamed): the id
    columns, ``prediction`` and the class probabilities, as :func:`score_file` writes them."""
    if transform is not None:
        frame = transform(frame)
    scored, typed = _scorer(bundle, runtime)(frame)
    summary = PartSummary(rows=len(frame))
    tally_chunk(bundle, frame, typed, scored, summary.issues, summary.counts)
    keep = [c for c in bundle.id_columns if c in frame.columns]
    out = pd.concat([frame[keep].reset_index(drop=True), scored.reset_index(drop=True)], axis=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    out.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return summary


@contextmanager
def staged_output(output: Path) -> Iterator[Path]:
    """A staging directory that replaces ``output`` when the block succeeds; removed when
    it fails. An existing ``output`` must be a directory of ``part-*.parquet`` files (an
    earlier run's): anything else is refused, never overwritten."""
    if output.exists():
        foreign = [p for p in output.iterdir()] if output.is_dir() else [output]
        foreign = [
            p for p in foreign if not (p.name.startswith("part-") and p.suffix == ".parquet")
        ]
        if foreign:
            raise DataError(
                f"{output} exists and is not a scored dataset ({foreign[0].name} is in the way); "
                "give a new output directory, or remove it."
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part"))
    try:
        yield staging
        if output.exists():
            old = output.with_name(f".{output.name}.old-{os.getpid()}")
            os.replace(output, old)
            os.replace(staging, output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def dataset_summary(
    found: PartSummary, *, input: str, output: Path, parts: int, started: float, version: str
) -> ScoringSummary:
    return ScoringSummary(
        input=input,
        output=str(output),
        rows=found.rows,
        chunks=parts,
        seconds=time.monotonic() - started,
        model_version=version,
        issues=found.issues,
        prediction_counts=found.counts,
    )


def _offset(progress: Callable[[int], None], done: int) -> Callable[[int], None]:
    """``progress`` of the rows of the whole dataset, from a file's own count."""
    return lambda rows: progress(done + rows)


def score_dataset(
    bundle: ModelBundle,
    input: str | Path,
    output: Path,
    *,
    model_version: str = "",
    chunk_rows: int = 50_000,
    runtime: str = "auto",
    progress: Callable[[int], None] | None = None,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> ScoringSummary:
    """Score every Parquet file of the dataset ``input`` into ``output``, a directory with one
    ``part-NNNNN.parquet`` per input file, on this machine (each file in chunks).

    Raises
    ------
    DataError
        No Parquet file matches, a file lacks a model column, or ``output`` is in the way.
    """
    started = time.monotonic()
    files = dataset_files(input)
    check_columns(bundle, files)
    total = PartSummary()
    with staged_output(output) as staging:
        for i, path in enumerate(files):
            summary = score_file(
                bundle,
                path,
                staging / PART.format(i),
                chunk_rows=chunk_rows,
                runtime=runtime,
                progress=None if progress is None else _offset(progress, total.rows),
                transform=transform,
            )
            total.add(PartSummary(summary.rows, summary.issues, summary.prediction_counts))
    return dataset_summary(
        total,
        input=str(input),
        output=output,
        parts=len(files),
        started=started,
        version=model_version,
    )
