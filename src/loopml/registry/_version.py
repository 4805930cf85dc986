"""What the registry says about a model version: its tags, and :class:`ModelVersionInfo`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

ALIASES = ("champion", "challenger")
CHECKSUM_TAG = "loopml.sha256."

#: Version tags that describe a version; ModelVersionInfo shows them as fields.
FAMILY_TAG = "loopml.family"
METRIC_TAG = "loopml.metric"
GATE_TAG = "loopml.gate"  # the success gate's expression, or "none"
GATE_PASSED_TAG = "loopml.gate_passed"  # "true" | "false"
REASON_TAG = "loopml.promotion_reason"  # why the version holds its alias (or lost it)
REPORT_TAG = "loopml.report"  # the HTML report written next to the project
FIELD_TAGS = (FAMILY_TAG, METRIC_TAG, GATE_TAG, GATE_PASSED_TAG, REASON_TAG, REPORT_TAG)

#: Tags on a training run.
VERSION_RUN_TAG = "loopml.version"  # the loopml release that trained it
RUN_NAME_TAG = "loopml.run_name"
FINGERPRINT_RUN_TAG = "loopml.data_fingerprint"

#: Run metrics: ``holdout_<metric>`` on the holdout, ``cv_<metric>`` the cross-validated mean.
HOLDOUT_PREFIX = "holdout_"
CV_PREFIX = "cv_"


def parse_created(text: str) -> float | None:
    """A version's ``created`` text (as :class:`ModelVersionInfo` shows it) as a POSIX time.

    None for text in another form, so callers choose their own fallback.

    >>> parse_created("2026-12-06 20:15:00 UTC")
    1796588100.0
    >>> parse_created("2026-12-06 20:15 UTC")
    1796588100.0
    >>> parse_created("yesterday") is None
    True
    """
    for fmt in ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M UTC"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            continue
    return None


def version_tags(
    *,
    family: str | None = None,
    metric: str | None = None,
    gate: str | None = None,
    gate_passed: bool | None = None,
    promotion_reason: str | None = None,
    report: str | None = None,
) -> dict[str, str]:
    """The version tags behind :class:`ModelVersionInfo`'s fields; only those given.

    ``gate`` is the success gate's expression; pass ``"none"`` when no gate is set.

    Examples
    --------
    >>> version_tags(family="linear", gate_passed=True)
    {'loopml.family': 'linear', 'loopml.gate_passed': 'true'}
    """
    given = {
        FAMILY_TAG: family,
        METRIC_TAG: metric,
        GATE_TAG: gate,
        GATE_PASSED_TAG: None if gate_passed is None else str(gate_passed).lower(),
        REASON_TAG: promotion_reason,
        REPORT_TAG: report,
    }
    return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class ModelVersionInfo:
    """A registered model version as the registry sees it.

    ``family``, ``metric``, ``gate``, ``gate_passed``, ``promotion_reason`` and ``report``
    come from the version's tags (or, for versions registered before loopml wrote them, from
    its run's parameters and tags); empty or None when unknown.
    """

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    created: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    family: str = ""
    metric: str = ""
    gate: str = ""  # "" when unknown, "none" when no gate was set
    gate_passed: bool | None = None
    promotion_reason: str = ""
    report: str = ""

    @property
    def holdout(self) -> float | None:
        """The primary metric on the holdout."""
        return self.metrics.get(HOLDOUT_PREFIX + self.metric) if self.metric else None

    @property
    def gate_value(self) -> float | None:
        """The gated metric's holdout value."""
        if not self.gate or self.gate == "none":
            return None
        return self.metrics.get(HOLDOUT_PREFIX + self.gate.split()[0])

    def describe_gate(self) -> str:
        """``passed (roc_auc >= 0.75: 0.8123)``, ``FAILED (...)``, ``no gate`` or ``-``."""
        if self.gate == "none":
            return "no gate"
        if self.gate_passed is None:
            return "-"
        verdict = "passed" if self.gate_passed else "FAILED"
        if not self.gate:
            return verdict
        value = self.gate_value
        shown = f": {value:.4g}" if value is not None else ""
        return f"{verdict} ({self.gate}{shown})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
            "created": self.created,
            "family": self.family or None,
            "metric": self.metric or None,
            "holdout": self.holdout,
            "gate": {
                "expression": None if self.gate in ("", "none") else self.gate,
                "value": self.gate_value,
                "passed": self.gate_passed,
            },
            "promotion_reason": self.promotion_reason or None,
            "report": self.report or None,
            "metrics": self.metrics,
            "tags": {
                k: v
                for k, v in self.tags.items()
                if not k.startswith(CHECKSUM_TAG) and k not in FIELD_TAGS
            },
        }
