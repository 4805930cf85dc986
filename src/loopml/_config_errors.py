"""Errors in loopml.yaml that name the key, the file and the key's line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from pydantic import ValidationError


class KeyRuleError(ValueError):
    """A rule about keys of a section broken: the error points at ``key``'s line.

    ``key`` and ``related`` are dotted paths relative to the section whose validator raises
    (``ProjectConfig``'s are absolute); the message names where the related keys are.
    """

    def __init__(self, message: str, key: str, *related: str):
        super().__init__(message)
        self.key = tuple(key.split("."))
        self.related = tuple(tuple(r.split(".")) for r in related)


def line_index(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every key path in a YAML document to its 1-based line."""
    lines: dict[tuple[Any, ...], int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, key_node.value)
            lines.update(line_index(value_node, key_path))
            lines[key_path] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(line_index(item, (*path, i)))
    return lines


def format_errors(
    exc: ValidationError,
    source: str,
    lines: dict[tuple[Any, ...], int],
    allowed_keys: Callable[[tuple[Any, ...]], list[str]],
) -> str:
    """One line per problem: the key, what is wrong, the file and the key's line.

    ``allowed_keys`` gives the keys a location accepts, for unknown-key hints.
    """
    messages = []
    for err in exc.errors():
        tags = ("csv", "parquet", "json", "jsonl", "sql", "duckdb", "http")
        loc = tuple(part for part in err["loc"] if part not in tags)
        # pydantic appends the discriminator tag and validator names to locations; drop them
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        cause = (err.get("ctx") or {}).get("error")
        related: list[str] = []
        if isinstance(cause, KeyRuleError):  # point at the key the rule is about
            found = (_where_key((*loc, *r), lines) for r in cause.related)
            related = [w for w in found if w is not None]
            loc = (*loc, *cause.key)
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(loc, lines)
        where = f"{source}, line {line}" if line else source
        if related:
            where += "; " + ", ".join(related)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = allowed_keys(tuple(err["loc"][:-1]))
            hint = f" Allowed keys here: {', '.join(allowed)}." if allowed else ""
            messages.append(f"{key}: unknown key ({where}).{hint} Remove it or fix its spelling.")
        elif err["type"] == "missing":
            messages.append(f"{key}: required key is missing ({where}). Add it.")
        else:
            value = err.get("input")
            # a message that already quotes the value does not repeat it
            quoted = err["type"] == "value_error" and repr(value) in msg
            got = "" if isinstance(value, dict) or quoted else f", got {value!r}"
            messages.append(f"{key}: {msg}{got} ({where}).")
    return "\n".join(messages)


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    """The line of ``loc``, or of its nearest enclosing key written in the file."""
    return next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)


def _where_key(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> str | None:
    """``problem.task on line 3``; None when the file does not write the key."""
    return f"{'.'.join(str(p) for p in loc)} on line {lines[loc]}" if loc in lines else None


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice (lines {seen[key]} and {line}); keep one",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)
