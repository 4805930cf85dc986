"""Shared set-up of the evaluation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="module")
def one_native_thread() -> Iterator[None]:
    """Fit the tiny test models on one OpenMP/BLAS thread.

    On a loaded machine OpenMP's thread teams oversubscribe the cores: a 300-row
    HistGradientBoosting fit then takes seconds instead of milliseconds. Results do not
    depend on the thread count.
    """
    with threadpool_limits(limits=1):
        yield
