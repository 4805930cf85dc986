"""`loopml init`: a commented draft of ``loopml.yaml`` inferred from a data file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from loopml.config import ProblemConfig, parse_config
from loopml.data._problem import prepare_target, resolve_problem
from loopml.data._schema import infer_schema
from loopml.data._sources import file_kind, read_file


def draft_config(data_path: Path, target: str, project_dir: Path, name: str | None = None) -> str:
    """The text of a commented ``loopml.yaml`` for ``data_path`` predicting ``target``."""
    kind = file_kind(data_path)
    frame = read_file(data_path, kind)
    if len(frame) == 0:
        from loopml.errors import DataError

        raise DataError(f"{data_path} has a header but no rows; init needs data to look at.")
    problem = resolve_problem(frame, ProblemConfig(target=target))
    schema = infer_schema(frame, target)
    ids = [c for c in schema.columns if c.role == "id" and c.pii is None]
    pii = [c for c in schema.columns if c.pii is not None]
    times = [c for c in schema.columns if c.role == "datetime"]
    texts = [c for c in schema.columns if c.role == "text"]
    try:
        rel = data_path.resolve().relative_to(project_dir.resolve())
    except ValueError:
        rel = data_path.resolve()
    name = name or re.sub(r"[^A-Za-z0-9_.-]", "-", project_dir.resolve().name or "project")
    if not re.match(r"^[A-Za-z0-9]", name):
        name = "project-" + name.lstrip("-_.")

    gate = _suggest_gate(problem.task, frame[target])
    lines = [
        "# loopml project file, drafted by `loopml init`. Review every line marked REVIEW.",
        f"# Data: {data_path.name}: {len(frame)} rows x {frame.shape[1]} columns.",
        f"name: {_quote(name)}",
        "",
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
    lines.append(f'  success: "{gate}"   # REVIEW: the gate a model must pass to become champion')
    lines += [
        "",
        "data:",
        f"  source: {{type: {kind}, path: {_quote(str(rel))}}}",
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
    drop = [c.name for c in pii]
    lines.append(
        f"  drop_columns: [{', '.join(_quote(c) for c in drop)}]"
        + (
            "   # personal data detected: " + "; ".join(f"{c.name} ({c.pii})" for c in pii)
            if pii
            else ""
        )
    )
    if texts:
        lines.append(
            "  # free-text columns (not used as features yet): "
            + ", ".join(f"{c.name} ({c.reason})" for c in texts)
        )
    lines += [
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
    ]
    text = "\n".join(lines)
    parse_config(text, source="draft loopml.yaml")  # the draft itself must be valid
    return text


def _suggest_gate(task: str, target: pd.Series) -> str:
    if task == "regression":
        return "r2 >= 0.5"
    if task == "binary":
        return "roc_auc >= 0.75"
    # multiclass: 10% below the log loss of always predicting the class frequencies
    shares = target.dropna().value_counts(normalize=True).to_numpy()
    prior = float(-(shares * np.log(shares)).sum())
    return f"log_loss <= {0.9 * prior:.3f}"


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
