"""`loopml init`: a commented draft of ``loopml.yaml`` inferred from a data file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from loopml.config import ProblemConfig, parse_config, reader_options
from loopml.data._baseline import Baseline, draft_gate, measure_baseline, prior_log_loss
from loopml.data._dialect import CsvDialect, sniff_dialect
from loopml.data._numbers import NumberFormat
from loopml.data._privacy import KIND_NAMES, detect_pii
from loopml.data._problem import Problem, prepare_target, resolve_problem
from loopml.data._schema import ColumnSchema, infer_schema
from loopml.data._sources import file_kind, read_file
from loopml.errors import ConfigError, DataError, LoopmlError

#: An id column has at most this share of repeated or missing values.
ID_DUPLICATES = 0.01


#: Column names that usually hold protected attributes: the draft suggests them (commented)
#: as problem.sensitive_columns.
SENSITIVE = re.compile(
    r"(^|_)(sex|gender|race|ethnic\w*|religion|nationality|citizenship|marital\w*|"
    r"disab\w*|pregnan\w*|age_band|age_group|sexual_orientation)($|_)",
    re.IGNORECASE,
)


def draft_config(
    data_path: Path,
    target: str,
    project_dir: Path,
    name: str | None = None,
    *,
    sep: str | None = None,
    decimal: str | None = None,
    thousands: str | None = None,
) -> str:
    """The text of a commented ``loopml.yaml`` for ``data_path`` predicting ``target``.

    Parameters
    ----------
    data_path
        The data file (CSV or Parquet), relative to the current directory or absolute.
    target
        The column to predict.
    project_dir
        Where the project file goes; the data path is written relative to it.
    name
        The project name (default: the directory's).
    sep, decimal, thousands
        How the CSV file is written; what is not given is sniffed from the file. What was
        given or found goes into ``data.source.options``, so every later command reads the
        file the same way.

    Raises
    ------
    ConfigError
        ``sep``, ``decimal`` or ``thousands`` is not a separator loopml reads.
    DataError
        The file cannot be read, is read ambiguously (the message names the ``init`` flag to
        pass), has no rows, or lacks the target.
    """
    kind, frame, dialect, declared = _read(data_path, sep, decimal, thousands)
    problem = resolve_problem(frame, ProblemConfig(target=target))
    features = frame.drop(columns=[target])
    pii = detect_pii(features)
    schema = infer_schema(frame, target)
    ids = [c for c in schema.columns if c.role == "id" and c.name not in pii]
    ids = [c for c in ids if _is_unique(frame[c.name])]
    times = [c for c in schema.columns if c.role == "datetime" and c.name not in pii]
    texts = [c for c in schema.columns if c.role == "text" and c.name not in pii]
    rel = _relative(data_path, project_dir)
    name = _project_name(name, project_dir)
    used = [
        c
        for c in schema.columns
        if c.is_feature and c.name not in pii and c.role in ("numeric", "boolean", "categorical")
    ]
    gate, why = _gate(frame, problem, [*used, *times])
    lines = [
        "# loopml project file, drafted by `loopml init`. Review every line marked REVIEW.",
        f"# Data: {data_path.name}: {len(frame)} rows x {frame.shape[1]} columns.",
        f"name: {_quote(name)}",
        "",
        *_problem_lines(frame, problem, target, gate, why),
        "",
        "data:",
        *_source_lines(kind, rel, dialect, declared),
        *_column_lines(ids, times, pii, texts),
        *_TRAINING_LINES,
    ]
    text = "\n".join(lines)
    parse_config(text, source="draft loopml.yaml")  # the draft itself must be valid
    return text


#: The training and tracking sections of every draft.
_TRAINING_LINES = (
    "",
    "training:",
    "  budget_seconds: 60     # wall-clock budget for the model search",
    "  cv_folds: 5",
    "  holdout_fraction: 0.2  # kept out of all model selection",
    "  split: auto            # auto | stratified | random | time | group",
    "  seed: 42",
    "",
    "tracking:",
    '  uri: "sqlite:///.loopml/mlflow.db"   # MLflow store, relative to this file',
    "",
)


def _read(
    data_path: Path, sep: str | None, decimal: str | None, thousands: str | None
) -> tuple[str, pd.DataFrame, CsvDialect | None, dict[str, str]]:
    """The file's kind, its rows, the CSV dialect read and the reader options declared."""
    kind = file_kind(data_path)
    dialect = None
    declared: dict[str, str] = {}
    if kind == "csv":
        declared = {
            k: v
            for k, v in {"sep": sep, "decimal": decimal, "thousands": thousands}.items()
            if v is not None
        }
        try:
            declared = reader_options(declared)
        except ValueError as exc:
            raise ConfigError(f"init: {str(exc).replace('options.', '--')}.") from exc
        if data_path.is_file() and data_path.stat().st_size:
            dialect = sniff_dialect(data_path, declared, where="init")
    frame = read_file(data_path, kind, dialect=dialect, where="init")
    if len(frame) == 0:
        raise DataError(f"{data_path} has a header but no rows; init needs data to look at.")
    return kind, frame, dialect, declared


def _project_name(name: str | None, project_dir: Path) -> str:
    name = name or re.sub(r"[^A-Za-z0-9_.-]", "-", project_dir.resolve().name or "project")
    if not re.match(r"^[A-Za-z0-9]", name):
        name = "project-" + name.lstrip("-_.")
    return name


def _problem_lines(
    frame: pd.DataFrame, problem: Problem, target: str, gate: str, why: str
) -> list[str]:
    lines = [
        "problem:",
        f"  task: {problem.task}            # inferred from {target!r}; auto | binary | "
        "multiclass | regression",
        f"  target: {_quote(target)}",
    ]
    if problem.task == "binary":
        labels = prepare_target(frame[target], problem.task, problem)  # variants merged
        counts = labels.value_counts(normalize=True)
        share = counts.get(problem.positive_class, float("nan"))
        lines.append(
            f"  positive_class: {_quote(problem.positive_class)}   # REVIEW: the class to detect "
            f"({share:.1%} of rows)"
        )
    elif problem.task == "multiclass":
        lines.append(
            f"  # {len(problem.classes)} classes: {', '.join(map(str, problem.classes[:10]))}"
        )
    lines.append(f"  metric: {problem.metric}          # the primary metric used to rank models")
    lines.append(f"  # {why}")
    lines.append(f'  success: "{gate}"   # REVIEW: the gate a model must pass to become champion')
    sensitive = [str(c) for c in frame.columns if c != target and SENSITIVE.search(str(c))]
    if sensitive:
        shown = ", ".join(_quote(c) for c in sensitive)
        lines.append(
            f"  # sensitive_columns: [{shown}]   # REVIEW: named like protected attributes; "
            "uncomment to compare their groups (and add e.g. selection_rate_ratio >= 0.8 to "
            "success)"
        )
    return lines


def _column_lines(
    ids: list[ColumnSchema],
    times: list[ColumnSchema],
    pii: dict[str, str],
    texts: list[ColumnSchema],
) -> list[str]:
    """The id, time, dropped and free-text columns of the data section, with what was found."""
    lines = [
        f"  id_columns: [{', '.join(_quote(c.name) for c in ids)}]"
        + ("   # detected: " + "; ".join(f"{c.name} ({c.reason})" for c in ids) if ids else ""),
    ]
    if times:
        first = times[0]
        lines.append(
            f"  time_column: {_quote(first.name)}   # REVIEW: set for time-ordered validation; "
            f"datetime columns: {', '.join(c.name for c in times)}"
        )
    else:
        lines.append("  # time_column: none detected")
    lines.append(
        f"  drop_columns: [{', '.join(_quote(c) for c in pii)}]"
        + (
            "   # personal data detected: "
            + "; ".join(f"{c} ({KIND_NAMES.get(kind_, kind_)})" for c, kind_ in pii.items())
            if pii
            else ""
        )
    )
    if texts:
        lines.append(
            "  # free-text columns (not used as features yet): "
            + ", ".join(f"{c.name} ({c.reason})" for c in texts)
        )
    return lines


def _is_unique(values: pd.Series) -> bool:
    """Unique, or nearly: at most :data:`ID_DUPLICATES` of the rows repeat or miss a value."""
    n = len(values)
    return n > 0 and (n - values.dropna().nunique()) <= ID_DUPLICATES * n


def _relative(data_path: Path, project_dir: Path) -> str:
    """The data path as the project file will read it: relative to its directory."""
    try:
        return Path(os.path.relpath(data_path.resolve(), project_dir.resolve())).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path reaches it
        return str(data_path.resolve())


def _source_lines(
    kind: str, path: str, dialect: CsvDialect | None, declared: dict[str, str]
) -> list[str]:
    """``data.source``, with the CSV options every later command must read the file with:
    a separator other than ',', and the decimal mark and thousands separator that the file
    or the flags decided, where they differ from pandas' defaults."""
    plain = [f"  source: {{type: {kind}, path: {_quote(path)}}}"]
    if dialect is None:
        return plain
    known = set(declared) | set(dialect.sniffed)
    numbers = dialect.numbers
    options = {}
    if dialect.sep != ",":
        options["sep"] = dialect.sep
    if "decimal" in known and (numbers.decimal != "." or dialect.sep != ","):
        options["decimal"] = numbers.decimal
    if (
        "thousands" in known
        and numbers.thousands != NumberFormat.natural(numbers.decimal).thousands
    ):
        options["thousands"] = numbers.thousands
    if not options:
        return plain
    shown = ", ".join(f"{k}: {_option(v)}" for k, v in options.items())
    how = "as given to init" if set(options) <= set(declared) else "sniffed from the file"
    thousands = _option(numbers.thousands) if numbers.thousands else "none"
    return [
        f"  source: {{type: {kind}, path: {_quote(path)}, options: {{{shown}}}}}",
        f"  # REVIEW: how the file is written ({how}): separator {_option(dialect.sep)}, "
        f"decimal mark {_option(numbers.decimal)}, thousands separator {thousands}",
    ]


def _option(value: str) -> str:
    return '"\\t"' if value == "\t" else '"' + value.replace('"', '\\"') + '"'


def _gate(frame: pd.DataFrame, problem: Problem, features: list[ColumnSchema]) -> tuple[str, str]:
    """The drafted success gate and the comment saying where it comes from."""
    labels = prepare_target(frame[problem.target], problem.task, problem)  # variants merged
    prior = prior_log_loss(labels) if problem.task == "multiclass" else None
    try:
        baseline: Baseline = measure_baseline(frame, problem, features)
    except (LoopmlError, ValueError) as exc:
        return _fixed_gate(problem.task, prior), f"no baseline measured ({exc}); a generic gate"
    gate, margin = draft_gate(baseline, prior)
    note = f"{baseline.describe()}; {margin}"
    perfect = {"roc_auc": 0.995, "r2": 0.995}
    if baseline.mean >= perfect.get(baseline.metric, 2.0) or (
        baseline.metric == "log_loss" and baseline.mean <= 0.01
    ):
        note += ". REVIEW: near perfect; check `loopml validate` for leakage"
    return gate, note


def _fixed_gate(task: str, prior: float | None) -> str:
    if task == "regression":
        return "r2 >= 0.5"
    if task == "binary":
        return "roc_auc >= 0.75"
    # multiclass: 10% below the log loss of always predicting the class frequencies
    return f"log_loss <= {0.9 * (prior or 0.0):.3f}"


def _quote(value: object) -> str:
    text = str(value)
    if re.match(r"^[A-Za-z_][A-Za-z0-9_./*-]*$", text) and text.lower() not in (
        "yes",
        "no",
        "true",
        "false",
        "null",
        "on",
        "off",
        "y",
        "n",
    ):
        return text
    if isinstance(value, bool | int | float) and not isinstance(value, str):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
