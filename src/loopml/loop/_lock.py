"""An OS-level lock in the workspace, so that two retrainings never run at once.

``Project.retrain`` holds ``.loopml/retrain.lock`` for the whole retraining, whoever calls
it (``loopml retrain`` by hand, ``loopml watch``, a notebook), and ``loopml watch`` holds
``.loopml/watch/watch.lock`` while it runs so that a second watch loop is refused too.

The lock is ``flock`` on the file (POSIX; on Windows a byte-range lock far past the file's
text, untested here), taken without waiting: the kernel releases it when its holder exits
however it exits, so a lock file left by a dead process (killed,
out of memory, a power cut) does not block anyone. The file itself says who holds it
(pid, command, start time, host), for the error the next caller gets; it is never deleted,
so two processes always lock the same file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loopml.errors import LoopmlError

#: The retraining lock, under the project's workspace (``.loopml``).
RETRAIN_LOCK = "retrain.lock"


class LockHeldError(LoopmlError, RuntimeError):
    """Another process holds the lock: the work it guards is already running."""

    def __init__(self, message: str, holder: dict[str, Any]):
        super().__init__(message)
        self.holder = holder


@contextmanager
def hold_lock(path: Path, what: str) -> Iterator[None]:
    """Hold the lock at ``path`` for the block, or refuse at once if another process does.

    Parameters
    ----------
    path
        The lock file (created with its directory if absent).
    what
        What the lock guards, for the error: ``"a retraining"``, ``"loopml watch"``.

    Raises
    ------
    LockHeldError
        Another process holds it; the message names its pid and command.

    Examples
    --------
    >>> import tempfile
    >>> lock = Path(tempfile.mkdtemp()) / "retrain.lock"
    >>> with hold_lock(lock, "a retraining"):
    ...     lock_holder(lock)["pid"] == os.getpid()
    True
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _lock(fd, path):
            holder = lock_holder(path) or {}
            raise LockHeldError(_refusal(path, what, holder), holder)
        _write_holder(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # still held: nobody reads a half-cleared file
            _unlock(fd)
    finally:
        os.close(fd)


#: Windows locks a byte range, and a locked range cannot be read: lock one byte far past
#: the holder's text so that it stays readable.
_WINDOWS_LOCK_OFFSET = 1 << 30


def _lock(fd: int, path: Path) -> bool:
    """Take the lock on ``fd`` without waiting; False when another holder has it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
    else:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:  # a file system without locks: not a holder, say so
            raise LoopmlError(
                f"the lock file {path} cannot be locked "
                f"({exc.strerror}); keep the project's workspace (.loopml) on a local file "
                "system, or one that supports flock."
            ) from exc
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def lock_holder(path: Path) -> dict[str, Any] | None:
    """Who wrote the lock file last (pid, command, started, host), or None if nobody did.

    The holder may be gone: only a failed :func:`hold_lock` says the lock is held.
    """
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _write_holder(fd: int) -> None:
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
    body = {
        "pid": os.getpid(),
        "command": command[:300],
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(body).encode())


def _refusal(path: Path, what: str, holder: dict[str, Any]) -> str:
    pid = holder.get("pid")
    if pid is None:  # it has just taken the lock and not yet written its name
        who = "another process"
    else:
        who = f"process {pid} (`{holder.get('command', '?')}`, since {holder.get('started', '?')}"
        host = holder.get("host")
        who += f" on {host})" if host and host != socket.gethostname() else ")"
    return (
        f"{what} is already running in this project: {who} holds the lock {path}. Wait for it "
        "to finish (or stop that process) and run this again; two retrainings never run at "
        "once. A lock file left by a process that died does not block: the lock is the "
        "kernel's, released when its holder exits."
    )
