"""The retraining lock (loopml.loop._lock) between real processes: ``Project.retrain`` refuses
while another process holds it, naming that process, and a lock left by a dead process does
not block."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml
from loopml import Project
from loopml.loop import RETRAIN_LOCK, LockHeldError, hold_lock, lock_holder

HOLDER = """\
import sys
from pathlib import Path
from loopml.loop import hold_lock

with hold_lock(Path(sys.argv[1]), "a retraining"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes it (or kills this process)
"""

CONFIG = """\
name: tiny
problem: {task: binary, target: label, metric: roc_auc}
data: {source: {type: csv, path: train.csv}}
"""


def _holder(path: Path) -> subprocess.Popen[str]:
    """A second Python process that takes the lock and holds it until its stdin closes."""
    env = dict(os.environ)
    src = str(Path(loopml.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "held\n"  # it holds the lock from here on
    return process


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    (tmp_path / "loopml.yaml").write_text(CONFIG, encoding="utf-8")
    yield Project(tmp_path)


def test_retrain_refuses_while_another_process_retrains(project: Project) -> None:
    path = project.workspace / RETRAIN_LOCK
    holder = _holder(path)
    try:
        with pytest.raises(
            LockHeldError,
            match=rf"a retraining is already running in this project: process {holder.pid} "
            r"\(`-c .*`, since .*\) holds the lock .*retrain.lock\. Wait for it to finish",
        ) as refused:
            project.retrain(force=True)
        assert refused.value.holder["pid"] == holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    # released: the lock is free again, and the file no longer names anyone
    assert lock_holder(path) is None
    with hold_lock(path, "a retraining"):
        assert lock_holder(path)["pid"] == os.getpid()  # type: ignore[index]


def test_a_lock_left_by_a_dead_process_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / ".loopml" / RETRAIN_LOCK
    holder = _holder(path)
    holder.send_signal(signal.SIGKILL)  # dies holding it: no clean-up ran
    holder.wait(timeout=60)
    assert lock_holder(path)["pid"] == holder.pid  # type: ignore[index]

    with hold_lock(path, "a retraining"):
        assert lock_holder(path)["pid"] == os.getpid()  # type: ignore[index]


def test_the_lock_is_per_holder_even_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "watch.lock"
    with (
        hold_lock(path, "loopml watch"),
        pytest.raises(LockHeldError, match=rf"loopml watch is already running .* {os.getpid()}"),
        hold_lock(path, "loopml watch"),
    ):
        pass
    with hold_lock(path, "loopml watch"):  # free again after the block
        pass
