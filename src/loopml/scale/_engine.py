"""The cluster ``execution:`` names: a running Dask scheduler, or a local cluster started for
the run and stopped after it. Every way it can fail ends in a message saying what to install,
start or fix."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from loopml.errors import ConfigError

if TYPE_CHECKING:
    from loopml.config import ExecutionConfig, ProjectConfig
    from loopml.scale._executor import DaskExecutor

log = logging.getLogger(__name__)

INSTALL_HINT = "install the extra: pip install 'loopml[dask]'"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            f"execution.engine is dask, but Dask's distributed scheduler cannot be imported "
            f"({exc}); {INSTALL_HINT}, or set execution.engine: local."
        ) from None
    return distributed


@contextmanager
def dask_client(execution: ExecutionConfig) -> Iterator[Any]:
    """A ``distributed.Client`` on the cluster ``execution`` names, closed afterwards (a
    local cluster it started is stopped too).

    Raises
    ------
    ConfigError
        The ``[dask]`` extra is missing, or the scheduler at ``execution.address`` cannot be
        reached within ``execution.connect_timeout_seconds``.
    """
    distributed = _distributed()
    if execution.address is None:
        with (
            distributed.LocalCluster(
                n_workers=execution.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            log.info("started a local Dask cluster: %s", cluster)
            yield client
        return
    timeout = execution.connect_timeout_seconds
    try:
        client = distributed.Client(execution.address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {execution.address} within {timeout:g} s "
            f"({type(exc).__name__}: {exc}). Check that the scheduler runs (`dask scheduler`) "
            "and that this machine can reach its host and port, or remove execution.address "
            "to start a local cluster."
        ) from None
    with client:
        yield client


@contextmanager
def search_executor(execution: ExecutionConfig) -> Iterator[DaskExecutor | None]:
    """The search's executor for ``execution``: None on the local engine (the search picks
    local processes itself), a :class:`DaskExecutor` on the Dask engine."""
    if execution.engine == "local":
        yield None
        return
    from loopml.scale._executor import DaskExecutor

    with dask_client(execution) as client:
        yield DaskExecutor(client)


def with_dask(config: ProjectConfig, address: str) -> ProjectConfig:
    """``config`` on the Dask engine at ``address`` (``--dask``); ``local`` starts a local
    cluster.

    Raises
    ------
    ConfigError
        ``address`` is not a scheduler address.
    """
    from pydantic import ValidationError

    from loopml.config import ExecutionConfig

    try:
        execution = ExecutionConfig.model_validate(
            {"engine": "dask", "address": None if address == "local" else address}
        )
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"--dask {address!r}: {reason}, or 'local'.") from None
    return config.model_copy(update={"execution": execution})
