"""One (system, dataset) pair of the AutoML benchmark, run by the system's own interpreter.

    python benchmarks/_automl_worker.py --system flaml --data DIR --budget 60 --out RESULT.json

``benchmarks/automl.py`` starts this file once per pair, in a fresh process and with the
interpreter of the system's virtual environment, so it may import only the standard library at
module level: the one-core pinning and the thread variables must be in place *before* numpy
(or anything that loads a BLAS or OpenMP runtime) is imported.

The worker reads ``train.csv.gz`` with a plain ``pandas.read_csv``, gives the system the target
name, the task type and the metric it will be scored on, fits under the system's own time limit,
predicts ``test.csv.gz`` without the target and writes:

* ``RESULT.json``: status, fit and predict seconds, peak RSS, versions, the class order of the
  probability columns, and the traceback when something failed;
* ``RESULT.npy`` beside it: the class probabilities (classification) or the values
  (regression), scored afterwards by ``benchmarks/_scoring.py`` in the harness.

The system adapters (loopml, flaml, autogluon and the hgb baseline) are all in this file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# This file's directory holds the project's other benchmark scripts, one of them named
# ``profile.py``: on sys.path it would shadow the standard library's ``profile`` (which
# ``cProfile``, and through it torch, imports). The worker needs nothing from there.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
# loopml from this checkout (the revision the results record), not whichever checkout the
# shared virtualenv's editable install points at; the peers' venvs have no loopml to shadow.
# LOOPML_SRC names another checkout's src (benchmarks/automl_revisions.py runs two revisions)
_SRC = os.environ.get("LOOPML_SRC") or os.path.join(os.path.dirname(_HERE), "src")

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
)

#: The primary metric per task, named as each system spells it.
METRIC_NAMES = {
    "loopml": {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"},
    "flaml": {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"},
    "autogluon": {
        "binary": "roc_auc",
        "multiclass": "log_loss",
        "regression": "root_mean_squared_error",
    },
    "hgb": {"binary": "-", "multiclass": "-", "regression": "-"},  # defaults: no metric
}


def pin_one_core(core: int | None) -> int:
    """Pin this process (and what it starts later) to one core; set the thread variables.

    Must run before numpy, pandas or any model library is imported.
    """
    for var in THREAD_VARS:
        os.environ[var] = "1"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = core if core is not None and core in allowed else allowed[-1]
    os.sched_setaffinity(0, {chosen})
    return chosen


def peak_rss_kib() -> tuple[int, int]:
    """(worker, largest waited-for child) peak RSS in KiB (Linux reports ru_maxrss in KiB)."""
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )


# --------------------------------------------------------------------------------------------
# Adapters. Each takes the training frame (target included), the target name, the task
# ("binary" | "multiclass" | "regression"), the budget in seconds, a seed and a scratch
# directory, and returns (model, version). predict_<system>(model, X, task) returns
# (array, classes) with classes None for regression.
# --------------------------------------------------------------------------------------------


def fit_loopml(
    train: Any, target: str, task: str, budget: float, seed: int, scratch: Path, **options: Any
):
    """loopml's estimator on one core; ``options`` are more of its arguments."""
    import loopml
    from loopml import AutoClassifier, AutoRegressor

    X, y = train.drop(columns=[target]), train[target]
    cls = AutoRegressor if task == "regression" else AutoClassifier
    model = cls(
        time_budget=budget,
        metric=METRIC_NAMES["loopml"][task],
        n_jobs=1,
        random_state=seed,
        **options,
    )
    model.fit(X, y)
    return model, getattr(loopml, "__version__", "?")


#: ``family:<name>`` runs one loopml family's portfolio defaults alone (one trial, no tuning,
#: no ensemble), for the portfolio matrix of ``benchmarks/portfolio.py``.
FAMILY_PREFIX = "family:"


def fit_loopml_bag(train: Any, target: str, task: str, budget: float, seed: int, scratch: Path):
    """loopml with ``bagging="auto"``: from 180 s it keeps the best trials' fold models to bag."""
    return fit_loopml(train, target, task, budget, seed, scratch, bagging="auto")


def is_loopml(system: str) -> bool:
    """Whether ``system`` is loopml's search (the default, a variant or one family)."""
    return system in ("loopml", "loopml-bag") or system.startswith(FAMILY_PREFIX)


def fit_loopml_family(
    train: Any, target: str, task: str, budget: float, seed: int, scratch: Path, family: str
):
    return fit_loopml(train, target, task, budget, seed, scratch, models=[family], max_trials=1)


def predict_loopml(model: Any, X: Any, task: str):
    if task != "regression":
        return model.predict_proba(X), list(model.classes_)
    return model.predict(X), None


def fit_flaml(train: Any, target: str, task: str, budget: float, seed: int, scratch: Path):
    import flaml
    from flaml import AutoML

    X, y = train.drop(columns=[target]), train[target]
    automl = AutoML()
    automl.fit(
        X_train=X,
        y_train=y,
        task="regression" if task == "regression" else "classification",
        metric=METRIC_NAMES["flaml"][task],
        time_budget=budget,
        n_jobs=1,
        seed=seed,
        verbose=0,
        log_file_name=str(scratch / "flaml.log"),
    )
    return automl, flaml.__version__


def predict_flaml(model: Any, X: Any, task: str):
    if task != "regression":
        return model.predict_proba(X), list(model.classes_)
    return model.predict(X), None


def fit_autogluon(
    train: Any,
    target: str,
    task: str,
    budget: float,
    seed: int,
    scratch: Path,
    presets: str = "medium_quality",
):
    import autogluon.tabular
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor(
        label=target,
        problem_type=task,
        eval_metric=METRIC_NAMES["autogluon"][task],
        path=str(scratch / "autogluon"),
        verbosity=2,  # its default: the per-pair log shows which models fit in the budget
    )
    predictor.fit(
        train,
        time_limit=budget,
        presets=presets,
        num_cpus=1,
        num_gpus=0,
    )  # no seed argument: every AutoGluon model uses its fixed default seed (0)
    return predictor, autogluon.tabular.__version__


def fit_autogluon_best(train: Any, target: str, task: str, budget: float, seed: int, scratch: Path):
    """AutoGluon's ``best_quality`` preset: bagged and stacked models, at the same budget."""
    return fit_autogluon(train, target, task, budget, seed, scratch, presets="best_quality")


def predict_autogluon(model: Any, X: Any, task: str):
    if task == "regression":
        return model.predict(X).to_numpy(), None
    proba = model.predict_proba(X, as_multiclass=True)
    return proba.to_numpy(), list(proba.columns)


def _minimal_encoder():
    """Ordinal-encode the text columns, pass the numbers through, parse nothing."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OrdinalEncoder

    def text_columns(frame: Any) -> list[str]:
        return [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]

    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    return make_column_transformer(
        (encoder, text_columns), remainder="passthrough", verbose_feature_names_out=False
    )


def fit_hgb(train: Any, target: str, task: str, budget: float, seed: int, scratch: Path):
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import make_pipeline

    X, y = train.drop(columns=[target]), train[target]
    est = (
        HistGradientBoostingRegressor(random_state=seed)
        if task == "regression"
        else HistGradientBoostingClassifier(random_state=seed)
    )
    model = make_pipeline(_minimal_encoder(), est)
    model.fit(X, y)
    return model, sklearn.__version__


def predict_hgb(model: Any, X: Any, task: str):
    if task != "regression":
        return model.predict_proba(X), list(model[-1].classes_)
    return model.predict(X), None


#: Leaderboard sources whose params name the trials they combine (``{"members": ...}``).
COMBINED = ("ensemble", "bag")


def describe(system: str, model: Any) -> dict[str, Any]:
    """What the system ended with (best model, trials), for reading the results; best effort."""
    from collections import Counter

    if is_loopml(system):
        board = model.leaderboard_
        failed = [t for t in board.trials if t.status == "failed" and t.error]
        first = board.trials[0] if board.trials else None
        best = board.best
        return {
            # the first trial: in a family run, the family's defaults (its CV score and cost)
            "first_trial": None
            if first is None
            else {
                "family": first.family,
                "status": first.status,
                "cv_mean": first.mean,
                "folds": len(first.fold_scores),
                "seconds": round(first.seconds, 3),
            },
            "best": best.family,
            # what the search chose on cross-validation, to read beside the held-out score
            "best_cv": best.mean,
            "members": best.params.get("members") if best.source in COMBINED else None,
            "loopml_file": sys.modules["loopml"].__file__,  # the checkout that ran
            "trials": dict(Counter(t.status for t in board.trials)),
            "search_seconds": round(board.elapsed_seconds, 2),
            "trial_errors": sorted({t.error[:300] for t in failed})[:5],
        }
    if system == "flaml":
        return {"best": model.best_estimator}
    if system in ("autogluon", "autogluon-best"):
        return {"best": model.model_best, "models": len(model.model_names())}
    return {"best": type(model[-1]).__name__, "n_iter": int(model[-1].n_iter_)}


#: Modules imported before the fit clock starts: importing a library is not fitting.
PRELOAD = {
    "loopml": ("loopml",),
    "loopml-bag": ("loopml",),
    "family": ("loopml",),
    "flaml": ("flaml",),
    "autogluon": ("autogluon.tabular",),
    "autogluon-best": ("autogluon.tabular",),
    "hgb": ("sklearn.ensemble", "sklearn.compose", "sklearn.pipeline", "sklearn.preprocessing"),
}

ADAPTERS = {
    "loopml": (fit_loopml, predict_loopml),
    "loopml-bag": (fit_loopml_bag, predict_loopml),
    "flaml": (fit_flaml, predict_flaml),
    "autogluon": (fit_autogluon, predict_autogluon),
    "autogluon-best": (fit_autogluon_best, predict_autogluon),
    "hgb": (fit_hgb, predict_hgb),
}


def adapter(system: str) -> tuple[Any, Any]:
    """(fit, predict) of ``system``; ``family:<name>`` is one loopml family alone."""
    if system.startswith(FAMILY_PREFIX):
        family = system.removeprefix(FAMILY_PREFIX)

        def fit(train: Any, target: str, task: str, budget: float, seed: int, scratch: Path):
            return fit_loopml_family(train, target, task, budget, seed, scratch, family)

        return fit, predict_loopml
    return ADAPTERS[system]


def _jsonable(value: Any) -> Any:
    """Class labels as plain JSON values (numpy scalars become Python ones)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def preload(system: str) -> float:
    """Import the system's modules before the fit clock starts; the seconds it took."""
    t0 = time.perf_counter()
    if is_loopml(system) and os.path.isdir(_SRC):
        sys.path.insert(0, _SRC)
    for module in PRELOAD[system.split(":")[0]]:
        importlib.import_module(module)
    return round(time.perf_counter() - t0, 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    core = pin_one_core(args.core)
    result: dict[str, Any] = {
        "system": args.system,
        "dataset": Path(args.data).name,
        "budget": args.budget,
        "seed": args.seed,
        "core": core,
        "python": platform.python_version(),
        "status": "error",
    }
    out = Path(args.out)
    try:
        import numpy as np
        import pandas as pd

        result["numpy"], result["pandas"] = np.__version__, pd.__version__
        meta = json.loads((Path(args.data) / "meta.json").read_text())
        target, task = meta["target"], meta["task"]
        fit, predict = adapter(args.system)
        result["import_seconds"] = preload(args.system)
        train = pd.read_csv(Path(args.data) / "train.csv.gz")
        with tempfile.TemporaryDirectory(prefix=f"bench-{args.system}-") as scratch:
            t0 = time.perf_counter()
            model, version = fit(train, target, task, args.budget, args.seed, Path(scratch))
            result["fit_seconds"] = time.perf_counter() - t0
            result["version"] = version
            try:
                result["model"] = describe(args.system, model)
            except Exception as exc:  # a description is never worth failing the pair
                result["model"] = {"best": f"? ({type(exc).__name__}: {exc})"}
            if is_loopml(args.system):  # the whole leaderboard, to the pair's log
                print(json.dumps(model.leaderboard_.to_dict(), default=str), flush=True)
            del train
            test = pd.read_csv(Path(args.data) / "test.csv.gz").drop(columns=[target])
            t0 = time.perf_counter()
            prediction, classes = predict(model, test, task)
            result["predict_seconds"] = time.perf_counter() - t0
        prediction = np.asarray(prediction, dtype=float)
        if prediction.shape[0] != len(test):
            raise ValueError(f"{prediction.shape[0]} predictions for {len(test)} test rows")
        np.save(out.with_suffix(".npy"), prediction)
        result["classes"] = None if classes is None else [_jsonable(c) for c in classes]
        result["status"] = "ok"
    except BaseException as exc:  # report anything, including MemoryError and KeyboardInterrupt
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    self_kib, children_kib = peak_rss_kib()
    result["peak_rss_self_kib"], result["peak_rss_children_kib"] = self_kib, children_kib
    out.write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--system", required=True, help=f"{', '.join(sorted(ADAPTERS))} or {FAMILY_PREFIX}<name>"
    )
    parser.add_argument("--data", required=True, help="the dataset directory (meta.json etc.)")
    parser.add_argument("--budget", type=float, default=60.0, help="fit seconds")
    parser.add_argument("--out", required=True, help="the result JSON file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--core", type=int, default=None, help="the core to pin to")
    result = run(parser.parse_args(argv))
    if result["status"] != "ok":
        print(result.get("traceback", result.get("error")), file=sys.stderr)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
