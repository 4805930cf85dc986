"""A failure while reading or writing a later chunk stops batch scoring, names the problem
and leaves nothing behind (serving._batch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_batch import _bundle, _customers

from loopml.errors import DataError
from loopml.registry import ModelBundle
from loopml.serving import score_file
from loopml.serving._batch import _ChunkWriter


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return _bundle("churned")


def test_a_bad_line_deep_in_the_file_is_named(bundle: ModelBundle, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    _customers(60, seed=1).to_csv(source, index=False)
    lines = source.read_text().splitlines()
    lines[50] += ",1,2,3"  # more fields than the header
    source.write_text("\n".join(lines) + "\n")
    target = tmp_path / "out.csv"

    with pytest.raises(DataError, match=rf"cannot read {source}: .*line 51"):
        score_file(bundle, source, target, chunk_rows=10)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_failed_write_stops_the_run(
    bundle: ModelBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.csv"
    _customers(60, seed=1).to_csv(source, index=False)
    original = _ChunkWriter.write
    calls: list[int] = []

    def full_disk(self: _ChunkWriter, out: pd.DataFrame) -> None:
        calls.append(len(out))
        if self.chunks == 2:
            raise OSError(28, "No space left on device")
        original(self, out)

    monkeypatch.setattr(_ChunkWriter, "write", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        score_file(bundle, source, tmp_path / "out.csv", chunk_rows=10)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    assert calls == [10, 10, 10]
