"""loopml.errors: the class tree, and the exit code and HTTP status of every error."""

from __future__ import annotations

import inspect

import pytest

from loopml import errors
from loopml.errors import (
    EXIT_CODES,
    HTTP_STATUS,
    ConfigError,
    DataError,
    IntegrityError,
    LoopmlError,
    ModelNotFoundError,
    RegistryError,
    SchemaError,
    TrainingError,
    exit_code,
    http_status,
)

ERROR_CLASSES = [
    obj
    for _, obj in inspect.getmembers(errors, inspect.isclass)
    if issubclass(obj, LoopmlError) and obj.__module__ == errors.__name__
]


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (ConfigError, (ValueError,)),
        (DataError, (ValueError,)),
        (SchemaError, (DataError, ValueError)),
        (TrainingError, (RuntimeError,)),
        (RegistryError, (RuntimeError,)),
        (ModelNotFoundError, (RegistryError, RuntimeError, LookupError)),
        (IntegrityError, (RegistryError, RuntimeError)),
    ],
)
def test_error_classes_also_subclass_the_builtin(
    cls: type[LoopmlError], bases: tuple[type, ...]
) -> None:
    assert issubclass(cls, LoopmlError)
    for base in bases:
        assert issubclass(cls, base)


def test_loopml_error_is_a_plain_exception() -> None:
    assert LoopmlError.__bases__ == (Exception,)


def test_a_builtin_except_clause_catches_the_loopml_error() -> None:
    with pytest.raises(ValueError, match=r"^bad key$"):
        raise ConfigError("bad key")
    with pytest.raises(LookupError, match=r"^no version 7$"):
        raise ModelNotFoundError("no version 7")


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (LoopmlError("x"), 1, 500),
        (ConfigError("x"), 2, 400),
        (DataError("x"), 3, 422),
        (SchemaError("x"), 4, 422),
        (TrainingError("x"), 5, 500),
        (RegistryError("x"), 6, 503),
        (ModelNotFoundError("x"), 6, 404),
        (IntegrityError("x"), 7, 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_exit_code_and_http_status_per_class(error: LoopmlError, code: int, status: int) -> None:
    assert exit_code(error) == code
    assert http_status(error) == status


def test_every_error_class_has_an_entry_in_both_tables() -> None:
    assert set(ERROR_CLASSES) == set(EXIT_CODES) == set(HTTP_STATUS)


def test_failure_exit_codes_are_never_zero() -> None:
    assert all(code != 0 for code in EXIT_CODES.values())


def test_http_statuses_are_errors() -> None:
    assert all(400 <= status < 600 for status in HTTP_STATUS.values())


def test_an_unlisted_subclass_takes_the_entry_of_its_nearest_listed_class() -> None:
    class ColumnTypeError(SchemaError):
        pass

    class AliasMissing(ModelNotFoundError):
        pass

    class PluginError(LoopmlError):
        pass

    assert (exit_code(ColumnTypeError("x")), http_status(ColumnTypeError("x"))) == (4, 422)
    assert (exit_code(AliasMissing("x")), http_status(AliasMissing("x"))) == (6, 404)
    assert (exit_code(PluginError("x")), http_status(PluginError("x"))) == (1, 500)


def test_the_message_is_kept_verbatim() -> None:
    message = "data file a.csv is empty (0 bytes). It needs a header row and data."
    assert str(DataError(message)) == message
