"""Errors loopml raises for user mistakes, and how each maps to an exit code and HTTP status.

Every error says what failed, where, what was expected and how to fix it. The CLI prints the
message (no traceback) and exits with :data:`EXIT_CODES`; the REST service answers with
:data:`HTTP_STATUS`.
"""

from __future__ import annotations


class LoopmlError(Exception):
    """Base class of every error loopml raises on purpose."""


class ConfigError(LoopmlError, ValueError):
    """The project file is invalid: unknown key, wrong type, impossible combination."""


class DataError(LoopmlError, ValueError):
    """Input data is missing, unreadable or unusable for the problem as defined."""


class SchemaError(DataError):
    """Input rows do not match the schema a model was trained on."""


class TrainingError(LoopmlError, RuntimeError):
    """No candidate model could be trained within the budget."""


class RegistryError(LoopmlError, RuntimeError):
    """The model registry or tracking store refused an operation."""


class ModelNotFoundError(RegistryError, LookupError):
    """A model version or alias does not exist."""


class IntegrityError(RegistryError):
    """A model artifact does not match the checksum recorded at registration."""


#: The exit code of ``loopml monitor`` and ``loopml watch --once`` when a window drifted or
#: decayed: not an error, so its own code, distinct from every code in :data:`EXIT_CODES`
#: (1 to 7) and from 130. Here, in the lowest layer, so the CLI reads it without importing
#: the statistics.
EXIT_DRIFT = 10

#: The exit code of ``loopml evaluate`` when the model fails its success gate: the evaluation
#: itself worked (its output is complete), the model did not pass, so a pipeline step that
#: checks a model stops there.
EXIT_GATE = 11

#: One table: error class -> CLI exit code. Most specific class first.
EXIT_CODES: dict[type[LoopmlError], int] = {
    ConfigError: 2,
    SchemaError: 4,
    DataError: 3,
    TrainingError: 5,
    ModelNotFoundError: 6,
    IntegrityError: 7,
    RegistryError: 6,
    LoopmlError: 1,
}

#: One table: error class -> HTTP status for the REST service.
HTTP_STATUS: dict[type[LoopmlError], int] = {
    ConfigError: 400,
    SchemaError: 422,
    DataError: 422,
    TrainingError: 500,
    ModelNotFoundError: 404,
    IntegrityError: 500,
    RegistryError: 503,
    LoopmlError: 500,
}


def exit_code(error: LoopmlError) -> int:
    """The CLI exit code for ``error`` (the entry of its nearest class in the table)."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def http_status(error: LoopmlError) -> int:
    """The HTTP status for ``error`` (the entry of its nearest class in the table)."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500
