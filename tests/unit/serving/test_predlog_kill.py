"""What a hard kill loses: a real process logging predictions, killed with SIGKILL.

The README states the bound: in async mode at most ``queue_size + batch_size`` accepted
predictions (those queued and the batch being written); in sync mode none.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

QUEUE_SIZE = 200
BATCH_SIZE = 50

# Records one prediction per call, as fast as it can, and after each call prints how many
# the log has accepted so far (calls minus those dropped on a full queue).
CHILD = """
import sys, time
from loopml.serving._contract import LoggedPrediction
from loopml.serving._predlog import PredictionLog

url, mode = sys.argv[1], sys.argv[2]
plog = PredictionLog(url, mode=mode, queue_size=int(sys.argv[3]), batch_size=int(sys.argv[4]),
                     flush_seconds=0.05)
print("ready", flush=True)
i = 0
while True:
    plog.record([LoggedPrediction(f"r{i}", time.time(), "1", {"x": i}, 0, {"0": 1.0}, 0.1)])
    i += 1
    print(i - plog.stats().dropped, flush=True)
"""

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def kill_after(db: Path, mode: str, accepted: int) -> int:
    """Run the child until it reports ``accepted`` predictions, SIGKILL it; the last count
    it reported (it may have accepted a few more before the signal landed)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"sqlite:///{db}", mode, str(QUEUE_SIZE), str(BATCH_SIZE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() != "ready":
                seen = int(line)
            if seen >= accepted:
                break
        else:
            pytest.fail(f"the child stopped early: {child.wait()} {child.stderr.read()}")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    return seen


def logged(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT request_id FROM loopml_predictions").fetchall()
    return sorted(int(r[0][1:]) for r in rows)


def test_async_mode_loses_at_most_the_queue_and_one_batch(tmp_path: Path) -> None:
    db = tmp_path / "predictions.db"
    seen = kill_after(db, "async", accepted=4000)
    found = logged(db)
    assert len(found) == len(set(found))
    assert seen - len(found) <= QUEUE_SIZE + BATCH_SIZE


def test_sync_mode_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "predictions.db"
    seen = kill_after(db, "sync", accepted=300)
    found = logged(db)
    # every record() that returned is in the file, in order, with no gap
    assert found[:seen] == list(range(seen))
