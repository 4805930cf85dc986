"""``loopml demo`` closes the loop, scaled down: days of traffic through the real service
(a child ``loopml serve`` on a free port), drift turned on midway, labels two days late,
monitoring finds the drift, retraining promotes, the service answers with the new version,
and no request fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loopml.demo import write_demo_project
from loopml.demo._service import ServiceError, running_service

pytestmark = pytest.mark.slow

LOOPML = [sys.executable, "-c", "from loopml.cli import main; main()"]
#: The drift adds a "promo" plan and the other shifts; these columns must be found.
DRIFTING = {"plan", "region", "contract", "logins_30d", "monthly_charges"}


def test_the_demo_loop_finds_the_drift_retrains_and_the_service_follows(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    done = subprocess.run(
        [
            *LOOPML, "demo", str(root), "--json", "--rows", "3000", "--folds", "3",
            "--budget", "60", "--max-trials", "4", "--days", "8", "--day-seconds", "3",
            "--rows-per-day", "400",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    body = json.loads(done.stdout)
    assert body["train"]["alias"] == "champion"
    loop = body["loop"]
    days = loop["days"]
    assert [d["day"] for d in days] == list(range(1, 9))
    assert [d["drift"] for d in days] == [0, 0, 0, 0, 0.5, 1, 1, 1]
    assert all(d["rows"] == 400 and d["versions"] == {"1": 400} for d in days)
    # labels of day k come back at the start of day k + 2
    assert [d["labels_for"] for d in days] == [None, None, 1, 2, 3, 4, 5, 6]
    assert all(d["labels_sent"] == 400 for d in days[2:])

    monitoring = loop["monitoring"]
    assert monitoring["drifted"] is True
    assert monitoring["drifted_days"] == [5, 6, 7, 8]  # none before the knob turned
    assert set(monitoring["drifted_features"]) >= DRIFTING
    assert Path(monitoring["report_html"]).is_file()

    decision = loop["retraining"]
    assert decision["triggered"] and "monitoring window alarmed" in decision["trigger"]
    assert (decision["champion_version"], decision["challenger_version"]) == ("1", "2")
    # trained on the sources and days 1-5's labels; compared on day 6 (7 and 8 unlabelled)
    assert decision["rows"] == {"sources": 3007, "logged": 2000, "holdout": 400}
    assert decision["difference"] > 0 and decision["p_value"] < 0.05
    assert decision["promoted"] is True

    assert loop["live_version"] == "2"
    assert loop["after"]["versions"] == {"2": 400}
    assert loop["failed_requests"] == 0 and loop["failures"] == []
    assert loop["requests"] == 8 * 6 + 6 + 7  # predictions, the day after, labels
    page = Path(loop["report"]).read_text(encoding="utf-8")
    assert "version 2 promoted" in page and "Plotly.newPlot" in page
    yaml = (root / "loopml.yaml").read_text(encoding="utf-8")
    assert "window: 3s" in yaml and "holdout_window: 9s" in yaml
    assert not (root / ".loopml" / "demo-serve.log").read_text().count("Traceback")


def test_a_service_that_cannot_start_is_a_clear_error_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    config = write_demo_project(tmp_path / "untrained", rows=300)  # no model registered
    with (
        pytest.raises(ServiceError, match=r"`loopml serve` exited with code \d+; its log"),
        running_service(config),
    ):
        pass  # pragma: no cover (never reached)
