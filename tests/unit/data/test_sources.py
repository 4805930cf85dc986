"""loopml.data._sources: CSV and Parquet files into a DataSet, with clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from loopml.config import DataConfig, FileSource
from loopml.data import collect
from loopml.data._sources import (
    file_kind,
    fingerprint,
    load_files,
    read_file,
    read_header,
    resolve_paths,
)
from loopml.errors import DataError

CSV_TEXT = "x,y,z\n1,a,0.5\n2,b,1.5\n"


def csv_source(path: str, **options: object) -> FileSource:
    return FileSource(type="csv", path=path, options=options)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# reading


def test_csv_file(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", CSV_TEXT)

    data = load_files(csv_source("a.csv"), tmp_path)

    assert data.origin == "csv:a.csv"
    assert (data.n_rows, data.n_columns) == (2, 3)
    assert data.frame["x"].tolist() == [1, 2]
    assert data.frame["y"].tolist() == ["a", "b"]
    assert data.frame["z"].tolist() == [0.5, 1.5]
    assert data.fingerprint == fingerprint(data.frame)


def test_parquet_file(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"], "z": [0.5, 1.5]})
    frame.to_parquet(tmp_path / "a.parquet", index=False)

    data = load_files(FileSource(type="parquet", path="a.parquet"), tmp_path)

    assert data.origin == "parquet:a.parquet"
    pd.testing.assert_frame_equal(data.frame, frame)


def test_csv_options_are_passed_to_the_reader(tmp_path: Path) -> None:
    write(tmp_path / "semi.csv", "x;y\n1;a\n2;b\n")
    data = load_files(csv_source("semi.csv", sep=";"), tmp_path)
    assert list(data.frame.columns) == ["x", "y"]
    assert data.frame["y"].tolist() == ["a", "b"]


def test_absolute_path(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", CSV_TEXT)
    data = load_files(csv_source(str(path)), tmp_path / "elsewhere")
    assert data.n_rows == 2


def test_collect_reads_the_configured_source(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", CSV_TEXT)
    cfg = DataConfig(source=csv_source("data/a.csv"))
    assert collect(cfg, tmp_path).frame["x"].tolist() == [1, 2]


def test_glob_stacks_files_in_sorted_path_order(tmp_path: Path) -> None:
    write(tmp_path / "parts" / "part-2.csv", "x,y\n20,b\n21,b\n")
    write(tmp_path / "parts" / "part-1.csv", "x,y\n10,a\n")
    write(tmp_path / "parts" / "part-10.csv", "x,y\n100,c\n")
    write(tmp_path / "parts" / "notes.txt", "not data\n")

    data = load_files(csv_source("parts/part-*.csv"), tmp_path)

    # sorted as text: part-1, part-10, part-2
    assert data.frame["x"].tolist() == [10, 100, 20, 21]
    assert data.frame["y"].tolist() == ["a", "c", "b", "b"]
    assert data.frame.index.tolist() == [0, 1, 2, 3]
    assert data.origin == "csv:parts/part-*.csv"


def test_recursive_glob(tmp_path: Path) -> None:
    write(tmp_path / "d" / "2024" / "a.csv", "x\n1\n")
    write(tmp_path / "d" / "2025" / "b.csv", "x\n2\n")
    assert load_files(csv_source("d/**/*.csv"), tmp_path).frame["x"].tolist() == [1, 2]


def test_resolve_paths_skips_directories_matching_the_glob(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", CSV_TEXT)
    (tmp_path / "b.csv").mkdir()
    assert resolve_paths("*.csv", tmp_path) == [tmp_path / "a.csv"]


# --------------------------------------------------------------------------------------------
# errors


def test_glob_with_mismatched_headers(tmp_path: Path) -> None:
    first = write(tmp_path / "m1.csv", "x,y\n1,a\n")
    second = write(tmp_path / "m2.csv", "x,w\n1,a\n")
    expected = (
        f"{second} has different columns than {first} (missing ['y'], extra ['w']). "
        "All files of one source must share a header."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_files(csv_source("m*.csv"), tmp_path)


def test_glob_with_the_same_columns_in_another_order(tmp_path: Path) -> None:
    write(tmp_path / "m1.csv", "x,y\n1,a\n")
    write(tmp_path / "m2.csv", "y,x\nb,2\n")
    data = load_files(csv_source("m*.csv"), tmp_path)  # stacked by name, in the first order
    assert data.frame.to_dict("list") == {"x": [1, 2], "y": ["a", "b"]}


def test_missing_file(tmp_path: Path) -> None:
    expected = (
        f"data file {tmp_path / 'missing.csv'} not found (no such file). "
        "Fix data.source.path in loopml.yaml or put the file there."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_files(csv_source("missing.csv"), tmp_path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match=r"it is a directory; use a glob like 'dir/\*\.csv'"):
        load_files(csv_source("data"), tmp_path)


def test_glob_matching_nothing(tmp_path: Path) -> None:
    expected = (
        f"data.source.path 'nothing/*.csv' matches no file (looked in {tmp_path / 'nothing'}). "
        "Check the pattern, or point it at existing files."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_files(csv_source("nothing/*.csv"), tmp_path)


def test_empty_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    expected = f"data file {tmp_path / 'empty.csv'} is empty (0 bytes)."
    with pytest.raises(DataError, match=f"^{re.escape(expected)} It needs a header row and data"):
        load_files(csv_source("empty.csv"), tmp_path)


def test_blank_file(tmp_path: Path) -> None:
    write(tmp_path / "blank.csv", "\n\n\n")
    expected = f"data file {tmp_path / 'blank.csv'} has no columns: it is empty or blank."
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_files(csv_source("blank.csv"), tmp_path)


def test_header_only_file(tmp_path: Path) -> None:
    write(tmp_path / "header.csv", "x,y,z\n")
    expected = f"data file {tmp_path / 'header.csv'} has a header but no rows. Add data rows."
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_files(csv_source("header.csv"), tmp_path)


def test_header_only_files_in_a_glob(tmp_path: Path) -> None:
    write(tmp_path / "h1.csv", "x,y\n")
    write(tmp_path / "h2.csv", "x,y\n")
    with pytest.raises(DataError, match=r"^data file h\*\.csv has a header but no rows\."):
        load_files(csv_source("h*.csv"), tmp_path)


def test_ragged_csv_names_the_line(tmp_path: Path) -> None:
    write(tmp_path / "ragged.csv", "x,y\n1,2\n3,4,5,6\n")
    expected = f"data file {tmp_path / 'ragged.csv'} is not valid CSV: "
    with pytest.raises(DataError, match=f"^{re.escape(expected)}.*Expected 2 fields in line 3"):
        load_files(csv_source("ragged.csv"), tmp_path)


def test_unclosed_quote(tmp_path: Path) -> None:
    write(tmp_path / "quote.csv", 'x,y\n1,"abc\n')
    with pytest.raises(DataError, match=r"is not valid CSV: .*EOF inside string"):
        load_files(csv_source("quote.csv"), tmp_path)


LATIN1 = "name,city\nJosé,Zürich\n".encode("latin-1")  # "é" is byte 13


def test_latin1_file_says_how_to_fix_it(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(LATIN1)
    expected_start = f"data file {tmp_path / 'latin.csv'} is not UTF-8 ("
    expected_end = "). Re-save it as UTF-8, or set data.source.options.encoding (e.g. latin-1)."
    with pytest.raises(
        DataError, match=f"^{re.escape(expected_start)}.*{re.escape(expected_end)}$"
    ):
        load_files(csv_source("latin.csv"), tmp_path)


def test_latin1_error_points_at_the_offending_byte(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(LATIN1)
    with pytest.raises(DataError, match=r"at offset 13, line 2\)"):
        load_files(csv_source("latin.csv"), tmp_path)


def test_latin1_file_reads_with_the_encoding_option(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(LATIN1)
    data = load_files(csv_source("latin.csv", encoding="latin-1"), tmp_path)
    assert data.frame.to_dict("list") == {"name": ["José"], "city": ["Zürich"]}


def test_unknown_reader_option_is_a_data_error(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", CSV_TEXT)
    with pytest.raises(DataError, match=r"data\.source\.options.*bogus"):
        load_files(csv_source("a.csv", bogus=1), tmp_path)


def test_corrupt_parquet(tmp_path: Path) -> None:
    write(tmp_path / "bad.parquet", "this is not parquet")
    expected = f"cannot read parquet file {tmp_path / 'bad.parquet'}: "
    with pytest.raises(DataError, match=f"^{re.escape(expected)}"):
        load_files(FileSource(type="parquet", path="bad.parquet"), tmp_path)


# --------------------------------------------------------------------------------------------
# fingerprint


def test_fingerprint_is_the_same_for_csv_and_parquet(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", CSV_TEXT)
    pd.read_csv(tmp_path / "a.csv").to_parquet(tmp_path / "a.parquet", index=False)

    from_csv = load_files(csv_source("a.csv"), tmp_path)
    from_parquet = load_files(FileSource(type="parquet", path="a.parquet"), tmp_path)

    assert from_csv.fingerprint == from_parquet.fingerprint
    assert from_csv.origin != from_parquet.origin


def test_fingerprint_ignores_the_file_name(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", CSV_TEXT)
    write(tmp_path / "renamed.csv", CSV_TEXT)
    a = load_files(csv_source("a.csv"), tmp_path)
    b = load_files(csv_source("renamed.csv"), tmp_path)
    assert a.fingerprint == b.fingerprint


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    digest = fingerprint(pd.DataFrame({"x": [1, 2]}))
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert fingerprint(pd.DataFrame({"x": [1, 2]})) == digest


@pytest.mark.parametrize(
    "changed",
    [
        pd.DataFrame({"x": [1, 3], "y": ["a", "b"]}),  # one value
        pd.DataFrame({"x": [1, 2], "y": ["a", "B"]}),  # one label
        pd.DataFrame({"x": [2, 1], "y": ["b", "a"]}),  # row order
        pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}),  # dtype
        pd.DataFrame({"w": [1, 2], "y": ["a", "b"]}),  # column name
        pd.DataFrame({"y": ["a", "b"], "x": [1, 2]}),  # column order
        pd.DataFrame({"x": [1, 2, 2], "y": ["a", "b", "b"]}),  # a duplicated row
    ],
    ids=["value", "label", "row_order", "dtype", "name", "column_order", "extra_row"],
)
def test_fingerprint_changes_with_the_content(changed: pd.DataFrame) -> None:
    original = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    assert fingerprint(changed) != fingerprint(original)


def test_fingerprint_ignores_the_index() -> None:
    frame = pd.DataFrame({"x": [1, 2]})
    assert fingerprint(frame.set_axis([10, 20])) == fingerprint(frame)


def test_fingerprint_of_an_empty_frame_depends_on_its_columns() -> None:
    assert fingerprint(pd.DataFrame({"x": []})) != fingerprint(pd.DataFrame({"y": []}))


# --------------------------------------------------------------------------------------------
# read_header, read_file and file_kind


def test_read_header_csv_and_parquet(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", CSV_TEXT)
    pd.read_csv(path).to_parquet(tmp_path / "a.parquet")
    assert read_header(path) == ["x", "y", "z"]
    assert read_header(tmp_path / "a.parquet") == ["x", "y", "z"]


def test_read_header_of_a_header_only_file(tmp_path: Path) -> None:
    assert read_header(write(tmp_path / "h.csv", "a,b\n")) == ["a", "b"]


def test_read_header_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=f"^{re.escape(f'{path} is empty (0 bytes).')}"):
        read_header(path)


def test_read_header_blank_file(tmp_path: Path) -> None:
    path = write(tmp_path / "blank.csv", "\n\n")
    with pytest.raises(DataError, match=f"^{re.escape(f'{path} has no header row.')}$"):
        read_header(path)


def test_read_header_corrupt_parquet(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.parquet", "nope")
    with pytest.raises(DataError, match=f"^{re.escape(f'cannot read {path}: ')}"):
        read_header(path)


def test_read_file_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"is empty \(0 bytes\)"):
        read_file(path, "parquet")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.csv.gz", "csv"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("x.2024.csv", "csv"),
    ],
)
def test_file_kind(name: str, kind: str) -> None:
    assert file_kind(Path(name)) == kind


@pytest.mark.parametrize("name", ["a.txt", "a.json", "a", "a.gz"])
def test_file_kind_unknown(name: str) -> None:
    with pytest.raises(
        DataError, match=rf"^{re.escape(name)}: cannot tell the format from the name; use a \.csv"
    ):
        file_kind(Path(name))


# --------------------------------------------------------------------------------------------
# JSON and JSON lines


def json_source(path: str, kind: str = "json", **options: object) -> FileSource:
    return FileSource(type=kind, path=path, options=options)  # type: ignore[arg-type]


def test_json_list_of_records_with_nested_objects(tmp_path: Path) -> None:
    write(
        tmp_path / "a.json",
        '[{"id": 1, "address": {"city": "Oslo"}, "tags": ["a"]},\n'
        ' {"id": 2, "address": {"city": "Rome"}}]',
    )
    data = load_files(json_source("a.json"), tmp_path)
    assert data.origin == "json:a.json"
    assert list(data.frame.columns) == ["id", "tags", "address.city"]
    assert data.frame["address.city"].tolist() == ["Oslo", "Rome"]
    assert data.frame["tags"].iloc[0] == ["a"]
    assert re.fullmatch(r"[0-9a-f]{64}", data.fingerprint)


def test_json_records_under_a_key(tmp_path: Path) -> None:
    write(tmp_path / "a.json", '{"meta": {}, "data": {"items": [{"x": 1}, {"x": 2}]}}')
    data = load_files(json_source("a.json", records_path="data.items"), tmp_path)
    assert data.frame.to_dict("list") == {"x": [1, 2]}


def test_json_object_with_records_says_to_set_records_path(tmp_path: Path) -> None:
    write(tmp_path / "a.json", '{"results": [{"x": 1}]}')
    with pytest.raises(
        DataError, match=r"its key 'results' holds a list of objects\. Set data\.source\.options"
    ):
        load_files(json_source("a.json"), tmp_path)


def test_json_in_a_pandas_layout(tmp_path: Path) -> None:
    write(tmp_path / "cols.json", '{"x": {"0": 1, "1": 2}, "y": {"0": "a", "1": "b"}}')
    write(tmp_path / "split.json", '{"columns": ["x"], "index": [0, 1], "data": [[1], [2]]}')
    assert load_files(json_source("cols.json"), tmp_path).frame.to_dict("list") == {
        "x": [1, 2],
        "y": ["a", "b"],
    }
    split = load_files(json_source("split.json", orient="split"), tmp_path)
    assert split.frame.to_dict("list") == {"x": [1, 2]}


def test_jsonl(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", '{"x": 1, "y": "a"}\n\n{"x": 2, "y": null}\n')
    data = load_files(json_source("a.jsonl", "jsonl"), tmp_path)
    assert data.origin == "jsonl:a.jsonl"
    assert data.frame["x"].tolist() == [1, 2]
    assert data.frame["y"].isna().tolist() == [False, True]


def test_jsonl_glob_skips_files_without_records(tmp_path: Path) -> None:
    write(tmp_path / "d" / "1.jsonl", '{"x": 1}\n')
    write(tmp_path / "d" / "2.jsonl", "\n")
    write(tmp_path / "d" / "3.json", "[]")
    write(tmp_path / "d" / "4.json", '[{"x": 4}]')
    assert load_files(json_source("d/*.jsonl", "jsonl"), tmp_path).frame["x"].tolist() == [1]
    assert load_files(json_source("d/*.json"), tmp_path).frame["x"].tolist() == [4]


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '[{"x": 1},\n {"x": }]')
    expected = f"data file {path} is not valid JSON: Expecting value at line 2, column 8."
    with pytest.raises(DataError, match=f"^{re.escape(expected)}"):
        load_files(json_source("bad.json"), tmp_path)


def test_invalid_jsonl_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", '{"x": 1}\n{"x": 2\n')
    expected = f"data file {path} is not valid JSON lines: line 2, column 8: "
    with pytest.raises(DataError, match=f"^{re.escape(expected)}.*fix or remove that line"):
        load_files(json_source("bad.jsonl", "jsonl"), tmp_path)


def test_jsonl_record_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", '{"x": 1}\n[1, 2]\n')
    expected = f"data file {path}: record 2 is a JSON list ([1, 2]), not an object."
    with pytest.raises(DataError, match=f"^{re.escape(expected)}"):
        load_files(json_source("a.jsonl", "jsonl"), tmp_path)


def test_json_scalar(tmp_path: Path) -> None:
    write(tmp_path / "a.json", "42")
    with pytest.raises(DataError, match=r"holds a single JSON int, not records"):
        load_files(json_source("a.json"), tmp_path)


@pytest.mark.parametrize(("name", "text"), [("e.json", "[]"), ("e.jsonl", "\n\n")])
def test_json_without_records(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path / name, text)
    kind = "jsonl" if name.endswith("l") else "json"
    with pytest.raises(
        DataError, match=f"^data file {re.escape(str(path))} holds no records\\. Add records\\.$"
    ):
        load_files(json_source(name, kind), tmp_path)


def test_latin1_json(tmp_path: Path) -> None:
    (tmp_path / "l.json").write_bytes('[{"name": "José"}]'.encode("latin-1"))
    with pytest.raises(DataError, match=r"is not utf-8 \(byte 0xe9 at offset 14, line 1\)"):
        load_files(json_source("l.json"), tmp_path)
    data = load_files(json_source("l.json", encoding="latin-1"), tmp_path)
    assert data.frame["name"].tolist() == ["José"]


def test_unknown_json_option(tmp_path: Path) -> None:
    write(tmp_path / "a.json", '[{"x": 1}]')
    with pytest.raises(DataError, match=r"^data\.source\.options \['bogus'\] are not valid"):
        load_files(json_source("a.json", bogus=True), tmp_path)


def test_collect_json_source(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.json", '[{"x": 1}, {"x": 2}]')
    cfg = DataConfig(source=json_source("data/a.json"))
    data = collect(cfg, tmp_path)
    assert data.frame["x"].tolist() == [1, 2]
    assert data.watermark is None
