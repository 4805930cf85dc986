"""Stage 8 (on top of the others): promotion decisions; retraining comes later."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.loop._promote import PromotionDecision, decide_promotion

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.loop._promote": ["PromotionDecision", "decide_promotion"],
    },
)

__all__ = ["PromotionDecision", "decide_promotion"]
