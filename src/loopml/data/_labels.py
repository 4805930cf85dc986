"""Spellings of one label: the rules category columns and the target share.

A category column is cleaned inside the pipeline (:class:`loopml.features.CategoryMerger`),
the target before training (:func:`loopml.data.resolve_problem`); both use :func:`merge_map`,
so ``Yes``, ``yes `` and ``YES`` are one category in a feature and one class in the target:

* with ``normalize``, labels equal after trimming and case-folding are one label;
* with ``merge_similar``, labels are visited from the most to the least frequent; a yes/no
  abbreviation ("y") joins the first spelling of its value seen ("yes"), and a label of four
  characters or more joins a more frequent label when difflib's ratio reaches ``similarity``,
  their digits agree ("plan 2" never joins "plan 3") and it holds at most ``VARIANT_SHARE`` of
  that label's rows (typos are rare next to the right spelling; two real categories are often
  about as frequent).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopml.config import CategoryCleaning

YES = frozenset({"yes", "y", "true", "t", "1"})
NO = frozenset({"no", "n", "false", "f", "0"})
#: A spelling variant is at most this share of the label it is merged into.
VARIANT_SHARE = 0.25
#: The default of ``cleaning.categories.similarity``.
SIMILARITY = 0.88
_NOT_DIGITS = re.compile(r"\D")


def merge_map(counts: pd.Series, similarity: float = SIMILARITY) -> dict[str, str]:
    """label -> canonical label, for labels that are spelling variants of a more frequent one.

    ``counts`` holds the rows per label, most frequent first. Labels whose digits differ are
    never merged ("id_11" is not a typo of "id_1", nor "v57" of "v58"): codes differ in one
    character by design.
    """
    canonical: list[tuple[str, str, int]] = []  # label, its digits, its count
    mapping: dict[str, str] = {}
    for label, count in counts.items():
        target = None
        if label in YES or label in NO:
            group = YES if label in YES else NO
            target = next((c for c, _, _ in canonical if c in group), None)
        digits = _NOT_DIGITS.sub("", label)
        if target is None and len(label) >= 4:  # short codes ("a1", "b1") are not typos
            options = [c for c, d, n in canonical if d == digits and count <= VARIANT_SHARE * n]
            close = difflib.get_close_matches(label, options, n=1, cutoff=similarity)
            target = close[0] if close else None
        if target is None:
            canonical.append((label, digits, int(count)))
        else:
            mapping[label] = target
    return mapping


def label_key(label: str) -> str:
    """A label as the normalisation compares it: trimmed and case-folded."""
    return label.strip().casefold()


def spelling_map(values: pd.Series, rules: CategoryCleaning | None = None) -> dict[str, str]:
    """Each distinct label (as trimmed text) -> the spelling of the label it belongs to.

    Labels one of the module's rules makes one label map to the most common spelling among
    them, as written in the data (trimmed): "Yes" for ``Yes`` × 10, ``yes `` × 2, ``YES`` × 1.
    ``rules`` is ``cleaning.categories`` (its defaults when None). Missing and blank values are
    left out.

    Examples
    --------
    >>> labels = pd.Series(["Yes"] * 3 + ["yes ", "YES", "No", "no"])
    >>> spelling_map(labels)
    {'Yes': 'Yes', 'yes': 'Yes', 'YES': 'Yes', 'No': 'No', 'no': 'No'}
    """
    text = values.dropna().astype(str).str.strip()
    counts = text[text != ""].value_counts(sort=False)
    if not len(counts):
        return {}
    order = np.argsort(-counts.to_numpy(), kind="stable")  # most frequent first, then first seen
    counts = counts.iloc[order]
    rules = rules if rules is not None else CategoryCleaning()
    labels = [str(label) for label in counts.index]
    keys = [label_key(label) if rules.normalize else label for label in labels]
    by_key = pd.Series(counts.to_numpy(), index=keys).groupby(level=0, sort=False).sum()
    by_key = by_key.iloc[np.argsort(-by_key.to_numpy(), kind="stable")]
    merged = merge_map(by_key, rules.similarity) if rules.merge_similar else {}
    spelling: dict[str, str] = {}
    for label, key in zip(labels, keys, strict=True):  # most common spelling of a group first
        spelling.setdefault(merged.get(key, key), label)
    return {label: spelling[merged.get(key, key)] for label, key in zip(labels, keys, strict=True)}


def match_labels(
    values: pd.Series,
    classes: Sequence[Any],
    known: Mapping[str, Any] | None = None,
    similarity: float = SIMILARITY,
) -> pd.Series:
    """Text labels mapped onto ``classes`` by the same rules; unmatched labels stay as they are.

    A label is matched, in this order: as written (trimmed); through ``known`` (the variants
    merged in training); by its normalised form when exactly one class has it; as a yes/no
    abbreviation of exactly one class; or as a near-duplicate spelling (difflib ratio at least
    ``similarity``, same digits, four characters or more) of one class. Used on labelled files
    scored after training, whose label counts say nothing about which spelling is a typo.
    """
    names = {str(c): c for c in classes}
    by_key: dict[str, list[Any]] = {}
    for c in classes:
        by_key.setdefault(label_key(str(c)), []).append(c)
    flags = [[c for c in classes if label_key(str(c)) in group] for group in (YES, NO)]
    unique = [k for k, group in by_key.items() if len(group) == 1]
    known = dict(known or {})

    def one(label: str) -> Any:
        if label in names:
            return names[label]
        if label in known:
            return known[label]
        key = label_key(label)
        if len(by_key.get(key, [])) == 1:
            return by_key[key][0]
        for group, members in zip((YES, NO), flags, strict=True):
            if key in group and len(members) == 1:
                return members[0]
        if len(key) >= 4:
            digits = _NOT_DIGITS.sub("", key)
            options = [k for k in unique if _NOT_DIGITS.sub("", k) == digits]
            close = difflib.get_close_matches(key, options, n=1, cutoff=similarity)
            if close:
                return by_key[close[0]][0]
        return label

    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    lookup = {label: one(label) for label in text.dropna().unique()}
    out = text.astype(object).map(lookup)
    return out.where(text.notna(), None).astype(object).rename(values.name)
