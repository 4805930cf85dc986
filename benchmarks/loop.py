"""The loop against never retraining and retraining every window (issue 11, part 10).

A prequential stream: the rows in time order, an initial part to train the first model on,
then ``W`` windows. Each window is first predicted by each policy's current model (its
primary metric on the window is the prequential score), then its labels arrive and the
policy may retrain before the next window. Three policies on the same stream, in one run:

- ``never``: the initial model predicts every window.
- ``every window``: after each window, a model trained on the initial part plus every
  labelled window so far replaces the current one.
- ``loop``: loopml's loop with its default settings. The window's predictions and then its
  labels go into a real prediction log (SQLite); :func:`loopml.monitoring.monitor` tests the
  window against the champion's stored reference (feature drift with Benjamini-Hochberg at
  ``monitoring.alpha`` and ``min_effect``, prediction drift, data quality, the realised metric
  against the holdout baseline); :func:`loopml.loop.should_retrain` applies ``retraining:``
  (``on_drift``, ``on_metric_drop`` against the holdout score, ``min_labelled_rows``). A
  challenger trains on the same growing data *without* the latest window, which is the common
  holdout: :func:`loopml.loop.paired_test` (paired bootstrap, 1000 resamples, alpha 0.05)
  and :func:`loopml.loop.promotion` decide whether it replaces the champion, as
  ``loopml retrain`` does (no ``problem.success`` gate is set, so only the test decides).

Diagnostic rows, one setting changed at a time, explain the difference: every-window trained
without the latest window (the data the loop's challenger gets), the loop with
``promote_if: better`` (no significance), and the loop with ``on_drift: false`` (only the
metric-drop trigger). The goal is judged on the three policies above with loopml's defaults.

Training is the one used by ``Project.train``: :func:`loopml.data.prepare_data` (the
project's holdout: the latest 20% of the rows by the time column, never trained on), then
:func:`loopml.modeling.train_model` on the rest (LightGBM, 3 trials, 3 time-ordered folds,
one core, seed 42: a budget that does not bind, so the same data give the same model), the
holdout metrics (the baseline the monitoring and the metric-drop trigger compare with) and
the monitoring reference (``_train_register.monitoring_reference``). Registration, the
diagnostics and the HTML report are left out. A model trained on the same rows is trained
once and shared: the loop's challenger after window ``t`` is the every-window model after
window ``t - 1``; each policy is charged the training time of the models it used.

Streams: the demo's churn generator (``loopml.demo.generate_customers``), customers in signup
order: the first 20,000 to start, then 30 windows of 1,000; rows before the middle window come
from a table with the drift knob at 0, rows from it on from one with the knob at 1 (the same
signup span, so tenures are counted to the same date); and ``bike_sharing_hourly`` of
``../shared/bench`` (train then test, in time order: 2011-2012 hourly rentals), its first
quarter as the initial part, the rest cut into windows.

    .venv/bin/python benchmarks/loop.py            # the committed run: 30 windows each, ~26 min
    .venv/bin/python benchmarks/loop.py --quick    # 8 windows, smaller streams, ~2 min
    .venv/bin/python benchmarks/loop.py --render   # the .md again from the .json
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# benchmarks/ holds a profile.py that would shadow the standard library's module
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
ROOT = HERE.parent
RESULTS = HERE / "results"
BENCH = Path(os.environ.get("LOOPML_BENCH", ROOT.parent / "shared" / "bench"))
DAY = 86_400.0
START = 20_000 * DAY  # the first window's midnight (UTC); windows are days of traffic
POLICIES = ("never", "every window", "loop")
TRAINING = {
    "budget_seconds": 300,
    "max_trials": 3,
    "cv_folds": 3,
    "models": ["lightgbm"],
    "ensemble": False,
    "n_jobs": 1,
    "seed": 42,
    "holdout_fraction": 0.2,
}

import numpy as np  # noqa: E402  (after the path fix above)
import pandas as pd  # noqa: E402

# the tables live next to this script; benchmarks/ is off sys.path, so load it by its path
_spec = importlib.util.spec_from_file_location("_bench_loop_tables", HERE / "_loop_tables.py")
assert _spec is not None and _spec.loader is not None
_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tables)
machine, render = _tables.machine, _tables.render


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# streams


@dataclass(frozen=True)
class Stream:
    """Rows in time order: ``initial`` trains the first model, then ``windows`` arrive."""

    name: str
    config: Any  # loopml.config.ProjectConfig
    initial: pd.DataFrame
    windows: list[pd.DataFrame]
    description: str

    def rows_until(self, count: int) -> pd.DataFrame:
        """The initial part plus the first ``count`` windows (the growing data rule)."""
        return pd.concat([self.initial, *self.windows[:count]], ignore_index=True)


def project_config(
    name: str,
    problem: dict[str, Any],
    data: dict[str, Any],
    training: dict[str, Any] | None = None,
) -> Any:
    """The project a stream's models are trained for (its source is never read)."""
    from loopml.config import ProjectConfig

    source = {"source": {"type": "csv", "path": f"{name}.csv"}}
    return ProjectConfig.model_validate(
        {
            "name": name,
            "problem": problem,
            "data": {**source, **data},
            "training": TRAINING if training is None else training,
        }
    )


def demo_stream(n_windows: int, rows: int, initial: int) -> Stream:
    """The demo's churn customers in signup order; the drift knob turned from 0 to 1 at the
    middle window (rows from a stable table before it, from a drifting one after it)."""
    from loopml.demo import generate_customers

    config = project_config(
        "churn-demo",
        {"task": "binary", "target": "churned", "positive_class": "yes", "metric": "roc_auc"},
        {"id_columns": ["customer_id"], "time_column": "signup_at", "drop_columns": ["email"]},
    )
    total = initial + n_windows * rows
    stable = generate_customers(total, seed=0)
    drifting = generate_customers(total, seed=1, drift=1.0, id_offset=total)
    turned = stable["signup_at"].iloc[initial + (n_windows // 2) * rows]
    frame = pd.concat(
        [stable[stable["signup_at"] < turned], drifting[drifting["signup_at"] >= turned]],
        ignore_index=True,
    )
    windows = [frame.iloc[initial + i * rows : initial + (i + 1) * rows] for i in range(n_windows)]
    windows[-1] = frame.iloc[initial + (n_windows - 1) * rows :]
    said = (
        f"loopml's demo generator, customers in signup order (2023-2025): the first "
        f"{initial:,} to start, then {n_windows} windows of about {rows:,}; the drift knob is 0 "
        f"before {turned[:10]} (window {n_windows // 2 + 1}) and 1 from there on (the "
        "generator scales the shift with the signup date: pricier, more monthly contracts, "
        "fewer logins, more of the Central region, whose churn rises). Tenure is counted to "
        "one date for all customers, so later signups always have shorter tenures"
    )
    initial_rows = frame.iloc[:initial].reset_index(drop=True)
    windows = [w.reset_index(drop=True) for w in windows]
    return Stream(
        "demo churn (drift knob turned at mid-stream)", config, initial_rows, windows, said
    )


def bench_stream(name: str, n_windows: int, fraction: float = 1.0) -> Stream:
    """A time-ordered dataset of the shared suite: train then test, first quarter initial."""
    directory = BENCH / "data" / name
    meta = json.loads((directory / "meta.json").read_text())
    frame = pd.concat(
        [pd.read_csv(directory / f"{part}.csv.gz") for part in ("train", "test")],
        ignore_index=True,
    )
    frame = frame.iloc[: int(len(frame) * fraction)].reset_index(drop=True)
    time_column = meta["datetime_columns"][0]
    config = project_config(
        name,
        {"task": meta["task"], "target": meta["target"], "metric": meta["metric"]},
        {"time_column": time_column},
    )
    cut = len(frame) // 4
    edges = np.linspace(cut, len(frame), n_windows + 1).astype(int)
    windows = [frame.iloc[a:b].reset_index(drop=True) for a, b in itertools.pairwise(edges)]
    said = (
        f"`{name}` ({len(frame):,} rows in time order by {', '.join(meta['split']['order_by'])}"
        f"): the first {cut:,} rows to start, then {n_windows} windows of about "
        f"{len(windows[0]):,} rows ({frame[time_column].iloc[cut]} to "
        f"{frame[time_column].iloc[-1]})"
    )
    return Stream(name, config, frame.iloc[:cut].reset_index(drop=True), windows, said)


# --------------------------------------------------------------------------------------------
# training: what Project.train does, without registration, diagnostics and report


@dataclass
class Model:
    """A trained model as the policies see it."""

    bundle: Any  # loopml.registry.ModelBundle
    version: str
    rows: int
    seconds: float


class Trainer:
    """Trains on the initial part plus the first ``count`` windows, once per ``count``."""

    def __init__(self, stream: Stream):
        self.stream = stream
        self.models: dict[int, Model] = {}

    def model(self, count: int) -> Model:
        if count not in self.models:
            self.models[count] = self._train(count)
        return self.models[count]

    def _train(self, count: int) -> Model:
        from loopml._train_register import monitoring_reference
        from loopml.data import fingerprint, prepare_data
        from loopml.evaluation import evaluate
        from loopml.modeling import TrainingData, TrainingSpec, train_model
        from loopml.registry import ModelBundle
        from loopml.types import DataSet

        config = self.stream.config
        frame = self.stream.rows_until(count)
        started = time.perf_counter()
        raw = DataSet(frame, fingerprint(frame), f"{self.stream.name}: {count} windows")
        prepared = prepare_data(raw, config)
        train = prepared.training_rows()
        data = TrainingData(
            X=train.X, y=train.y, roles=prepared.schema.roles(), time=train.time, strategy="time"
        )
        result = train_model(data, TrainingSpec.from_config(config, prepared.problem))
        holdout = prepared.holdout_rows()
        evaluation = evaluate(result.pipeline, holdout.X, holdout.y, prepared.problem)
        bundle = ModelBundle(
            pipeline=result.pipeline,
            schema=prepared.schema,
            problem=prepared.problem,
            metrics=evaluation.metrics,
        )
        bundle.reference["monitoring"] = monitoring_reference(
            bundle, prepared, train.X, config.training.seed
        )
        seconds = time.perf_counter() - started
        log(f"    trained on {len(frame):,} rows ({count} windows) in {seconds:.1f} s")
        return Model(bundle, str(count + 1), len(frame), seconds)


# --------------------------------------------------------------------------------------------
# scoring


def labelled(model: Model, window: pd.DataFrame) -> Any:
    from loopml.data import labelled_rows

    return labelled_rows(window, model.bundle.problem, where="the window")


def scored(model: Model, X: pd.DataFrame) -> Any:
    from loopml.loop import Scored
    from loopml.modeling import predict_scores

    problem = model.bundle.problem
    pred, proba = predict_scores(model.bundle.pipeline, X, problem.task, problem.classes)
    return Scored(pred, proba)


def metric_of(problem: Any, y: Any, s: Any) -> float:
    from loopml.metrics import score

    extra = (problem.classes or None, problem.positive_class)
    return float(score(problem.metric, problem.task, y, s.pred, s.proba, *extra))


# --------------------------------------------------------------------------------------------
# policies


class Policy:
    """A policy's current model and record; :meth:`after_window` runs once window ``t``
    (0-based) is labelled, before window ``t + 1`` is predicted."""

    def __init__(self, name: str, trainer: Trainer):
        self.name, self.trainer = name, trainer
        self.model = trainer.model(0)
        self.trained: list[int] = []  # the data counts of its retrainings
        self.promotions = 0
        self.decisions: list[dict[str, Any]] = []

    @property
    def retrainings(self) -> int:
        return len(self.trained)

    def seconds(self) -> float:
        return sum(self.trainer.models[c].seconds for c in self.trained)

    def after_window(self, t: int, rows: Any, s: Any) -> None:
        """Never retrain."""

    def close(self) -> None:
        pass


class EveryWindow(Policy):
    """Train on everything labelled so far and replace, after every window; ``late``: without
    the latest window (the data the loop's challenger gets)."""

    def __init__(self, name: str, trainer: Trainer, *, late: bool = False):
        super().__init__(name, trainer)
        self.late = late

    def after_window(self, t: int, rows: Any, s: Any) -> None:
        count = t if self.late else t + 1
        self.model = self.trainer.model(count)
        self.trained.append(count)
        self.promotions += 1


class Loop(Policy):
    """loopml's loop over a real prediction log: monitor, policy, challenger, paired test.

    ``settings`` change ``retraining:`` from loopml's defaults (the diagnostic variants).
    """

    def __init__(self, name: str, trainer: Trainer, directory: Path, **settings: Any):
        from loopml.config import MonitoringConfig, RetrainingConfig
        from loopml.serving import PredictionLog

        super().__init__(name, trainer)
        self.monitoring = MonitoringConfig()
        self.retraining = RetrainingConfig(**settings)
        directory.mkdir(parents=True, exist_ok=True)
        self.plog = PredictionLog(base_dir=directory, mode="sync")

    def close(self) -> None:
        self.plog.close()

    def after_window(self, t: int, rows: Any, s: Any) -> None:
        """Log window ``t`` and its labels, monitor it, apply the retraining policy."""
        from loopml.loop import ChampionHealth, should_retrain
        from loopml.monitoring import MonitorSpan, monitor

        self.log_window(t, rows.X, rows.y, s)
        model = self.model
        bundle, problem = model.bundle, model.bundle.problem
        report = monitor(
            bundle,
            self.plog,
            model_name="bench",
            model_version=model.version,
            span=MonitorSpan(START + t * DAY, START + (t + 1) * DAY, DAY),
            config=self.monitoring,
        )
        window, n = report.windows[0], len(rows.y)
        enough = n >= self.retraining.min_labelled_rows
        health = ChampionHealth(
            model.version,
            problem.metric,
            holdout_score=bundle.metrics.get(problem.metric),
            recent_score=metric_of(problem, rows.y, s) if enough else None,
            recent_rows=n,
        )
        triggered, trigger = should_retrain(self.retraining, health, drift_alarm=report.drifted)
        decision: dict[str, Any] = {
            "window": t + 1,
            "alarms": len(window.alarms),
            "drifted_features": sorted(f.name for f in window.features if f.drifted),
            "decay": any("on the holdout" in a for a in window.alarms),
            "triggered": triggered,
            "trigger": trigger,
        }
        if triggered and enough:
            decision.update(self.challenge(t, rows.y, s))
        self.decisions.append(decision)

    def log_window(self, t: int, X: pd.DataFrame, y: Any, s: Any) -> None:
        """The champion's predictions of window ``t`` as the service logs them (one day of
        traffic), then their labels."""
        from loopml.serving import Feedback, LoggedPrediction

        bundle = self.model.bundle
        names = [c.name for c in bundle.schema.feature_columns]
        records = X[names].astype(object).where(X[names].notna(), None).to_dict("records")
        t0, step = START + t * DAY, DAY / max(len(X), 1)
        keys = [str(c) for c in bundle.problem.classes]
        preds = s.pred.tolist()
        probas = [None] * len(preds) if s.proba is None else s.proba.tolist()
        self.plog.record(
            [
                LoggedPrediction(
                    request_id=f"{t}-{i}",
                    time=t0 + i * step,
                    model_version=self.model.version,
                    features=record,
                    prediction=preds[i],
                    probabilities=None
                    if probas[i] is None
                    else dict(zip(keys, probas[i], strict=True)),
                    latency_ms=0.0,
                )
                for i, record in enumerate(records)
            ]
        )
        labels = np.asarray(y).tolist()
        self.plog.feedback([Feedback(f"{t}-{i}", v, t0 + DAY) for i, v in enumerate(labels)])

    def challenge(self, t: int, y: Any, champion: Any) -> dict[str, Any]:
        """Train a challenger without window ``t`` and test it against the champion there."""
        from loopml.evaluation import Resampling
        from loopml.loop import paired_test, promotion

        challenger = self.trainer.model(t)  # initial + windows before t: t is held out
        self.trained.append(t)
        X = labelled(challenger, self.trainer.stream.windows[t]).X
        policy = self.retraining
        test = paired_test(
            challenger.bundle.problem,
            y,
            champion,
            scored(challenger, X),
            alpha=policy.alpha,
            resampling=Resampling(n_resamples=policy.bootstrap, seed=policy.seed),
        )
        promote, reason = promotion(
            policy, test, gate=(True, "no gate"), champion=self.model.version
        )
        if promote:
            self.model = challenger
            self.promotions += 1
        return {
            "challenger_rows": challenger.rows,
            "difference": test.difference,
            "p_value": test.p_value,
            "promoted": promote,
            "reason": reason,
        }


#: Diagnostics: one setting changed at a time, to explain the main policies' difference.
LOOP_VARIANTS = {
    "loop, promote_if: better": {"promote_if": "better"},
    "loop, on_drift: false": {"on_drift": False},
}


def make_policies(trainer: Trainer, directory: Path) -> dict[str, Policy]:
    policies = [
        Policy("never", trainer),
        EveryWindow("every window", trainer),
        Loop("loop", trainer, directory / "loop"),
        EveryWindow("every window, one window late", trainer, late=True),
    ]
    policies += [
        Loop(name, trainer, directory / f"variant{i}", **settings)
        for i, (name, settings) in enumerate(LOOP_VARIANTS.items())
    ]
    return {p.name: p for p in policies}


# --------------------------------------------------------------------------------------------
# the run


def run_stream(stream: Stream) -> dict[str, Any]:
    """Every policy over ``stream``; the prequential scores, retrainings and promotions."""
    log(f"{stream.name}: initial model ...")
    trainer = Trainer(stream)
    problem = trainer.model(0).bundle.problem
    ys: list[Any] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        policies = make_policies(trainer, Path(tmp))
        scores: dict[str, list[float]] = {name: [] for name in policies}
        pooled: dict[str, list[Any]] = {name: [] for name in policies}
        try:
            for t, window in enumerate(stream.windows):
                rows = labelled(trainer.model(0), window)
                ys.append(np.asarray(rows.y))
                last = t == len(stream.windows) - 1
                for name, policy in policies.items():
                    s = scored(policy.model, rows.X)
                    scores[name].append(metric_of(problem, rows.y, s))
                    pooled[name].append(s)
                    if not last:  # a retraining after the last window would predict nothing
                        policy.after_window(t, rows, s)
                loop = policies["loop"]
                log(
                    f"  window {t + 1}/{len(stream.windows)}: "
                    + ", ".join(f"{n} {scores[n][-1]:.4f}" for n in POLICIES)
                    + (f"; loop: {_said(loop.decisions[-1])}" if not last else "")
                )
        finally:
            for policy in policies.values():
                policy.close()
    return summary(stream, trainer, policies, scores, pooled, ys, time.perf_counter() - started)


def _said(decision: dict[str, Any]) -> str:
    if not decision["triggered"]:
        return "no trigger"
    if "promoted" not in decision:
        return "triggered, too few labelled rows"
    verdict = "promoted" if decision["promoted"] else "kept the champion"
    return f"retrained, {verdict} (diff {decision['difference']:+.4f}, p {decision['p_value']:.3g})"


def summary(
    stream: Stream,
    trainer: Trainer,
    policies: dict[str, Policy],
    scores: dict[str, list[float]],
    pooled: dict[str, list[Any]],
    ys: list[Any],
    seconds: float,
) -> dict[str, Any]:
    from loopml.loop import Scored
    from loopml.metrics import greater_is_better

    problem = trainer.model(0).bundle.problem
    y = np.concatenate(ys)
    out: dict[str, Any] = {
        "stream": stream.name,
        "description": stream.description,
        "metric": problem.metric,
        "greater_is_better": greater_is_better(problem.metric),
        "windows": len(stream.windows),
        "window_rows": [len(w) for w in stream.windows],
        "initial_rows": len(stream.initial),
        "seconds": round(seconds, 1),
        "policies": {},
    }
    for name, policy in policies.items():
        parts = pooled[name]
        proba = None if parts[0].proba is None else np.concatenate([p.proba for p in parts])
        whole = Scored(np.concatenate([p.pred for p in parts]), proba)
        out["policies"][name] = {
            "mean": float(np.mean(scores[name])),
            "pooled": metric_of(problem, y, whole),
            "per_window": [round(v, 6) for v in scores[name]],
            "retrainings": policy.retrainings,
            "promotions": policy.promotions,
            "training_seconds": round(policy.seconds(), 1),
            "initial_seconds": round(trainer.models[0].seconds, 1),
        }
        if isinstance(policy, Loop):
            out["policies"][name]["triggers"] = trigger_counts(policy.decisions)
    out["loop_decisions"] = policies["loop"].decisions
    out["goal"] = goal(out)
    return out


def trigger_counts(decisions: list[dict[str, Any]]) -> dict[str, int]:
    """How often the monitoring alarmed (drift, decay) and each retraining trigger fired."""
    return {
        "windows": len(decisions),
        "alarmed": sum(d["alarms"] > 0 for d in decisions),
        "feature_drift": sum(bool(d["drifted_features"]) for d in decisions),
        "decay": sum(d["decay"] for d in decisions),
        "drift_trigger": sum("monitoring window alarmed" in d["trigger"] for d in decisions),
        "metric_trigger": sum("(retraining.on_metric_drop" in d["trigger"] for d in decisions),
        "triggered": sum(d["triggered"] for d in decisions),
    }


def goal(result: dict[str, Any]) -> dict[str, Any]:
    """The loop beats never-retrain, is within 1% of every-window, with fewer retrainings."""
    p, up = result["policies"], result["greater_is_better"]
    sign = 1.0 if up else -1.0
    loop, never, every = p["loop"], p["never"], p["every window"]
    out: dict[str, Any] = {}
    for key in ("mean", "pooled"):
        gap = sign * (every[key] - loop[key]) / abs(every[key])  # > 0: the loop is worse
        out[key] = {
            "beats_never": bool(sign * (loop[key] - never[key]) > 0),
            "gap_to_every_window": gap,
            "within_1pct": bool(gap <= 0.01),
        }
    out["fewer_retrainings"] = loop["retrainings"] < every["retrainings"]
    out["met"] = bool(
        out["mean"]["beats_never"] and out["mean"]["within_1pct"] and out["fewer_retrainings"]
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 windows, smaller streams")
    parser.add_argument("--windows", type=int, default=None)
    parser.add_argument("--render", action="store_true", help="rewrite the .md from the .json")
    args = parser.parse_args(argv)
    name = "loop-quick" if args.quick else "loop"
    if args.render:
        result = json.loads((RESULTS / f"{name}.json").read_text())
        (RESULTS / f"{name}.md").write_text(render(result))
        return 0
    n = args.windows or (8 if args.quick else 30)
    streams = (
        [demo_stream(n, 400, 6000), bench_stream("bike_sharing_hourly", n, 0.5)]
        if args.quick
        else [demo_stream(n, 1000, 20_000), bench_stream("bike_sharing_hourly", n)]
    )
    result: dict[str, Any] = {"quick": args.quick, "machine": machine(), "streams": []}
    for stream in streams:
        result["streams"].append(run_stream(stream))
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(render(result))
    log(f"wrote {RESULTS / name}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
