"""The demo's compressed calendar: how long a demo "day" is, which days drift, when labels
come, and each day's customers.

The service stamps every prediction with the time it arrived, so the demo does not fake
timestamps: it lives through its days in real time, one demo day being
:attr:`DemoTimeline.day_seconds` real seconds, and its ``loopml.yaml`` sets the monitoring
window and the retraining windows in those seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from loopml.demo._churn import generate_customers

#: The sources' signups span these dates; the traffic's customers come from the same span.
SOURCE_START, SOURCE_END = "2023-01-01", "2025-12-31"


@dataclass(frozen=True)
class DemoTimeline:
    """The loop's calendar, in demo days (1-based).

    Parameters
    ----------
    days
        Days of traffic.
    rows_per_day
        Predictions asked for each day.
    requests_per_day
        Each day's rows arrive in this many requests, spread over the day.
    day_seconds
        Real seconds in one demo day.
    label_delay
        Days until a prediction's label comes back (``POST /v1/feedback``).
    drift_from
        The first drifting day (default: the middle of the traffic).
    drift_ramp
        Days over which the drift knob rises from its first step to ``strength``.
    strength
        The drift knob at its highest (``generate_customers(drift=)``).
    """

    days: int = 12
    rows_per_day: int = 600
    requests_per_day: int = 6
    day_seconds: float = 5.0
    label_delay: int = 2
    drift_from: int | None = None
    drift_ramp: int = 2
    strength: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "days must be at least 4": self.days >= 4,
            "rows_per_day must be at least 50": self.rows_per_day >= 50,
            "requests_per_day must be between 1 and rows_per_day": 1
            <= self.requests_per_day
            <= self.rows_per_day,
            "day_seconds must be at least 1": self.day_seconds >= 1,
            "label_delay must be between 1 and days - 2": 1 <= self.label_delay <= self.days - 2,
            "drift_from must leave two drifting days with labels by the end": 2
            <= self.first_drift_day
            <= self.days - self.label_delay - 1,
            "drift_ramp must be at least 1": self.drift_ramp >= 1,
            "strength must be between 0 and 1": 0 <= self.strength <= 1,
        }
        failed = [what for what, ok in checks.items() if not ok]
        if failed:
            raise ValueError("; ".join(failed))

    @property
    def first_drift_day(self) -> int:
        return self.drift_from if self.drift_from is not None else self.days // 2 + 1

    def drift_on(self, day: int) -> float:
        """The drift knob on ``day``: 0 before :attr:`first_drift_day`, then rising."""
        if day < self.first_drift_day:
            return 0.0
        step = (day - self.first_drift_day + 1) / self.drift_ramp
        return round(self.strength * min(step, 1.0), 4)

    @property
    def holdout_days(self) -> int:
        """Retraining's holdout window in days: the latest labelled days (half of the drifting
        days that have their labels by the end, one or two), and the days still waiting for
        their labels. The drifting labelled days before it are what the challenger learns
        the drift from."""
        drifting = self.days - self.label_delay - self.first_drift_day + 1
        return self.label_delay + max(1, min(2, drifting // 2))

    def duration(self, days: float) -> str:
        """``days`` demo days as a ``loopml.yaml`` duration ("60s")."""
        return f"{days * self.day_seconds:g}s"

    def slots(self) -> list[float]:
        """When each request of a day goes out, as fractions of the day: spread over its
        first 80%, so a slow request still lands in its own day's monitoring window."""
        k = self.requests_per_day
        return [0.8 * (i + 0.5) / k for i in range(k)]


def day_customers(timeline: DemoTimeline, day: int, *, seed: int, id_offset: int) -> pd.DataFrame:
    """``timeline.rows_per_day`` customers scored on ``day``, drawn with its drift knob.

    They come from the sources' population (the same signup span), shuffled, with ids from
    ``id_offset``; every one of them drifts by the day's knob (``ramp=False``).
    """
    drawn = generate_customers(
        timeline.rows_per_day,
        seed=seed * 1000 + day,
        drift=timeline.drift_on(day),
        start=SOURCE_START,
        end=SOURCE_END,
        id_offset=id_offset,
        ramp=False,
    )
    return drawn.sample(frac=1.0, random_state=seed * 1000 + day).head(timeline.rows_per_day)
