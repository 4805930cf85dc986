"""The demo's calendar (the drift knob by day, the retraining holdout) and its generator's
drift (a promo plan that churns; no change at all without drift)."""

from __future__ import annotations

import pytest

from loopml.demo import DemoTimeline, generate_customers


def test_the_timeline_turns_the_knob_midway_and_keeps_labels_for_the_challenger() -> None:
    t = DemoTimeline()
    assert (t.first_drift_day, t.holdout_days, t.duration(t.holdout_days)) == (7, 4, "20s")
    assert [t.drift_on(d) for d in range(1, 13)] == [0] * 6 + [0.5] + [1.0] * 5
    assert t.slots() == pytest.approx([0.8 * i / 12 for i in (1, 3, 5, 7, 9, 11)])
    short = DemoTimeline(days=8)
    assert (short.first_drift_day, short.holdout_days) == (5, 3)
    with pytest.raises(ValueError, match="label_delay must be between 1 and days - 2"):
        DemoTimeline(days=5, label_delay=4)
    with pytest.raises(ValueError, match="drift_from must leave two drifting days"):
        DemoTimeline(days=8, drift_from=8)


def test_without_drift_the_table_is_the_one_it_was_and_with_it_a_promo_plan_churns() -> None:
    stable = generate_customers(500, seed=3)
    # the numbers of the table before the drift had a promo plan: the same seed, the same table
    assert stable["plan"].value_counts().to_dict() == {"basic": 236, "standard": 170, "premium": 95}
    assert (stable["churned"] == "yes").sum() == 129
    assert round(stable["monthly_charges"].sum(), 2) == 24310.86
    drifted = generate_customers(4000, seed=3, drift=1.0, ramp=False)
    promo = drifted[drifted["plan"] == "promo"]
    assert 0.35 < len(promo) / len(drifted) < 0.45
    assert (promo["churned"] == "yes").mean() > (drifted["churned"] == "yes").mean() + 0.1
    # the ramp: later signups drift more
    ramped = generate_customers(4000, seed=3, drift=1.0)
    half = len(ramped) // 2
    early, late = ramped.iloc[:half], ramped.iloc[half:]
    assert (late["plan"] == "promo").mean() > 2 * (early["plan"] == "promo").mean()
