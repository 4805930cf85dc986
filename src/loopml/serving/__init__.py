"""Stage 7b: deployment. Batch scoring now; the REST service and ONNX export come later."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.serving._batch import ScoringSummary, score_file

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.serving._batch": ["ScoringSummary", "score_file"],
    },
)

__all__ = ["ScoringSummary", "score_file"]
