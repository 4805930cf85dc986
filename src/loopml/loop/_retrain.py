"""Retraining: the policy, the training set with labelled traffic, champion against challenger.

:class:`Retraining` is one retraining, one method per phase; ``Project.retrain`` wires it to
the stages (collect, prepare, and the same ``Project.train`` as ``loopml train``):

1. :meth:`Retraining.start` reads the labelled traffic of ``retraining.data_window`` from the
   prediction log, scores the champion on its most recent part (``holdout_window``) and
   applies the policy (:func:`should_retrain`): forced, a drift alarm, a metric drop, or the
   schedule.
2. :meth:`Retraining.training_data` appends the older labelled traffic to the sources.
3. The project trains a challenger on it (registered as ``challenger``; the champion stays).
4. :meth:`Retraining.decide` scores both on the common holdout, runs the paired test
   (:mod:`loopml.loop._paired`), moves ``champion`` only when ``retraining.promote_if``
   says so and the challenger passes the gate, and records the :class:`RetrainDecision` on
   the challenger's MLflow run and as JSON and HTML under ``.loopml/reports/``.

The holdout window is never trained on, so both models meet it for the first time. The
champion moves last, in one registry step that checks it is still the champion that was
compared: a failure before that leaves it where it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml.config import ProjectConfig, RetrainingConfig
from loopml.data import DataSet, LabelledRows, Problem, fingerprint, labelled_rows
from loopml.errors import ConfigError, ModelNotFoundError
from loopml.evaluation import Resampling
from loopml.files import write_text_atomic
from loopml.loop._paired import PairedTest, Scored, paired_test
from loopml.loop._policy import ChampionHealth, drift_alarm, should_retrain
from loopml.loop._traffic import Traffic, labelled_traffic, training_frame
from loopml.registry import version_tags

if TYPE_CHECKING:
    from loopml.monitoring import DriftReport
    from loopml.registry import ModelBundle, ModelVersionInfo, Registry
    from loopml.serving import LoggedRow

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- the decision


@dataclass(frozen=True)
class RetrainDecision:
    """What one ``loopml retrain`` decided, with its numbers and reason."""

    triggered: bool
    trigger: str  # why it retrained, or why not
    promoted: bool
    reason: str
    metric: str
    promote_if: str
    champion_version: str | None = None
    challenger_version: str | None = None
    rows_sources: int = 0  # source rows in the training set
    rows_logged: int = 0  # labelled logged rows in the training set
    rows_holdout: int = 0  # labelled logged rows of the common holdout
    test: PairedTest | None = None
    report: str | None = None  # the JSON record under .loopml/reports/
    decided_at: float = 0.0  # seconds since the epoch (UTC)

    def to_dict(self) -> dict[str, Any]:
        test = self.test
        return {
            "triggered": self.triggered,
            "trigger": self.trigger,
            "promoted": self.promoted,
            "reason": self.reason,
            "promote_if": self.promote_if,
            "metric": self.metric,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "rows": {
                "sources": self.rows_sources,
                "logged": self.rows_logged,
                "holdout": self.rows_holdout,
            },
            "champion_score": _finite(test.champion) if test else None,
            "challenger_score": _finite(test.challenger) if test else None,
            "difference": _finite(test.difference) if test else None,
            "interval": [_finite(test.low), _finite(test.high)] if test else None,
            "p_value": _finite(test.p_value) if test else None,
            "alpha": test.alpha if test else None,
            "test": test.test if test else None,
            "n_resamples": test.n_resamples if test else None,
            "report": self.report,
            "decided_at": self.decided_at,
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# ---------------------------------------------------------------------------- the rule


def promotion(
    policy: RetrainingConfig,
    test: PairedTest | None,
    *,
    gate: tuple[bool, str],
    champion: str | None,
) -> tuple[bool, str]:
    """Whether the challenger becomes champion under ``retraining.promote_if``, and why.

    ``gate`` is whether the challenger passes the success gate (and is not held back for
    leakage) and what was checked; ``test`` is None when there is no comparable champion.
    """
    passed, checked = gate
    if policy.promote_if == "never":
        return False, "retraining.promote_if is never: the decision is recorded, nothing moves"
    if not passed:
        return False, f"the challenger does not pass the gate ({checked})"
    if test is None:
        if champion is None:
            return True, f"there is no champion and the challenger passes the gate ({checked})"
        return False, (
            f"the champion (version {champion}) cannot score the same rows (another task, "
            "classes or columns); compare them with `loopml evaluate` and promote by hand"
        )
    if policy.promote_if == "better":
        if test.favours_challenger:
            return True, f"better (retraining.promote_if: better): {test.describe()}"
        return False, f"not better: {test.describe()}"
    if test.significant:
        return True, f"significantly better at alpha {test.alpha:g}: {test.describe()}"
    verdict = "better, but not significantly" if test.favours_challenger else "not better"
    return False, f"{verdict} at alpha {test.alpha:g}: {test.describe()}"


# ---------------------------------------------------------------------------- the phases


class Retraining:
    """One retraining, phase by phase (see the module docstring).

    Parameters
    ----------
    config
        The project.
    registry
        Its registry: the champion is read from it and moved in it.
    report_dir
        Where the decision is written (``.loopml/reports``).
    now
        The clock (seconds since the epoch); windows end here.
    """

    def __init__(
        self,
        config: ProjectConfig,
        registry: Registry,
        *,
        report_dir: Path,
        now: float | None = None,
    ):
        if config.problem.unsupervised:
            raise ConfigError(
                f"loopml retrain promotes a challenger that wins a paired test on labelled "
                f"traffic, which a {config.problem.task} model is not judged by. Train on the "
                "fresh rows with `loopml train` instead: it compares the new model with the "
                "champion on the same holdout and promotes it only if it is better."
            )
        self.config = config
        self.policy = config.retraining
        self.registry = registry
        self.report_dir = report_dir
        self.now = time.time() if now is None else float(now)
        self.champion: ModelBundle | None = None
        self.champion_version: str | None = None
        empty = pd.DataFrame()
        self.traffic = Traffic(empty, empty)
        self.triggered, self.trigger = False, ""
        self.rows_sources = self.rows_logged = 0

    @property
    def window(self) -> tuple[float, float]:
        """The data window ``[start, end)`` of the labelled traffic to read."""
        return self.now - self.policy.data_window_seconds, self.now

    @property
    def metric(self) -> str:
        if self.champion is not None:
            return self.champion.problem.metric
        return self.config.problem.metric or ""

    # -------------------------------------------------------------- 1. the policy

    def start(
        self,
        rows: Sequence[LoggedRow],
        *,
        force: bool = False,
        drift: DriftReport | None = None,
        status_path: Path | None = None,
    ) -> bool:
        """Read the champion and the traffic, apply the policy; True: train a challenger.

        ``rows`` are the logged predictions of :attr:`window`; ``drift`` a monitoring
        report, else the alarm gauge of ``status_path`` (the last ``loopml monitor``) counts.
        """
        try:
            self.champion, info = self.registry.load("champion")
            self.champion_version = info.version
        except ModelNotFoundError:
            self.champion, self.champion_version = None, None
        self.traffic = labelled_traffic(rows, self.config, now=self.now, masked=self._masked())
        if drift is not None:
            alarm: bool | None = drift.drifted
        else:
            alarm = drift_alarm(status_path, self.champion_version) if status_path else None
        self.triggered, self.trigger = should_retrain(
            self.policy, self._health(), force=force, drift_alarm=alarm
        )
        return self.triggered and len(self.traffic.holdout) >= self.policy.min_labelled_rows

    def _masked(self) -> list[str]:
        """Columns the privacy policy drops or hashes (the champion's record and the config)."""
        recorded = dict(self.champion.info.get("privacy", {})) if self.champion else {}
        recorded.update(self.config.privacy.columns)
        return [c for c, action in recorded.items() if action in ("drop", "hash")]

    def _health(self) -> ChampionHealth:
        bundle = self.champion
        if bundle is None:
            return ChampionHealth(None, self.metric)
        rows = len(self.traffic.holdout)
        recent = None
        if rows >= self.policy.min_labelled_rows:
            held = self._rows(bundle.problem)
            recent = _score(bundle, held, bundle.problem)
        created = bundle.info.get("created")
        age = self.now - dt.datetime.fromisoformat(created).timestamp() if created else None
        return ChampionHealth(
            self.champion_version,
            self.metric,
            holdout_score=bundle.metrics.get(self.metric),
            recent_score=recent,
            recent_rows=rows,
            age_seconds=age,
        )

    def _rows(self, problem: Problem) -> LabelledRows:
        window = self.policy.holdout_window
        return labelled_rows(
            self.traffic.holdout, problem, where=f"the labelled traffic of the last {window}"
        )

    def skipped(self) -> RetrainDecision:
        """The decision when no challenger is trained: no trigger, or too few labelled rows."""
        if self.triggered:
            reason = (
                f"only {len(self.traffic.holdout)} labelled rows in the last "
                f"{self.policy.holdout_window} (retraining.holdout_window), fewer than "
                f"retraining.min_labelled_rows ({self.policy.min_labelled_rows}) to compare "
                "champion and challenger on; nothing was trained. Wait for labels "
                "(POST /v1/feedback) or lower min_labelled_rows"
            )
        else:
            reason = "no retraining: " + self.trigger
        decision = self._decision(promoted=False, reason=reason)
        self._record_check(decision)
        return decision

    def _record_check(self, decision: RetrainDecision) -> None:
        """A decision that trained nothing, as one line of ``<model>-retrain-checks.jsonl``
        under the reports (appended: ``loopml watch`` checks every window), so the
        dashboard can tell when retraining last looked and why it did nothing."""
        path = self.report_dir / f"{self.registry.model_name}-{CHECKS_SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(decision.to_dict(), default=str) + "\n"
        with path.open("a", encoding="utf-8") as out:  # one write: a line is never split
            out.write(line)

    def _decision(self, **fields: Any) -> RetrainDecision:
        return RetrainDecision(
            triggered=self.triggered,
            trigger=self.trigger,
            metric=self.metric,
            promote_if=self.policy.promote_if,
            champion_version=self.champion_version,
            rows_sources=self.rows_sources,
            rows_logged=self.rows_logged,
            rows_holdout=len(self.traffic.holdout),
            decided_at=self.now,
            **fields,
        )

    # -------------------------------------------------------------- 2. the training set

    def training_data(self, sources: DataSet) -> DataSet:
        """The sources plus the labelled traffic before the holdout window.

        The logged rows are made to look like source rows *before* the privacy policy, so
        that ``prepare`` applies the policy once to all of them: the log holds only the
        model's feature columns (personal data, ids and unused columns are never logged),
        so those are missing in the logged rows and, not being features, change nothing
        the model learns. Columns the policy drops or hashes are left out of the logged
        rows as well (missing): the log keeps them after the policy, and hashing a digest
        again would make values that match no source row.
        """
        target = self.config.problem.target
        assert target is not None  # Retraining refuses projects without a target
        frame = training_frame(sources.frame, self.traffic.training, target)
        self.rows_sources = sources.n_rows
        self.rows_logged = len(frame) - sources.n_rows
        if not self.rows_logged:
            return sources
        return dataclasses.replace(
            sources,
            frame=frame,
            fingerprint=fingerprint(frame),
            origin=f"{sources.origin} + {self.rows_logged} labelled logged rows",
        )

    # -------------------------------------------------------------- 3. the decision

    def decide(self, challenger: ModelVersionInfo, *, gate: tuple[bool, str]) -> RetrainDecision:
        """Compare the trained challenger with the champion on the common holdout, move
        ``champion`` if the rule says so, and record the decision (MLflow and reports).

        ``gate``: whether the challenger passed the success gate in its training run (and
        was not held back for leakage), and that check's description.
        """
        bundle, _ = self.registry.load(challenger.version)
        problem = bundle.problem
        rows = self._rows(problem)
        scored = _scored(bundle, rows, problem)
        gate = _common_gate(gate, problem, rows, scored)
        test = None
        if self.champion is not None and _comparable(self.champion, bundle):
            test = paired_test(
                problem,
                rows.y,
                _scored(self.champion, rows, problem),
                scored,
                alpha=self.policy.alpha,
                resampling=_resampling(self.policy),
            )
        promote, reason = promotion(self.policy, test, gate=gate, champion=self.champion_version)
        decision = self._decision(
            promoted=promote,
            reason=reason,
            challenger_version=challenger.version,
            test=test,
            report=str(self._report_path(challenger.version, ".json")),
        )
        self._log_numbers(decision, challenger.run_id)
        if promote and not self.registry.move_alias(
            challenger.version,
            "champion",
            f"retrained: {reason}",
            held_by=self.champion_version,
            actor="retrain",
        ):
            decision = dataclasses.replace(
                decision,
                promoted=False,
                reason=f"{reason}; but the champion changed while retraining, so nothing moved",
            )
        if not decision.promoted:  # `models show` tells why it stays challenger
            said = f"challenger: retrained, not promoted: {decision.reason}"
            self.registry.set_tags(challenger.version, version_tags(promotion_reason=said))
        self._record(decision, challenger.run_id)
        return decision

    def _report_path(self, version: str, suffix: str) -> Path:
        return self.report_dir / f"{self.registry.model_name}-v{version}-retrain{suffix}"

    def _log_numbers(self, decision: RetrainDecision, run_id: str) -> None:
        """The decision's numbers as parameters and metrics of the challenger's run."""
        body = decision.to_dict()
        params = {
            f"loopml.retrain.{k}": body[k]
            for k in ("trigger", "promote_if", "metric", "test", "champion_version")
        }
        params.update({f"loopml.retrain.rows_{k}": v for k, v in body["rows"].items()})
        numbers = ("champion_score", "challenger_score", "difference", "p_value")
        metrics = {f"retrain_{k}": body[k] for k in numbers if body[k] is not None}
        if decision.test is not None:
            metrics.update(retrain_low=decision.test.low, retrain_high=decision.test.high)
        self.registry.log_to_run(run_id, params=params, metrics=metrics)

    def _record(self, decision: RetrainDecision, run_id: str) -> None:
        """The verdict as tags of the challenger's run, and the JSON and HTML reports."""
        tags = {"loopml.retrain.promoted": str(decision.promoted).lower()}
        tags["loopml.retrain.reason"] = decision.reason[:5000]
        self.registry.log_to_run(run_id, tags=tags)
        body = decision.to_dict()
        version = decision.challenger_version or "none"
        write_text_atomic(self._report_path(version, ".json"), json.dumps(body, indent=2))
        write_text_atomic(self._report_path(version, ".html"), _html(self.config.name, body))


#: The file (after ``<model>-``) under the reports that lists the checks that trained nothing.
CHECKS_SUFFIX = "retrain-checks.jsonl"


def _resampling(policy: RetrainingConfig) -> Resampling:
    return Resampling(n_resamples=policy.bootstrap, seed=policy.seed)


def _comparable(champion: ModelBundle, challenger: ModelBundle) -> bool:
    ours, theirs = challenger.problem, champion.problem
    return ours.task == theirs.task and tuple(ours.classes) == tuple(theirs.classes)


def _features(bundle: ModelBundle, X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with every feature column of ``bundle`` (missing where the log had none)."""
    absent = [c.name for c in bundle.schema.feature_columns if c.name not in X.columns]
    if absent:
        log.warning("the logged rows lack %s; they are scored as missing", ", ".join(absent))
        X = X.assign(**dict.fromkeys(absent, None))
    return X


def _scored(bundle: ModelBundle, rows: LabelledRows, problem: Problem) -> Scored:
    from loopml.modeling import predict_scores

    X = _features(bundle, rows.X)
    pred, proba = predict_scores(bundle.pipeline, X, problem.task, problem.classes)
    return Scored(pred, proba)


def _score(bundle: ModelBundle, rows: LabelledRows, problem: Problem) -> float:
    from loopml.metrics import score

    s = _scored(bundle, rows, problem)
    args = (problem.classes or None, problem.positive_class)
    return score(problem.metric, problem.task, rows.y, s.pred, s.proba, *args)


def _common_gate(
    trained: tuple[bool, str], problem: Problem, rows: LabelledRows, scored: Scored
) -> tuple[bool, str]:
    """The training run's gate verdict and the gate on the common holdout: both must pass."""
    from loopml.evaluation import check_gate
    from loopml.metrics import all_metrics

    passed, checked = trained
    if problem.gate is None:
        return passed, checked
    args = (problem.classes or None, problem.positive_class)
    metrics = all_metrics(problem.task, rows.y, scored.pred, scored.proba, *args)
    recent = check_gate(problem.gate, metrics)
    return (
        passed and recent.passed,
        f"training holdout: {checked}; latest labelled traffic: {recent.describe()}",
    )


def _html(project: str, body: dict[str, Any]) -> str:
    """A small page with the decision, next to the training reports."""
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v, default=str))}</td></tr>"
        for k, v in body.items()
    )
    verdict = "promoted" if body["promoted"] else "not promoted"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(project)}: retraining</title></head><body>"
        f"<h1>{html.escape(project)}: retraining, challenger {verdict}</h1>"
        f"<p>{html.escape(body['reason'])}</p><table>{rows}</table></body></html>\n"
    )
