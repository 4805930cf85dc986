"""The registry as the CLI shows it: what `models list|show|promote` say is what is true,
the tables say what --json says, and every table fits the terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from _tiny import write_tiny_project
from typer.testing import CliRunner

from loopml.cli import app

runner = CliRunner()


def _invoke(*args: str, width: int = 200) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": str(width)})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny project trained twice: version 1 becomes champion; version 2, the same model
    on the same data, does not beat it and becomes challenger. The console output of each
    training is kept, at 60 and 80 columns."""
    config = write_tiny_project(tmp_path_factory.mktemp("registry") / "tiny")
    first = _invoke("train", "-c", str(config), width=60)
    assert first.exit_code == 0, first.output
    second = _invoke("train", "-c", str(config), width=80)
    assert second.exit_code == 0, second.output
    return {"config": str(config), "root": config.parent, 60: first.stdout, 80: second.stdout}


def _listed(config: str) -> dict[str, dict[str, Any]]:
    done = _invoke("models", "list", "-c", config, "--json")
    assert done.exit_code == 0, done.output
    return {v["version"]: v for v in json.loads(done.stdout)}


def test_models_list_names_the_metric_and_shows_the_gate(trained: dict[str, Any]) -> None:
    listed = _listed(trained["config"])

    assert [v["aliases"] for v in listed.values()] == [["challenger"], ["champion"]]
    for v in listed.values():
        assert (v["family"], v["metric"]) == ("linear", "roc_auc")
        assert v["gate"]["expression"] == "roc_auc >= 0.6"
        assert v["gate"]["passed"] is True
        assert v["gate"]["value"] == v["holdout"] == v["metrics"]["holdout_roc_auc"]

    table = _invoke("models", "list", "-c", trained["config"]).stdout
    assert "holdout roc_auc" in table
    for v in listed.values():  # the row of each version shows what --json says
        [row] = [line for line in table.splitlines() if re.match(rf"│\s+{v['version']} │", line)]
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells[:4] == [v["version"], ", ".join(v["aliases"]), "linear", f"{v['holdout']:.4f}"]
        assert cells[4] == f"passed (roc_auc >= 0.6: {v['holdout']:.4f})"


def test_models_show_gives_family_gate_reason_and_report(trained: dict[str, Any]) -> None:
    done = _invoke("models", "show", "2", "-c", trained["config"], "--json")
    assert done.exit_code == 0, done.output
    shown = json.loads(done.stdout)

    assert shown["family"] == "linear"
    assert shown["gate"]["expression"] == "roc_auc >= 0.6" and shown["gate"]["passed"] is True
    assert re.fullmatch(
        r"challenger: roc_auc 0\.\d{4} does not beat the champion's 0\.\d{4} on the same "
        r"holdout \(previous challenger: none\)",
        shown["promotion_reason"],
    )
    report = Path(shown["report"])
    assert report == trained["root"].resolve() / ".loopml" / "reports" / "tiny-v2.html"
    assert report.is_file()
    html = report.read_text(encoding="utf-8")
    # a learning curve, or one sentence saying why there is none
    assert ('id="fig-learning_curve"' in html) != ('id="no-learning-curve"' in html)

    table = _invoke("models", "show", "2", "-c", trained["config"]).stdout
    rows = dict(
        (cells[0].strip(), cells[1].strip())
        for line in table.splitlines()
        if len(cells := line.strip("│").split("│")) == 2
    )
    assert rows["family"] == "linear"
    assert rows["aliases"] == "challenger"
    assert rows["holdout roc_auc"] == f"{shown['holdout']:.4f}"
    assert rows["gate"] == f"passed (roc_auc >= 0.6: {shown['holdout']:.4f})"
    assert rows["promotion reason"] == shown["promotion_reason"]
    assert rows["report"] == shown["report"]


def test_the_champion_cannot_also_be_challenger(trained: dict[str, Any]) -> None:
    done = _invoke("models", "promote", "1", "--alias", "challenger", "-c", trained["config"])

    assert done.exit_code == 6
    assert "version 1 of 'tiny' is the champion; a version cannot be both" in done.stderr
    assert [v["aliases"] for v in _listed(trained["config"]).values()] == [
        ["challenger"],
        ["champion"],
    ]


def test_promoting_the_challenger_removes_its_challenger_alias(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    done = _invoke("models", "promote", "2", "-c", trained["config"], "--json")
    assert done.exit_code == 0, done.output
    promoted = json.loads(done.stdout)

    assert promoted["aliases"] == ["champion"]
    assert promoted["promotion_reason"].startswith(
        "champion: promoted by hand with `loopml models promote` on "
    )
    assert promoted["promotion_reason"].endswith("(previous champion: version 1)")
    listed = _listed(trained["config"])
    assert (listed["2"]["aliases"], listed["1"]["aliases"]) == (["champion"], [])
    assert re.fullmatch(
        r"was champion until .+ UTC, when version 2 became champion",
        listed["1"]["promotion_reason"],
    )
    back = _invoke("models", "promote", "1", "-c", trained["config"])
    assert back.exit_code == 0, back.output
    assert "tiny version 1 is now champion (aliases: champion)." in back.stdout


@pytest.mark.parametrize("width", [60, 80])
def test_training_output_fits_the_terminal(trained: dict[str, Any], width: int) -> None:
    lines = trained[width].splitlines()

    assert max(len(line) for line in lines) <= width
    assert "…" not in trained[width]  # nothing was cut to make it fit
    assert any("roc_auc" in line for line in lines)


@pytest.mark.parametrize("width", [60, 80])
@pytest.mark.parametrize(
    "command",
    [["models", "list"], ["models", "show", "1"], ["evaluate", "--model", "1"]],
    ids=["models-list", "models-show", "evaluate"],
)
def test_registry_tables_fit_the_terminal(
    trained: dict[str, Any], command: list[str], width: int
) -> None:
    done = _invoke(*command, "-c", trained["config"], width=width)

    assert done.exit_code == 0, done.output
    assert max(len(line) for line in done.stdout.splitlines()) <= width
    assert "…" not in done.stdout
