"""Champion against challenger on the same rows: the paired test of the primary metric.

It lives in :mod:`loopml.evaluation` (``evaluation/_paired.py``), below monitoring, which
compares the online variants with it too; loop's modules and callers import it from here.
"""

from __future__ import annotations

from loopml.evaluation import (
    MCNEMAR_EXACT_BELOW,
    PairedTest,
    Scored,
    bootstrap_p_value,
    mcnemar,
    paired_test,
)

__all__ = [
    "MCNEMAR_EXACT_BELOW",
    "PairedTest",
    "Scored",
    "bootstrap_p_value",
    "mcnemar",
    "paired_test",
]
