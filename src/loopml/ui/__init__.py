"""The web dashboard (``loopml ui``): a model's whole life in one place, read from the
project's stores: runs, versions and their aliases, data findings, monitoring, retraining."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.ui._facts import Dashboard
    from loopml.ui._runs import RunPage, RunRow, RunStore
    from loopml.ui.app import create_ui_app, dashboard_key, serve_ui

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.ui._facts": ["Dashboard"],
        "loopml.ui._runs": ["RunPage", "RunRow", "RunStore"],
        "loopml.ui.app": ["create_ui_app", "dashboard_key", "serve_ui"],
    },
)

__all__ = [
    "Dashboard",
    "RunPage",
    "RunRow",
    "RunStore",
    "create_ui_app",
    "dashboard_key",
    "serve_ui",
]
