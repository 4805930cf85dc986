"""What the ONNX export and runtime share without loading onnx: the input conventions and
the conversion error."""

from __future__ import annotations

import numpy as np

from loopml.errors import LoopmlError

#: The opsets of the exported graphs: ONNX 17 (Where on strings, GreaterOrEqual) and the ML
#: domain 3 (LabelEncoder, tree ensembles).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}

#: A missing category label in the model's string inputs (never a real label: FrameCoercer
#: reads blank labels as missing).
MISSING_LABEL = ""

#: int64 value of a missing timestamp (NaT) in the model's datetime inputs (epoch nanoseconds).
MISSING_STAMP = np.iinfo(np.int64).min


class OnnxConversionError(LoopmlError, ValueError):
    """A fitted pipeline that cannot be written as ONNX; the message names the step."""


def cannot_convert(step: str, reason: str) -> OnnxConversionError:
    """The error for one step: what it is, why it does not convert, and what to do."""
    return OnnxConversionError(
        f"the pipeline cannot be exported to ONNX: step {step!r} {reason}. Serve this model "
        "with `loopml serve --runtime python`, or retrain without that step."
    )
