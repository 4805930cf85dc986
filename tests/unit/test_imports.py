"""Importing any loopml module has no side effect, so pytest can collect their doctests.

``--doctest-modules`` imports every module under ``src/loopml``; one that printed, wrote a
file, configured logging or needed an optional extra would break or slow every test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import importlib, json, logging, os, pkgutil, sys
import loopml

before = (sorted(os.listdir(".")), list(logging.getLogger().handlers))
failed = {}
for info in pkgutil.walk_packages(loopml.__path__, "loopml."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
after = (sorted(os.listdir(".")), list(logging.getLogger().handlers))
print(json.dumps({"failed": failed, "unchanged": before == after}))
"""


def test_every_module_imports_without_side_effects(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout) == {"failed": {}, "unchanged": True}
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran
