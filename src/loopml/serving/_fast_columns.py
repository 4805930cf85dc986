"""The compiled ``ColumnTransformer``: named columns in, the model's numeric matrix out.

Numeric blocks (imputation with missing indicators, scaling, indicators alone) are computed
with the fitted statistics. Category blocks (one-hot, ordinal and target encoding, with the
imputation before them) are turned into lookup tables at load: every label the fitted
encoder knows, a missing value and an unseen label are run once through the fitted
transformer, so a request copies the very numbers the transformer gives. Text goes through
the fitted TF-IDF vectorizer directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from loopml.serving._fast_table import NoFastForm, Table

#: A compiled block: the table -> its (rows x width) part of the matrix.
BlockFn = Callable[[Table, int], np.ndarray]
MatrixFn = Callable[[np.ndarray], np.ndarray]

#: A label no training row can have, to learn what the encoders do with unseen ones.
_UNSEEN = "\x00loopml-unseen\x00"


def compile_column_transformer(step: Any, roles: dict[str, str]) -> Callable[[Table], Any]:
    """The fitted ``ColumnTransformer`` as one function from a table to the model's matrix."""
    if getattr(step, "sparse_output_", False):
        raise NoFastForm("it gives a sparse matrix")
    width = int(max((s.stop for s in step.output_indices_.values()), default=0))
    blocks: list[tuple[slice, BlockFn]] = []
    for name, transformer, columns in step.transformers_:
        where = step.output_indices_.get(name, slice(0, 0))
        if transformer == "drop" or where.stop == where.start:
            continue
        columns = [str(c) for c in _names(columns, step)]
        block = _block(name, transformer, columns, roles)
        blocks.append((where, block))

    def transform(table: Table) -> np.ndarray:
        n = len(next(iter(table.values()))) if table else 0
        out = np.empty((n, width), dtype=float)
        for where, block in blocks:
            out[:, where] = block(table, n)
        return out

    return transform


def _names(columns: Any, step: Any) -> Sequence[Any]:
    if isinstance(columns, str):
        return [columns]
    array = np.asarray(columns)
    if array.dtype.kind in "iu":
        return [step.feature_names_in_[j] for j in array]
    if array.dtype.kind == "b":
        return list(np.asarray(step.feature_names_in_)[array])
    return list(columns)


def _block(name: str, transformer: Any, columns: list[str], roles: dict[str, str]) -> BlockFn:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from loopml.features import TextVectorizer

    kinds = {roles.get(c, "numeric") for c in columns}
    if isinstance(transformer, TextVectorizer):
        return _text_block(transformer, columns)
    if kinds <= {"categorical"}:
        return _lookup_block(transformer, columns)
    if kinds & {"categorical", "text", "datetime"}:
        raise NoFastForm(f"the block {name!r} mixes column kinds {sorted(kinds)}")
    if isinstance(transformer, FunctionTransformer) and transformer.func is None:
        steps: list[MatrixFn] = []
    elif isinstance(transformer, Pipeline):
        steps = [compile_numeric(s) for _, s in transformer.steps if s != "passthrough"]
    else:
        steps = [compile_numeric(transformer)]

    def numeric(table: Table, n: int) -> np.ndarray:
        X = np.empty((n, len(columns)), dtype=float)
        for j, c in enumerate(columns):
            X[:, j] = table[c]
        for fn in steps:
            X = fn(X)
        return X

    return numeric


def compile_numeric(step: Any) -> MatrixFn:
    """A fitted numeric matrix step: imputer, scaler, missing indicator, feature selector."""
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.preprocessing import StandardScaler

    if isinstance(step, SimpleImputer):
        return _imputer(step)
    if isinstance(step, StandardScaler):
        return _scaler(step)
    if isinstance(step, MissingIndicator):
        features = np.asarray(step.features_, dtype=int)
        return lambda X: np.isnan(X[:, features])
    if hasattr(step, "get_support") and hasattr(step, "support_"):  # loopml's selectors
        keep = np.asarray(step.get_support(), dtype=bool)
        return lambda X: X[:, keep]
    raise NoFastForm(f"{type(step).__name__} has no compiled form")


def _imputer(step: Any) -> MatrixFn:
    if not (isinstance(step.missing_values, float) and np.isnan(step.missing_values)):
        raise NoFastForm(f"SimpleImputer(missing_values={step.missing_values!r})")
    fill = np.asarray(step.statistics_, dtype=float)
    indicator = getattr(step, "indicator_", None)
    flagged = None if indicator is None else np.asarray(indicator.features_, dtype=int)

    def impute(X: np.ndarray) -> np.ndarray:
        missing = np.isnan(X)
        out = np.where(missing, fill, X)
        if flagged is None:
            return out
        return np.hstack([out, missing[:, flagged].astype(float)])

    return impute


def _scaler(step: Any) -> MatrixFn:
    mean = None if step.mean_ is None or not step.with_mean else np.asarray(step.mean_)
    scale = None if step.scale_ is None or not step.with_std else np.asarray(step.scale_)

    def scale_fn(X: np.ndarray) -> np.ndarray:
        out = np.array(X, dtype=float)
        if mean is not None:
            out -= mean
        if scale is not None:
            out /= scale
        return out

    return scale_fn


def _text_block(transformer: Any, columns: list[str]) -> BlockFn:
    vectorizer = transformer.vectorizer_
    column = columns[0]
    tfidf = None if vectorizer is None else _tfidf(vectorizer)

    def text(table: Table, n: int) -> np.ndarray:
        documents = [v if isinstance(v, str) else "" for v in table[column]]
        if vectorizer is None:
            return np.zeros((n, 0))
        if tfidf is not None:
            return tfidf(documents)
        return np.asarray(vectorizer.transform(documents).toarray(), dtype=float)

    return text


def _tfidf(vectorizer: Any) -> Callable[[list[str]], np.ndarray] | None:
    """The fitted ``TfidfVectorizer.transform`` of loopml's settings (sublinear term counts,
    idf weights, l2 norm) on a few documents, without building sparse matrices; None for
    other settings, which then call the vectorizer itself."""
    if not (
        vectorizer.sublinear_tf
        and vectorizer.use_idf
        and vectorizer.norm == "l2"
        and not vectorizer.binary
        and vectorizer.dtype == np.float64
    ):
        return None
    analyze = vectorizer.build_analyzer()
    vocabulary = dict(vectorizer.vocabulary_)
    idf = np.asarray(vectorizer.idf_, dtype=float)
    width = len(idf)

    def transform(documents: list[str]) -> np.ndarray:
        out = np.zeros((len(documents), width))
        for i, document in enumerate(documents):
            counts: dict[int, int] = {}
            for term in analyze(document):
                j = vocabulary.get(term)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            where = np.asarray(sorted(counts), dtype=np.intp)
            values = np.log(np.asarray([counts[j] for j in where], dtype=float)) + 1.0
            values *= idf[where]
            total = 0.0
            for v in values.tolist():  # summed in index order, as scikit-learn's l2 norm
                total += v * v
            norm = math.sqrt(total)
            out[i, where] = values / norm if norm != 0 else values
        return out

    return transform


def _lookup_block(transformer: Any, columns: list[str]) -> BlockFn:
    """Per-column lookup tables of a fitted transformer whose output for one column depends
    on that column alone (imputation + one-hot/ordinal encoding, target encoding)."""
    labels = _known_labels(transformer, len(columns))
    base = _run(transformer, columns, [[np.nan] * len(columns)])[0]
    tables = []
    taken = np.zeros(len(base), dtype=bool)
    for j, column in enumerate(columns):
        probe: list[Any] = [*labels[j], np.nan, _UNSEEN]
        rows: list[list[Any]] = [[np.nan] * len(columns) for _ in probe]
        for r, label in enumerate(probe):
            rows[r][j] = label
        output = _run(transformer, columns, rows)
        changed = ~np.all(_same(output, base), axis=0)
        if np.any(changed & taken):
            raise NoFastForm(f"{type(transformer).__name__} mixes columns in its output")
        taken |= changed
        index = {label: r for r, label in enumerate(labels[j])}
        where = np.flatnonzero(changed)
        tables.append((column, index, output[:, where], where, len(probe) - 2))

    def lookup(table: Table, n: int) -> np.ndarray:
        out = np.tile(base, (n, 1))
        for column, index, values, where, missing in tables:
            rows = [
                index.get(v, missing + 1) if isinstance(v, str) else missing for v in table[column]
            ]
            out[:, where] = values[rows]
        return out

    return lookup


def _known_labels(transformer: Any, n_columns: int) -> list[list[str]]:
    """The labels the transformer's encoder was fitted on, per column."""
    encoder = transformer
    if hasattr(transformer, "steps"):
        encoder = next((s for _, s in transformer.steps if hasattr(s, "categories_")), transformer)
    categories = getattr(encoder, "categories_", None)
    if categories is None or len(categories) != n_columns:
        raise NoFastForm(f"{type(transformer).__name__} has no categories to look up")
    return [[c for c in cats if isinstance(c, str)] for cats in categories]


def _run(transformer: Any, columns: list[str], rows: list[list[Any]]) -> np.ndarray:
    import pandas as pd

    data = {c: pd.Series([r[j] for r in rows], dtype=object) for j, c in enumerate(columns)}
    out = transformer.transform(pd.DataFrame(data))
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.asarray(out, dtype=float)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))
