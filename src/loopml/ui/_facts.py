"""What the dashboard shows, read from where the lifecycle left it.

:class:`Dashboard` answers every page and API call from the project's own stores: the
MLflow registry and tracking store (versions, aliases, gates, promotion reasons, runs), the
workspace's reports (training reports, retraining decisions, the monitoring status) and the
data sources (quality findings). It only reads; the one write, a promotion, goes through
:meth:`loopml.project.Project.promote` like ``loopml models promote``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.errors import DataError, ModelNotFoundError
from loopml.registry import ALIASES, ModelVersionInfo, parse_created
from loopml.serving import MONITORING_STATUS
from loopml.ui._compare import compare_runs
from loopml.ui._runs import RunStore

if TYPE_CHECKING:
    from loopml.project import Project
    from loopml.registry import ModelBundle

log = logging.getLogger(__name__)

#: Most alias events a timeline reads (all of them, in practice).
_ALL_EVENTS = 100_000
#: Most bundles kept loaded (each holds a fitted pipeline).
_BUNDLES = 8
#: Most runs compared at once.
MAX_COMPARE = 50


class Dashboard:
    """The dashboard's facts about one project, read-only (see the module docstring).

    Parameters
    ----------
    project
        The project to show.
    """

    def __init__(self, project: Project):
        self.project = project
        cfg = project.config
        self.runs = RunStore(project.registry.uri, cfg.experiment_name, cfg.model_name)
        self._bundles: OrderedDict[str, ModelBundle] = OrderedDict()
        self._lock = threading.Lock()
        self._quality: tuple[tuple[Any, ...], dict[str, Any]] | None = None

    @property
    def reports_dir(self) -> Path:
        return self.project.workspace / "reports"

    # ------------------------------------------------------------------ overview

    def overview(self) -> dict[str, Any]:
        """The problem, the champion and challenger, the last monitoring status and the last
        retraining decision."""
        cfg = self.project.config
        versions = self.versions()
        holders = {a: next((v for v in versions if a in v["aliases"]), None) for a in ALIASES}
        decisions = self.decisions()
        return {
            "project": cfg.name,
            "model_name": cfg.model_name,
            "problem": {
                "task": cfg.problem.task,
                "target": cfg.problem.target,
                "metric": cfg.problem.metric,
                "gate": cfg.problem.success,
            },
            "champion": holders["champion"],
            "challenger": holders["challenger"],
            "versions": len(versions),
            "runs": self.runs.page(1, 1).total,
            "monitoring": self.monitoring_status(),
            "last_decision": self._latest(decisions[-1] if decisions else None),
        }

    def monitoring_status(self) -> dict[str, Any] | None:
        """What the last ``loopml monitor`` left for the service: when, which version,
        whether its latest window alarmed, how many features drifted; None before any."""
        path = self.project.workspace / MONITORING_STATUS
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        gauges = {g["name"]: g for g in body.get("gauges", []) if not g["labels"].get("feature")}
        alarm = gauges.get("loopml_monitoring_alarm")
        drifted = gauges.get("loopml_features_drifted")
        end = gauges.get("loopml_monitoring_window_end_seconds")
        return {
            "written": body.get("written"),
            "model_version": alarm["labels"].get("model_version") if alarm else None,
            "alarm": bool(alarm["value"]) if alarm else None,
            "features_drifted": int(drifted["value"]) if drifted else None,
            "window_end": end["value"] if end else None,
        }

    # ------------------------------------------------------------------ versions

    def versions(self) -> list[dict[str, Any]]:
        """Every registered version, newest first, as the registry describes it."""
        return [self._version(v) for v in self.project.models()]

    def version(self, ref: str) -> dict[str, Any]:
        """One version; :class:`~loopml.errors.ModelNotFoundError` if there is none."""
        if not (ref.isdigit() or ref in (*ALIASES, "latest")):
            raise ModelNotFoundError(
                f"{ref!r} is not a model version; use a version number, champion, challenger "
                "or latest."
            )
        info = self.info(ref)
        found = self._version(info)
        found["history"] = [e for e in self.alias_history() if info.version in e["versions"]]
        found["decision"] = next(
            (d for d in self.decisions() if d.get("challenger_version") == info.version), None
        )
        return found

    def info(self, ref: str) -> ModelVersionInfo:
        """The registry's record of ``ref``; never creates the store (the registry's reads
        would, through MLflow, before anything was trained)."""
        if not self.project.registry.exists():
            raise ModelNotFoundError(
                f"no model is registered yet, so there is no version {ref}. Run `loopml train`."
            )
        return self.project.model(ref)

    def _version(self, info: ModelVersionInfo) -> dict[str, Any]:
        body = info.to_dict()
        body["gate_text"] = info.describe_gate()
        body["has_report"] = self.report_file(info) is not None
        return body

    def report_file(self, info: ModelVersionInfo) -> Path | None:
        """The version's training report, when it is a file inside the workspace's reports."""
        if not info.report:
            return None
        path = Path(info.report).resolve()
        root = self.reports_dir.resolve()
        if path.parent != root or not path.is_file():
            return None
        return path

    def alias_events(self, page: int, per_page: int) -> dict[str, Any]:
        """One page of the registry's alias history, newest first (time, alias, version,
        previous holder, reason, actor), with the total and number of pages."""
        if not self.project.registry.exists():
            events: list[dict[str, Any]] = []
            total = 0
        else:
            found = self.project.registry.alias_history(
                limit=per_page, offset=(page - 1) * per_page
            )
            events, total = found.to_dict()["events"], found.total
        return {
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": max(1, -(-total // per_page)),
            "events": events,
        }

    def alias_history(self) -> list[dict[str, Any]]:
        """Registrations and alias moves, oldest first, for timelines: each version's
        registration, and each time an alias was set, from the registry's history (in a
        project older than it, each version's latest move, told by its promotion reason)."""
        infos = self.project.models()
        created = {i.version: parse_created(i.created) or 0.0 for i in infos}
        found: list[dict[str, Any]] = [
            {
                "time": created[info.version],
                "kind": "registered",
                "versions": [info.version],
                "text": f"version {info.version} registered ({info.family or 'model'})",
                "label": f"v{info.version} registered",
            }
            for info in infos
        ]
        if infos:
            events = self.project.registry.alias_history(limit=_ALL_EVENTS).events
            told = {(e.alias, e.version) for e in events if e.action == "set"}
            for e in reversed(events):
                if e.action == "set":
                    found.append(self._move(e.alias, e.version, e.previous, e.time, e.actor))
                elif not e.recorded and e.previous and (e.alias, e.previous) not in told:
                    # an old project: only the version that lost the alias tells the move
                    found.append(self._move(e.alias, e.previous, e.version, e.time, ""))
            for move in found:  # never before the version existed (a reason's minute)
                move["time"] = max(move["time"], created.get(move["versions"][0], 0.0))
        return sorted(found, key=lambda e: (e["time"] or 0, e["kind"] != "registered"))

    @staticmethod
    def _move(alias: str, new: str, old: str | None, at: float, actor: str) -> dict[str, Any]:
        """An alias move as timelines show it."""
        text = f"version {new} became {alias}" + (f", replacing version {old}" if old else "")
        return {
            "time": at,
            "kind": "alias",
            "versions": [v for v in (new, old) if v],
            "text": text + (f" ({actor})" if actor else ""),
            "label": f"v{new} {alias}",
            "actor": actor or None,
        }

    def decisions(self) -> list[dict[str, Any]]:
        """The retraining decisions recorded under the workspace's reports, oldest first."""
        name = self.project.config.model_name
        found = []
        for path in self.reports_dir.glob(f"{glob_escape(name)}-v*-retrain.json"):
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("cannot read the retraining record %s", path)
                continue
            body["html"] = path.with_suffix(".html").name
            found.append(body)
        return sorted(found, key=lambda d: d.get("decided_at") or 0)

    def _latest(self, trained: dict[str, Any] | None) -> dict[str, Any] | None:
        """The later of ``trained`` (the last decision that trained a challenger) and the
        last check that trained nothing (the last line of its JSON-lines file)."""
        from loopml.loop import CHECKS_SUFFIX

        path = self.reports_dir / f"{self.project.config.model_name}-{CHECKS_SUFFIX}"
        try:
            with path.open("rb") as lines:
                lines.seek(max(0, path.stat().st_size - 16_384))
                last = lines.read().decode("utf-8", "replace").strip().splitlines()[-1]
            check = json.loads(last)
        except (OSError, ValueError, IndexError):  # no check yet, or a line cut short
            return trained
        if trained is None or (check.get("decided_at") or 0) > (trained.get("decided_at") or 0):
            return check
        return trained

    def promote(self, version: str, alias: str) -> dict[str, Any]:
        """Move ``alias`` to ``version`` as ``loopml models promote`` does."""
        info = self.project.promote(version, alias=alias, via="UI")
        return self._version(info)

    # ------------------------------------------------------------------ runs

    def compare(self, run_ids: list[str]) -> dict[str, Any]:
        """Runs side by side, differences first; configuration from their registered models."""
        if len(run_ids) < 2:
            raise DataError("choose at least two runs to compare.")
        if len(run_ids) > MAX_COMPARE:
            raise DataError(f"choose at most {MAX_COMPARE} runs to compare, not {len(run_ids)}.")
        runs = self.runs.runs(run_ids)
        missing = [i for i in run_ids if i not in {r.run_id for r in runs}]
        if missing:
            raise ModelNotFoundError(f"no training run {', '.join(missing)} in this project.")
        configs = {}
        for run in runs:
            if run.version is not None:
                bundle = self.bundle(run.version)
                if bundle is not None:
                    configs[run.run_id] = bundle.config
        return compare_runs(runs, configs)

    def bundle(self, version: str) -> ModelBundle | None:
        """A version's bundle (its files verified), kept loaded for the next request; None
        when it cannot be loaded."""
        with self._lock:
            if version in self._bundles:
                self._bundles.move_to_end(version)
                return self._bundles[version]
        try:
            bundle, _ = self.project.registry.load(version)
        except Exception as exc:  # shown as missing; the reason is logged
            log.warning("version %s cannot be loaded: %s", version, exc)
            return None
        with self._lock:
            self._bundles[version] = bundle
            while len(self._bundles) > _BUNDLES:
                self._bundles.popitem(last=False)
        return bundle

    # ------------------------------------------------------------------ data

    def data(self) -> dict[str, Any]:
        """The quality findings of the current data (redacted by the privacy policy) and
        how each registered training set's columns changed from the one before."""
        profile = self.profile_file()
        return {
            "quality": self.quality(),
            "training_sets": self.training_sets(),
            "profile": {"written": profile.stat().st_mtime} if profile is not None else None,
        }

    def profile_file(self) -> Path | None:
        """The EDA profile ``loopml profile`` wrote (``profile.output``), if it did."""
        path = self.project.path(self.project.config.profile.output)
        return path if path.is_file() else None

    def quality(self) -> dict[str, Any]:
        """``loopml validate`` on the current sources, recomputed when a source file changes."""
        key = self._sources_key()
        if self._quality is not None and self._quality[0] == key:
            return self._quality[1]
        try:
            report = self.project.validate()
        except DataError as exc:
            return {"error": str(exc), "findings": []}
        findings = [f.to_dict() for f in report.findings]
        body = {"findings": redact(findings, self._private_columns(findings))}
        self._quality = (key, body)
        return body

    def _sources_key(self) -> tuple[Any, ...]:
        source = self.project.config.data.source
        path = getattr(source, "path", None)
        if path is None:
            return (id(self),)  # not a file: computed once per process
        files = sorted(self.project.root.glob(str(path)))
        return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)

    def _private_columns(self, findings: list[dict[str, Any]]) -> set[str]:
        cfg = self.project.config
        private = {f["column"] for f in findings if f["id"].startswith("pii") and f["column"]}
        return private | set(cfg.privacy.columns) | set(cfg.data.drop_columns)

    def training_sets(self) -> list[dict[str, Any]]:
        """Per registered version, oldest first: its data fingerprint and rows, and per
        column the missing share and mean (numbers) or top category, with the change from
        the version before."""
        sets: list[dict[str, Any]] = []
        previous: dict[str, Any] = {}
        for info in reversed(self.project.models()):
            bundle = self.bundle(info.version)
            if bundle is None:
                continue
            columns = {}
            for name, stats in (bundle.reference or {}).items():
                if name == "monitoring" or not isinstance(stats, dict):
                    continue
                columns[name] = _column_summary(stats, previous.get(name))
            sets.append(
                {
                    "version": info.version,
                    "fingerprint": bundle.data_fingerprint,
                    "columns": columns,
                }
            )
            previous = {k: v for k, v in (bundle.reference or {}).items() if k != "monitoring"}
        return sets


def _column_summary(stats: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    summary: dict[str, Any] = {"role": stats.get("role"), "missing": stats.get("missing")}
    if "mean" in stats:
        summary["mean"] = stats["mean"]
    shares = stats.get("shares")
    if isinstance(shares, dict) and shares:
        top = max(shares, key=lambda k: shares[k])
        summary["top"] = f"{top} ({shares[top]:.0%})"
    if before is not None:
        for key in ("missing", "mean"):
            if isinstance(summary.get(key), float) and isinstance(before.get(key), float):
                summary[f"{key}_change"] = summary[key] - before[key]
    else:
        summary["new"] = True
    return summary


def redact(findings: list[dict[str, Any]], private: set[str]) -> list[dict[str, Any]]:
    """``findings`` with no value of a ``private`` column: a finding about one keeps its
    message but no examples; example rows lose those columns' values.

    Examples
    --------
    >>> redact([{"column": None, "examples": [{"email": "a@b.c", "x": 1}]}], {"email"})
    [{'column': None, 'examples': [{'email': '[redacted]', 'x': 1}]}]
    """
    shown = []
    for finding in findings:
        finding = dict(finding)
        if finding.get("column") in private:
            finding["examples"] = []
        else:
            finding["examples"] = [
                {k: "[redacted]" if k in private else v for k, v in e.items()}
                if isinstance(e, dict)
                else e
                for e in finding.get("examples", [])
            ]
        shown.append(finding)
    return shown


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
