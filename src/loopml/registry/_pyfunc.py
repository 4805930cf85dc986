"""The MLflow pyfunc flavour of a loopml model, so `mlflow models serve` works on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel


class LoopmlPyfunc(PythonModel):
    """Loads the :class:`~loopml.registry.ModelBundle` (checksums verified) and predicts."""

    def load_context(self, context: Any) -> None:
        from loopml.registry._bundle import ModelBundle

        self.bundle = ModelBundle.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.bundle.predict_frame(frame)
