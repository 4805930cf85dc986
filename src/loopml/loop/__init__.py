"""Stage 8 (on top of the others): promotion decisions, retraining with a champion/challenger
test on the latest labelled traffic, its lock, and the loop of ``loopml watch``."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.loop._lock import RETRAIN_LOCK, LockHeldError, hold_lock, lock_holder
    from loopml.loop._paired import PairedTest, Scored, mcnemar, paired_test
    from loopml.loop._policy import ChampionHealth, drift_alarm, should_retrain
    from loopml.loop._promote import PromotionDecision, decide_promotion
    from loopml.loop._retrain import CHECKS_SUFFIX, RetrainDecision, Retraining, promotion
    from loopml.loop._traffic import Traffic, labelled_traffic, read_traffic, training_frame
    from loopml.loop._watch import (
        Cycle,
        NothingToMonitor,
        Watch,
        WatchedProject,
        WatchSteps,
        post_alert,
        watch_interval,
        watch_project,
    )

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.loop._lock": ["RETRAIN_LOCK", "LockHeldError", "hold_lock", "lock_holder"],
        "loopml.loop._paired": ["PairedTest", "Scored", "mcnemar", "paired_test"],
        "loopml.loop._promote": ["PromotionDecision", "decide_promotion"],
        "loopml.loop._policy": ["ChampionHealth", "drift_alarm", "should_retrain"],
        "loopml.loop._retrain": ["CHECKS_SUFFIX", "RetrainDecision", "Retraining", "promotion"],
        "loopml.loop._traffic": ["Traffic", "labelled_traffic", "read_traffic", "training_frame"],
        "loopml.loop._watch": [
            "Cycle",
            "NothingToMonitor",
            "Watch",
            "WatchSteps",
            "WatchedProject",
            "post_alert",
            "watch_interval",
            "watch_project",
        ],
    },
)

__all__ = [
    "CHECKS_SUFFIX",
    "RETRAIN_LOCK",
    "ChampionHealth",
    "Cycle",
    "LockHeldError",
    "NothingToMonitor",
    "PairedTest",
    "PromotionDecision",
    "RetrainDecision",
    "Retraining",
    "Scored",
    "Traffic",
    "Watch",
    "WatchSteps",
    "WatchedProject",
    "decide_promotion",
    "drift_alarm",
    "hold_lock",
    "labelled_traffic",
    "lock_holder",
    "mcnemar",
    "paired_test",
    "post_alert",
    "promotion",
    "read_traffic",
    "should_retrain",
    "training_frame",
    "watch_interval",
    "watch_project",
]
