"""The demo project: a customer-churn problem with realistic, messy data."""

from __future__ import annotations

from loopml.demo._churn import generate_customers
from loopml.demo._project import write_demo_project

__all__ = ["generate_customers", "write_demo_project"]
