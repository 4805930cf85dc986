"""Stage 7b: deployment. Batch scoring now; the REST service and ONNX export come later."""

from __future__ import annotations

from loopml.serving._batch import ScoringSummary, score_file

__all__ = ["ScoringSummary", "score_file"]
