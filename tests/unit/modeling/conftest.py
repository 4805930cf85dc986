"""Shared set-up of the modeling tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    # HistGradientBoosting ignores n_jobs and starts an OpenMP thread per core; on a busy
    # two-core machine their spin-waits make a fold several times slower.
    with threadpool_limits(limits=1):
        yield
