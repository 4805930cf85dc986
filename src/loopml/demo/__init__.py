"""The demo project: a customer-churn problem with realistic, messy data."""

from __future__ import annotations

from loopml._lazy import lazy_exports as _lazy_exports

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.demo._churn": ["generate_customers"],
        "loopml.demo._project": ["write_demo_project"],
    },
)

__all__ = ["generate_customers", "write_demo_project"]
