"""How many CPUs this process may use: its affinity mask and its cgroup's CPU quota.

``os.cpu_count()`` counts the machine's CPUs. A process pinned to one core (``taskset -c 0``)
or running in a container limited to two CPUs (``docker run --cpus 2``, a Kubernetes
``limits.cpu``) may use far fewer: starting a worker or an OpenMP thread per machine CPU
then makes every fit slower than the budget planned for. Every ``n_jobs=-1`` in loopml
resolves through :func:`resolve_n_jobs`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterator
from pathlib import Path

#: Where the cgroup file systems are mounted, and where the kernel says which cgroup we are in.
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")

#: cgroup v1 mounts the cpu controller under one of these names (often joined with cpuacct).
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def available_cpus(
    *,
    affinity: Collection[int] | None = None,
    cgroup_root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_SELF_CGROUP,
) -> int:
    """The number of CPUs this process may keep busy: at least 1.

    The smaller of the CPUs in the affinity mask and the cgroup CPU quota (rounded up: a
    quota of 1.5 CPUs still runs two threads, each a share of the time).

    Parameters
    ----------
    affinity
        The CPUs the process may run on; by default ``os.sched_getaffinity(0)`` where the
        platform has it, else every CPU of the machine.
    cgroup_root
        Where the cgroup file systems are mounted.
    proc_cgroup
        The file listing this process's cgroups (``/proc/self/cgroup``).

    Examples
    --------
    >>> available_cpus(affinity={0}) == 1
    True
    """
    if affinity is None:
        affinity = _affinity()
    cpus = max(1, len(affinity))
    quota = cgroup_cpu_quota(cgroup_root=cgroup_root, proc_cgroup=proc_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return cpus


def resolve_n_jobs(n_jobs: int | None, *, cpus: int | None = None) -> int:
    """A positive number of CPUs from a scikit-learn style ``n_jobs``.

    ``None`` and ``-1`` mean every CPU this process may use (:func:`available_cpus`), ``-2``
    all but one, and so on, as in joblib; a positive number is taken as given.

    Raises
    ------
    ValueError
        ``n_jobs`` is 0.
    """
    if n_jobs is not None and n_jobs > 0:
        return int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number of CPUs or -1 for all, got 0")
    usable = available_cpus() if cpus is None else cpus
    return max(1, usable + 1 + int(-1 if n_jobs is None else n_jobs))


def cgroup_cpu_quota(
    *, cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP
) -> float | None:
    """The CPU quota of this process's cgroup and its ancestors in CPUs, or None if unlimited.

    Reads cgroup v2 ``cpu.max`` ("max 100000" or "150000 100000") and cgroup v1
    ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` (-1 for no limit), from the process's own
    cgroup up to the root: the smallest quota on the way binds.
    """
    try:
        lines = proc_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None  # not Linux, or /proc is not mounted
    quotas: list[float | None] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2: one unified hierarchy
            for mount in (cgroup_root, cgroup_root / "unified"):
                if (mount / "cgroup.controllers").exists():
                    quotas.extend(_v2_quota(d) for d in _ancestors(mount, path))
                    break
        elif "cpu" in controllers.split(","):
            for name in _V1_CPU_MOUNTS:
                mount = cgroup_root / name
                if mount.is_dir():
                    quotas.extend(_v1_quota(d) for d in _ancestors(mount, path))
                    break
    limits = [q for q in quotas if q is not None]
    return min(limits) if limits else None


def _affinity() -> Collection[int]:
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return range(os.cpu_count() or 1)


def _ancestors(mount: Path, path: str) -> Iterator[Path]:
    """The cgroup directory of ``path`` under ``mount``, then each parent up to ``mount``.

    Inside a container the mount often shows only the container's own cgroup while
    /proc/self/cgroup names its path on the host; the mount itself is then the cgroup.
    """
    here = mount / path.strip("/")
    if not here.is_dir():
        here = mount
    while True:
        yield here
        if here == mount or mount not in here.parents:
            return
        here = here.parent


def _v2_quota(directory: Path) -> float | None:
    fields = _read(directory / "cpu.max").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _v1_quota(directory: Path) -> float | None:
    return _ratio(_read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us"))


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
