"""`loopml init`: a commented draft of ``loopml.yaml`` inferred from a data file."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from loopml.config import UNSUPERVISED_TASKS, ProblemConfig, parse_config, reader_options
from loopml.data._baseline import (
    MAX_ROWS,
    Baseline,
    _matrix,
    draft_gate,
    measure_baseline,
    prior_log_loss,
)
from loopml.data._dialect import CsvDialect, sniff_dialect
from loopml.data._numbers import NumberFormat
from loopml.data._privacy import KIND_NAMES, detect_pii
from loopml.data._problem import Problem, prepare_target, resolve_problem
from loopml.data._schema import ColumnSchema, infer_schema
from loopml.data._sources import file_kind, read_file
from loopml.errors import ConfigError, DataError, LoopmlError

#: The tasks ``init --task`` takes (``auto``: inferred from the target).
TASKS = ("auto", "binary", "multiclass", "regression", *UNSUPERVISED_TASKS)

#: The stability the clustering search prefers (modeling's MIN_STABILITY), drafted as the gate.
CLUSTER_STABILITY = 0.8
#: The robust z-score above which an unlabelled anomaly detector flags a row (modeling's AUTO_Z).
ANOMALY_Z = 3.5

#: An id column has at most this share of repeated or missing values.
ID_DUPLICATES = 0.01


#: Column names that usually hold protected attributes: the draft suggests them (commented)
#: as problem.sensitive_columns.
SENSITIVE = re.compile(
    r"(^|_)(sex|gender|race|ethnic\w*|religion|nationality|citizenship|marital\w*|"
    r"disab\w*|pregnan\w*|age_band|age_group|sexual_orientation)($|_)",
    re.IGNORECASE,
)

#: Names of columns that usually label rows (a class, an outcome, a known anomaly): in a
#: draft without a target, such a binary column is kept out of the features.
LABEL_NAMES = re.compile(
    r"(^|_)(label|class|target|outcome|y|anomal\w*|outlier\w*|fraud\w*|attack\w*|"
    r"intrusion\w*|malicious|defect\w*|fault\w*|failure\w*|incident\w*)($|_)",
    re.IGNORECASE,
)
#: Values that name a row as an anomaly, in a column of any name.
ANOMALY_VALUES = re.compile(
    r"anomal\w*|abnormal|outlier|fraud\w*|attack|malicious|intrusion|defect\w*|faulty|bot|"
    r"spam|suspicious",
    re.IGNORECASE,
)
#: A label-like column's rarer value is at most this share of its rows.
LABEL_SHARE = 0.25


def label_like(frame: pd.DataFrame) -> dict[str, str]:
    """Binary columns that look like labels of rows: a label name (:data:`LABEL_NAMES`) or
    a value naming an anomaly (:data:`ANOMALY_VALUES`), with a rare value (at most
    :data:`LABEL_SHARE` of the rows); column -> what was seen.

    Examples
    --------
    >>> frame = pd.DataFrame({"Class": [0] * 9 + [1], "is_weekend": [0, 1] * 5})
    >>> label_like(frame)
    {'Class': '2 values, 10.0% of rows are 1'}
    """
    found = {}
    for column in frame.columns:
        values = frame[column].dropna()
        counts = values.value_counts(normalize=True)
        if len(counts) != 2 or counts.iloc[-1] > LABEL_SHARE:
            continue
        name = re.sub(r"[^0-9a-z]+", "_", str(column).lower())
        rare = counts.index[-1]
        if LABEL_NAMES.search(name) or any(ANOMALY_VALUES.fullmatch(str(v)) for v in counts.index):
            found[str(column)] = f"2 values, {counts.iloc[-1]:.1%} of rows are {rare}"
    return found


def draft_config(
    data_path: Path,
    target: str | None,
    project_dir: Path,
    name: str | None = None,
    *,
    task: str = "auto",
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
        The column to predict; None for clustering, and optional for anomaly detection,
        where it names a label column marking known anomalies.
    project_dir
        Where the project file goes; the data path is written relative to it.
    name
        The project name (default: the directory's).
    task
        ``auto`` (inferred from the target), ``binary``, ``multiclass``, ``regression``,
        ``clustering`` or ``anomaly``.
    sep, decimal, thousands
        How the CSV file is written; what is not given is sniffed from the file. What was
        given or found goes into ``data.source.options``, so every later command reads the
        file the same way.

    Raises
    ------
    ConfigError
        ``task`` is unknown, a supervised task has no ``target`` or clustering has one, or
        ``sep``, ``decimal`` or ``thousands`` is not a separator loopml reads.
    DataError
        The file cannot be read, is read ambiguously (the message names the ``init`` flag to
        pass), has no rows, or lacks the target.
    """
    _check_task(task, target)
    kind, frame, dialect, declared = _read(data_path, sep, decimal, thousands)
    problem = resolve_problem(frame, ProblemConfig(task=task, target=target))  # type: ignore[arg-type]
    features = frame.drop(columns=[target]) if target else frame
    pii = detect_pii(features)
    # an unsupervised draft without a label column: a column labelling rows is no feature
    labels = label_like(features.drop(columns=list(pii))) if not target else {}
    schema = infer_schema(frame, target or "")
    ids = [c for c in schema.columns if c.role == "id" and c.name not in pii | labels]
    ids = [c for c in ids if _is_unique(frame[c.name])]
    times = [c for c in schema.columns if c.role == "datetime" and c.name not in pii]
    texts = [c for c in schema.columns if c.role == "text" and c.name not in pii | labels]
    used = [
        c
        for c in schema.columns
        if c.is_feature
        and c.name not in pii | labels
        and c.role in ("numeric", "boolean", "categorical")
    ]
    if problem.unsupervised:
        problem_lines = _unsupervised_lines(frame, problem, [*used, *times], labels)
    else:
        gate, why = _gate(frame, problem, [*used, *times])
        problem_lines = _problem_lines(frame, problem, task, gate, why)
    lines = [
        "# loopml project file, drafted by `loopml init`. Review every line marked REVIEW.",
        f"# Data: {data_path.name}: {len(frame)} rows x {frame.shape[1]} columns.",
        f"name: {_quote(_project_name(name, project_dir))}",
        "",
        *problem_lines,
        "",
        "data:",
        *_source_lines(kind, _relative(data_path, project_dir), dialect, declared),
        *_column_lines(ids, times, pii, texts, labels),
        *_TRAINING_LINES,
    ]
    text = "\n".join(lines)
    parse_config(text, source="draft loopml.yaml")  # the draft itself must be valid
    return text


def _check_task(task: str, target: str | None) -> None:
    """A known task, with a target where it needs one and none where it takes none."""
    if task not in TASKS:
        raise ConfigError(f"init: --task must be one of {', '.join(TASKS)}, got {task!r}.")
    if target is None and task not in UNSUPERVISED_TASKS:
        raise ConfigError(
            f"init: --target is required{f' for task {task}' if task != 'auto' else ''}: "
            "name the column to predict. "
            "Without one, use --task clustering (groups of similar rows) or --task anomaly "
            "(unusual rows; --target is then optional, a label column marking known anomalies)."
        )
    if target is not None and task == "clustering":
        raise ConfigError(
            f"init: task clustering has no target, but --target {target!r} was given. Drop "
            "--target, or use --task anomaly, whose --target is an optional label column "
            "marking known anomalies."
        )


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
    frame: pd.DataFrame, problem: Problem, given: str, gate: str, why: str
) -> list[str]:
    target = problem.target
    how = "as given to init" if given != "auto" else f"inferred from {target!r}"
    lines = [
        "problem:",
        f"  task: {problem.task}            # {how}; auto | binary | multiclass | regression | "
        "clustering | anomaly",
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


def _unsupervised_lines(
    frame: pd.DataFrame, problem: Problem, features: list[ColumnSchema], labels: dict[str, str]
) -> list[str]:
    """The problem section of a clustering or anomaly project: no target (an anomaly
    project's label column, if any), the settings of the task and a gate it can check;
    what looked like a label column (``labels``, dropped from the features) is named."""
    lines = [
        "problem:",
        f"  task: {problem.task}            # as given to init; auto | binary | multiclass | "
        "regression | clustering | anomaly",
    ]
    for column, seen in labels.items():
        use = (
            f"`loopml init --task anomaly --target {column}` uses it to choose the detector "
            "and threshold and to measure them"
            if problem.task == "anomaly"
            else "remove it from data.drop_columns to cluster on it"
        )
        lines.append(
            f"  # REVIEW: column {column!r} looks like a label of rows ({seen}): it is dropped "
            f"from the features; {use}"
        )
    if problem.task == "clustering":
        return [
            *lines,
            f"  metric: {problem.metric}       # ranks the clusterings: how well separated",
            "  max_clusters: 10          # the most clusters tried (2 to 50)",
            "  # stability: how alike the clusters of resampled rows are (adjusted Rand index); "
            f"the search prefers clusterings of at least {CLUSTER_STABILITY:g}",
            f'  success: "stability >= {CLUSTER_STABILITY:g}"   # REVIEW: the gate a model must '
            "pass to become champion",
        ]
    if not problem.has_labels:
        return [
            *lines,
            "  # target: none; a label column marking known anomalies (init --target) lets "
            "loopml choose the detector and threshold and measure them",
            f"  metric: {problem.metric}   # without labels, the share of rows flagged is the "
            "only measure",
            '  # success: "anomaly_rate <= 0.05"   # REVIEW: without labels only the share '
            "flagged can be gated",
            "  # contamination: 0.01   # REVIEW: the share of rows expected to be anomalies; "
            f"unset, rows whose combined robust z-score passes {ANOMALY_Z:g} are flagged",
        ]
    truth = problem.anomaly_truth(frame[problem.target]).dropna().astype(bool)
    share = float(truth.mean())
    lines += [
        f"  target: {_quote(problem.target)}   # the label column marking known anomalies "
        "(optional)",
        f"  positive_class: {_quote(problem.anomaly_label)}   # REVIEW: the label of an anomaly "
        f"({share:.1%} of labelled rows)",
        f"  metric: {problem.metric}          # the primary metric used to rank detectors",
    ]
    gate, why = _anomaly_gate(frame, problem, features, truth)
    lines.append(f"  # {why}")
    if gate is None:
        lines.append('  # success: "pr_auc >= 0.5"   # REVIEW: set the gate a model must pass')
    else:
        lines.append(
            f'  success: "{gate}"   # REVIEW: the gate a model must pass to become champion'
        )
    suggested = min(max(share, 0.001), 0.5)
    lines.append(
        f"  # contamination: {suggested:.3g}   # REVIEW: the share of rows expected to be "
        "anomalies (the labelled share); unset, the threshold with the best F1 on held-out "
        "labelled rows"
    )
    return lines


def _anomaly_gate(
    frame: pd.DataFrame, problem: Problem, features: list[ColumnSchema], truth: pd.Series
) -> tuple[str | None, str]:
    """A PR-AUC gate below what an isolation forest reaches on the labelled rows (its
    scores ranked against the labels on held-out folds; the labels are not fitted), or None
    and why not."""
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    rows = frame.loc[truth.index]
    if len(rows) > MAX_ROWS:
        rows = rows.sample(MAX_ROWS, random_state=0)
    y = truth.loc[rows.index].to_numpy()
    X, _ = _matrix(rows.reset_index(drop=True), features)
    folds = min(3, int(y.sum()), int((~y).sum()))
    if X.shape[1] == 0 or folds < 2:
        return None, "no baseline measured (too few labelled anomalies or no usable column)"
    X = np.where(np.isnan(X), np.nan_to_num(np.nanmedian(X, axis=0))[None, :], X)
    scores = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
        forest = IsolationForest(random_state=0).fit(X[train])
        scores.append(average_precision_score(y[test], -forest.score_samples(X[test])))
    mean, std, share = float(np.mean(scores)), float(np.std(scores)), float(y.mean())
    note = (
        f"baseline pr_auc {mean:.3f} ± {std:.3f} ({folds}-fold isolation forest on "
        f"{len(y):,} rows, labels not fitted, {time.perf_counter() - started:.1f} s); "
        f"a random ranking scores {share:.3f}, the share of anomalies"
    )
    margin = max(0.05, 2 * std)
    gate = math.floor(round((mean - margin) * 100, 6)) / 100
    if gate <= share:
        return None, note + "; little signal, so no gate is drafted"
    if mean >= 0.995:
        note += ". REVIEW: near perfect; check that no column gives the labels away"
    return f"pr_auc >= {gate:.2f}", f"{note}; gate set {margin:.2f} below it"


def _column_lines(
    ids: list[ColumnSchema],
    times: list[ColumnSchema],
    pii: dict[str, str],
    texts: list[ColumnSchema],
    labels: dict[str, str],
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
    why = []
    if pii:
        why.append(
            "personal data detected: "
            + "; ".join(f"{c} ({KIND_NAMES.get(kind_, kind_)})" for c, kind_ in pii.items())
        )
    if labels:
        why.append(f"REVIEW: {_names(labels)} looks like a row label (no feature; see problem)")
    lines.append(
        f"  drop_columns: [{', '.join(_quote(c) for c in [*pii, *labels])}]"
        + (f"   # {'; '.join(why)}" if why else "")
    )
    if texts:
        lines.append(
            "  # free-text columns (not used as features yet): "
            + ", ".join(f"{c.name} ({c.reason})" for c in texts)
        )
    return lines


def _names(columns: dict[str, str]) -> str:
    """``a`` or ``a, b``: column names for a comment."""
    return ", ".join(map(str, columns))


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
