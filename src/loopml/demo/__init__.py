"""The demo project: a customer-churn problem with realistic, messy data, and the loop it
lives through (days of traffic through the real service, drift, monitoring, retraining)."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.demo._churn import generate_customers
    from loopml.demo._loop import DayRecord, DemoLoop, LoopResult
    from loopml.demo._project import write_demo_project
    from loopml.demo._report import summary_rows
    from loopml.demo._timeline import DemoTimeline

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.demo._churn": ["generate_customers"],
        "loopml.demo._loop": ["DayRecord", "DemoLoop", "LoopResult"],
        "loopml.demo._project": ["write_demo_project"],
        "loopml.demo._report": ["summary_rows"],
        "loopml.demo._timeline": ["DemoTimeline"],
    },
)

__all__ = [
    "DayRecord",
    "DemoLoop",
    "DemoTimeline",
    "LoopResult",
    "generate_customers",
    "summary_rows",
    "write_demo_project",
]
