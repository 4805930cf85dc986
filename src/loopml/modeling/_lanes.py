"""Trials side by side: with several workers, each lane runs whole trials, one fold at a time.

A search with two workers used to fit each trial's folds in waves of two: five folds make
three waves, the last with one fold and an idle worker, and every wave lasts as long as its
slower fold. That gave 1.13-1.32 times one core's trials per second
(``benchmarks/results/scale-search-cores.md``). In lanes, each worker's lane takes the next
trial as soon as its own ends, so no worker waits for another's fold. The portfolio's trials
are known in advance; tuning asks Optuna for one trial per lane (with its constant liar, see
:func:`loopml.modeling._tuning.new_study`).

Each lane is a thread of the searching process that submits one fold at a time to the
executor and waits for it; the folds run in the executor's workers. The lanes share the
search's trials, budget and study under ``search.lock``. Which trial ends first depends on
timing, so the trials a search runs can differ between runs; under a trial cap
(``training.max_trials``) the search keeps waves of folds and runs the same trials every time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from loopml.modeling._tuning import ask, tell

if TYPE_CHECKING:
    import optuna

    from loopml.modeling._leaderboard import TrialResult
    from loopml.modeling._search import Search

Task = Callable[[], None]


def run_lanes(count: int, next_task: Callable[[], Task | None], lock: threading.RLock) -> None:
    """Run the tasks ``next_task`` hands out (it is called under ``lock``) on ``count``
    threads until it returns ``None``; the first error stops every lane and is raised.

    Examples
    --------
    >>> import threading
    >>> done, queue = [], list(range(5))
    >>> def next_task():
    ...     if not queue:
    ...         return None
    ...     n = queue.pop(0)
    ...     return lambda: done.append(n)
    >>> run_lanes(2, next_task, threading.RLock())
    >>> sorted(done)
    [0, 1, 2, 3, 4]
    """
    errors: list[BaseException] = []

    def lane() -> None:
        while True:
            with lock:
                task = None if errors else next_task()
            if task is None:
                return
            try:
                task()
            except BaseException as exc:  # re-raised in the searching thread below
                with lock:
                    errors.append(exc)
                return

    threads = [
        threading.Thread(target=lane, name=f"loopml-lane-{n}", daemon=True) for n in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def portfolio_in_lanes(search: Search, probe: str | None) -> None:
    """Each family's defaults once, in portfolio order, a trial per lane.

    The ``probe`` family's defaults also run without year and elapsed-time features (when the
    data has them); once both have ended, the better choice holds for the trials after.
    """
    queue: deque[tuple[str, bool]] = deque()
    for family in search.order:
        queue.append((family, False))
        if family == probe and search.probes_time():
            queue.append((family, True))
    probed: dict[bool, TrialResult] = {}

    def next_task() -> Task | None:
        if not queue or not search.may_continue():
            return None
        family, without_time = queue.popleft()
        params = {**search.extra, "absolute_time": False} if without_time else dict(search.extra)

        def task() -> None:
            result = search.run_trial(family, params, "portfolio")
            if family != probe or not search.probes_time():
                return
            with search.lock:
                probed[without_time] = result
                if len(probed) == 2:
                    search.settle_absolute_time(probed[False], probed[True])

        return task

    run_lanes(search.lanes, next_task, search.lock)


def tune_in_lanes(search: Search, study: optuna.Study, families: list[str]) -> None:
    """Optuna's trials over ``families``, one per lane, until the budget ends."""

    def next_task() -> Task | None:
        if not search.may_continue():
            return None
        asked = ask(search, study, families)
        if asked is None:
            return None
        trial, family, params = asked
        return lambda: tell(search, study, trial, search.run_trial(family, params, "optuna", trial))

    run_lanes(search.lanes, next_task, search.lock)
