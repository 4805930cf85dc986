"""The small core: result types shared by several stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

TaskKind = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class DataSet:
    """A collected table: the frame, where it came from, and a fingerprint of its content.

    The fingerprint is a sha256 over column names, dtypes and every value, so the same data
    read from CSV or Parquet, or from a renamed file, gets the same fingerprint.
    """

    frame: pd.DataFrame
    fingerprint: str
    origin: str

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def n_columns(self) -> int:
        return self.frame.shape[1]
