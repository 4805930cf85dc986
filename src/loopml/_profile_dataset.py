"""``loopml profile --dataset``: the EDA profile of a Parquet dataset that outgrows memory,
computed as map-reduce over its parts (:func:`loopml.data.profile_parquet`) on the project's
engine: row group by row group here, or as Dask tasks on the configured cluster."""

from __future__ import annotations

from pathlib import Path

from loopml.config import ProjectConfig
from loopml.data import dataset_files, profile_parquet
from loopml.files import write_text_atomic


def profile_dataset(config: ProjectConfig, source: Path, output: Path) -> Path:
    """Write the profile of the dataset at ``source`` (a directory or a glob of Parquet files)
    to ``output`` and return its path.

    Columns that look like personal data are counted, never shown. There is no quality
    report: its checks (duplicates, leakage, the holdout) need the rows together.

    Raises
    ------
    DataError
        No Parquet file matches, a part lacks a column of the first, or a file is damaged.
    ConfigError
        The Dask engine is configured but its extra is missing or its scheduler unreachable.
    """
    from loopml.reports import render_profile_report

    files = dataset_files(source)
    if config.execution.engine == "local":
        result = profile_parquet(files, config)
    else:
        from loopml.scale import dask_client

        with dask_client(config.execution):
            result = profile_parquet(files, config, engine="dask")
    title = f"{config.name}: data profile ({source}, {len(files)} files)"
    write_text_atomic(output, render_profile_report(result, title=title))
    return output
