"""loopml.data._dialect: separators, decimal marks and thousands separators, never misread."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import ConfigError, DataConfig, FileSource, parse_config
from loopml.data import (
    CsvDialect,
    NumberFormat,
    collect,
    infer_schema,
    model_input_dialect,
    read_file,
    read_header,
    sniff_dialect,
    source_dialect,
    to_numeric,
)
from loopml.errors import DataError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def wine(path: Path, n: int = 30) -> Path:
    """A ';'-separated export with decimal commas and thousands dots, as Excel writes it in
    much of Europe."""
    lines = ["id;alcohol;acid;price;label"]
    for i in range(n):
        alcohol = f"{9 + i / 10:.4f}".replace(".", ",")
        lines.append(
            f"{i};{alcohol};4,{i:04d};{1 + i}.{i * 7 % 1000:03d};{'hi' if i % 2 else 'lo'}"
        )
    return write(path, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------
# sniffing


def test_semicolons_and_decimal_commas_are_sniffed(tmp_path: Path) -> None:
    path = wine(tmp_path / "wine.csv")

    dialect = sniff_dialect(path)

    assert (dialect.sep, dialect.numbers) == (";", NumberFormat(",", "."))
    assert set(dialect.sniffed) == {"sep", "decimal"}


def test_decimal_commas_are_read_as_decimals_not_thousands(tmp_path: Path) -> None:
    """The trial's file: 4,0288 became 40288."""
    frame = read_file(wine(tmp_path / "wine.csv"), "csv")

    assert list(frame.columns) == ["id", "alcohol", "acid", "price", "label"]
    assert frame["alcohol"].iloc[:3].tolist() == [9.0, 9.1, 9.2]
    assert frame["acid"].iloc[:3].tolist() == [4.0, 4.0001, 4.0002]
    # the thousands dots of the same export: 2.007 is two thousand and seven
    assert frame["price"].iloc[:3].tolist() == [1000, 2007, 3014]
    assert pd.api.types.is_float_dtype(frame["alcohol"])
    assert frame["label"].tolist()[:2] == ["lo", "hi"]


def test_sniffed_numbers_reach_the_schema_with_their_real_range(tmp_path: Path) -> None:
    wine(tmp_path / "wine.csv")
    data = collect(DataConfig(source=FileSource(type="csv", path="wine.csv")), tmp_path)

    schema = infer_schema(data.frame, "label")

    assert schema["alcohol"].role == "numeric"
    assert (schema["alcohol"].minimum, schema["alcohol"].maximum) == (9.0, 11.9)


def test_thousands_commas_and_currency_in_a_comma_separated_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cars.csv",
        'model,price,km\nA,"$20,000","12,345"\nB,$1500,"1,234,567"\nC,"$1,234.50",999\n',
    )
    frame = read_file(path, "csv")

    assert to_numeric(frame["price"]).tolist() == [20000.0, 1500.0, 1234.5]
    assert to_numeric(frame["km"]).tolist() == [12345.0, 1234567.0, 999.0]
    assert infer_schema(frame, "model")["price"].role == "numeric"


def test_euro_amounts_with_thousands_dots(tmp_path: Path) -> None:
    path = write(tmp_path / "eu.csv", "item;price\na;€ 1.234,50\nb;12,99 €\nc;€7\n")
    frame = read_file(path, "csv")
    assert frame["price"].tolist() == [1234.5, 12.99, 7.0]


def test_tab_separated_with_decimal_commas(tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv.csv", "a\tb\n1,5\tx\n2,25\ty\n")
    dialect = sniff_dialect(path)
    assert (dialect.sep, dialect.numbers.decimal) == ("\t", ",")
    assert read_file(path, "csv")["a"].tolist() == [1.5, 2.25]


def test_space_thousands_separators(tmp_path: Path) -> None:
    path = write(tmp_path / "fr.csv", "a;b\n1 234,5;x\n12 345 678,25;y\n7,5;z\n")
    assert sniff_dialect(path).numbers == NumberFormat(",", " ")
    assert read_file(path, "csv")["a"].tolist() == [1234.5, 12345678.25, 7.5]


def test_a_compressed_file_is_sniffed_too(tmp_path: Path) -> None:
    path = tmp_path / "w.csv.gz"
    path.write_bytes(gzip.compress(wine(tmp_path / "plain.csv").read_bytes()))
    assert read_file(path, "csv")["alcohol"].iloc[1] == 9.1


def test_a_plain_file_reads_as_before(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "x,y,z\n1,a,0.5\n2,b,1.234\n")
    dialect = sniff_dialect(path)
    assert (dialect.sep, dialect.numbers) == (",", NumberFormat())
    frame = read_file(path, "csv")
    assert frame["z"].tolist() == [0.5, 1.234]  # three decimals are decimals in a CSV


# --------------------------------------------------------------------------------------------
# ambiguity


def test_numbers_that_read_two_ways_are_an_error_naming_column_examples_and_option(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "a.csv", "price;region\n1,234;n\n5,678;s\n12,500;n\n")
    expected = (
        f"{path}: column 'price' ('1,234', '5,678', '12,500') holds numbers written as text "
        "that read two ways: with ',' as the decimal mark (1,234 is 1.234) or as a thousands "
        "separator (1,234 is 1234), and nothing else in the file decides. Set "
        "data.source.options.decimal to ',' if ',' is the decimal mark, or to '.' if ',' "
        "separates thousands."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        read_file(path, "csv")


def test_dots_that_read_two_ways_in_a_semicolon_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "km;y\n1.234;n\n5.678;s\n")
    with pytest.raises(DataError, match=r"column 'km' \('1\.234', '5\.678'\).*read two ways"):
        read_file(path, "csv")


def test_another_column_decides_how_an_ambiguous_one_reads(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "price;rate\n1.234;4,5\n5.678;3,25\n")
    frame = read_file(path, "csv")
    assert frame["price"].tolist() == [1234, 5678]
    assert frame["rate"].tolist() == [4.5, 3.25]


def test_declared_decimal_reads_ambiguous_numbers_as_declared(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "price;region\n1,234;n\n5,678;s\n")
    assert read_file(path, "csv", {"decimal": ","})["price"].tolist() == [1.234, 5.678]
    # decimal '.' is pandas' own format: the text stays as read, and reads as 1234 wherever
    # loopml needs its numbers
    assert to_numeric(read_file(path, "csv", {"decimal": "."})["price"]).tolist() == [1234, 5678]
    assert to_numeric(read_file(path, "csv", {"thousands": ","})["price"]).tolist() == [
        1234,
        5678,
    ]


def test_columns_that_disagree_on_the_decimal_mark(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "a;b\n4,5;1.5\n3,25;2.25\n")
    with pytest.raises(
        DataError,
        match=r"columns disagree on the decimal mark: 'a' \(e\.g\. '4,5', '3,25'\) uses ',', "
        r"but 'b' \(e\.g\. '1\.5', '2\.25'\) uses '\.'\. Set data\.source\.options\.decimal "
        r"to ',', or to '\.'\.",
    ):
        read_file(path, "csv")


def test_init_messages_name_the_init_flag(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "price;region\n1,234;n\n5,678;s\n")
    with pytest.raises(DataError, match=r"Run `loopml init` again with --decimal ','"):
        sniff_dialect(path, where="init")


def test_the_fallback_decides_what_the_file_does_not(tmp_path: Path) -> None:
    """A scoring file is read like the training file where its own values do not say."""
    path = write(tmp_path / "a.csv", "price;region\n1,234;n\n5,678;s\n")
    trained = CsvDialect(";", NumberFormat(",", "."))
    assert read_file(path, "csv", fallback=trained)["price"].tolist() == [1.234, 5.678]


def test_a_model_input_is_read_with_the_training_options(tmp_path: Path) -> None:
    path = write(tmp_path / "new.csv", "price;region\n1,234;n\n5,678;s\n")
    source = {"type": "csv", "path": "t.csv", "options": {"sep": ";", "decimal": ".", "nrows": 5}}
    dialect = model_input_dialect(path, training_source=source, trained=None, options={})
    assert (dialect.sep, dialect.numbers.decimal) == (";", ".")
    assert "nrows" not in dialect.options  # which rows to read is not how values are written
    # scoring.options win over the training data's
    dialect = model_input_dialect(
        path, training_source=source, trained=None, options={"decimal": ","}
    )
    assert dialect.numbers.decimal == ","


def test_a_model_input_falls_back_to_the_recorded_training_dialect(tmp_path: Path) -> None:
    """Training sniffed ';' and decimal commas; a new file whose values read two ways is read
    the same way, and a file that says otherwise is read as it says."""
    trained = {"sep": ";", "decimal": ",", "thousands": "."}
    source = {"type": "csv", "path": "t.csv", "options": {}}
    unsure = write(tmp_path / "unsure.csv", "price;region\n1,234;n\n5,678;s\n")
    dialect = model_input_dialect(unsure, training_source=source, trained=trained, options={})
    assert dialect.read(unsure)["price"].tolist() == [1.234, 5.678]
    dotted = write(tmp_path / "dotted.csv", "price,region\n1.5,n\n2.25,s\n")
    dialect = model_input_dialect(dotted, training_source=source, trained=trained, options={})
    assert (dialect.sep, dialect.numbers.decimal) == (",", ".")
    assert dialect.read(dotted)["price"].tolist() == [1.5, 2.25]


def test_source_dialect_of_csv_and_other_sources(tmp_path: Path) -> None:
    wine(tmp_path / "a.csv")
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "a.parquet")
    dialect = source_dialect(FileSource(type="csv", path="*.csv"), tmp_path)
    assert dialect is not None and dialect.declared() == {
        "sep": ";",
        "decimal": ",",
        "thousands": ".",
    }
    assert source_dialect(FileSource(type="parquet", path="a.parquet"), tmp_path) is None


def test_files_of_a_glob_read_like_the_first_where_they_do_not_decide(tmp_path: Path) -> None:
    write(tmp_path / "part1.csv", "price;rate\n1.234;4,5\n")
    write(tmp_path / "part2.csv", "price;rate\n5.678;3\n")  # alone, '5.678' reads two ways
    data = collect(DataConfig(source=FileSource(type="csv", path="part*.csv")), tmp_path)
    assert data.frame["price"].tolist() == [1234, 5678]


# --------------------------------------------------------------------------------------------
# the wrong separator


def test_a_single_column_holding_the_separator_says_which_to_use(tmp_path: Path) -> None:
    path = wine(tmp_path / "wine.csv")
    with pytest.raises(
        DataError,
        match=r"was read as a single column named 'id;alcohol;acid;price;label', which holds "
        r"';': the file is separated by ';', not ','\. To read it, set "
        r"data\.source\.options\.sep to ';' \(and decimal to ','",
    ):
        read_file(path, "csv", {"sep": ","})


def test_a_scoring_header_read_with_the_wrong_separator(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match=r"separated by ',', not ';'\. To read it, set scoring"):
        read_header(path, CsvDialect(";"))


def test_a_genuine_single_column_file(tmp_path: Path) -> None:
    path = write(tmp_path / "one.csv", "value\n1\n2\n")
    assert read_file(path, "csv")["value"].tolist() == [1, 2]


# --------------------------------------------------------------------------------------------
# numbers written as text


@pytest.mark.parametrize(
    ("numbers", "text", "expected"),
    [
        (NumberFormat(), "4,0288", np.nan),  # never 40288
        (NumberFormat(), "1,234,567.5", 1234567.5),
        (NumberFormat(), "0,123", np.nan),  # a thousands group never starts with 0
        (NumberFormat(), "-$5", -5.0),
        (NumberFormat(",", "."), "4,0288", 4.0288),
        (NumberFormat(",", "."), "1.234", 1234.0),
        (NumberFormat(",", "."), "48.8566", np.nan),  # not a number in this format
        (NumberFormat(",", ""), "1.234", np.nan),
        (NumberFormat(".", "'"), "1'234.5", 1234.5),
    ],
)
def test_number_format_parse(numbers: NumberFormat, text: str, expected: float) -> None:
    result = numbers.parse(pd.Series([text])).iloc[0]
    assert (np.isnan(result) and np.isnan(expected)) or result == expected


def test_a_column_of_numbers_and_placeholders_keeps_the_placeholders(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "a;b\n4,5;x\n?;y\n3,25;z\n;w\n")
    values = read_file(path, "csv")["a"]
    assert values.tolist()[:3] == [4.5, "?", 3.25]  # quality checks still see the '?'
    assert np.isnan(to_numeric(values).iloc[1])
    assert to_numeric(values).iloc[[0, 2]].tolist() == [4.5, 3.25]
    # numbers already read stay numbers whatever format reads the text
    assert to_numeric(values, NumberFormat(",", ".")).iloc[[0, 2]].tolist() == [4.5, 3.25]


def test_chunks_read_like_the_whole_file(tmp_path: Path) -> None:
    path = wine(tmp_path / "wine.csv", n=25)
    dialect = sniff_dialect(path)
    whole = dialect.read(path)
    stacked = pd.concat(list(dialect.chunks(path, 7)), ignore_index=True)
    pd.testing.assert_frame_equal(stacked, whole)


def test_number_format_refuses_the_same_mark_twice() -> None:
    with pytest.raises(ValueError, match=r"^decimal and thousands are both ','$"):
        NumberFormat(",", ",")


# --------------------------------------------------------------------------------------------
# the options in loopml.yaml


def _config(options: str) -> str:
    return (
        "name: p\nproblem: {target: y}\n"
        f"data:\n  source: {{type: csv, path: d.csv, options: {options}}}\n"
    )


def test_options_in_the_project_file_are_checked() -> None:
    with pytest.raises(
        ConfigError, match=r"data\.source\.options: .*options\.decimal must be '\.' or ','"
    ):
        parse_config(_config("{decimal: ';'}"))
    with pytest.raises(ConfigError, match=r"options\.decimal and options\.thousands are both"):
        parse_config(_config('{decimal: ",", thousands: ","}'))


def test_tab_and_no_thousands_are_spelled_as_people_write_them() -> None:
    cfg = parse_config(_config("{sep: '\\t', thousands: null}"))
    assert cfg.data.source.options == {"sep": "\t", "thousands": ""}
    scoring = parse_config(_config("{}") + "scoring: {options: {sep: tab, decimal: ','}}\n")
    assert scoring.scoring.options == {"sep": "\t", "decimal": ","}


def test_a_single_column_whose_name_holds_a_separator_is_read(tmp_path: Path) -> None:
    """'price;eur' in the header only: no other separator splits the rows, so nothing to say."""
    path = write(tmp_path / "one.csv", "price;eur\n12\n13\n")
    assert read_file(path, "csv")["price;eur"].tolist() == [12, 13]
