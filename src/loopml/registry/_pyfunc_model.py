"""Entry point MLflow runs to build a loopml pyfunc model ("models from code")."""

from __future__ import annotations

import mlflow.models

from loopml.registry._pyfunc import LoopmlPyfunc

mlflow.models.set_model(LoopmlPyfunc())
