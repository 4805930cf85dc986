"""Model bundles written by released versions of loopml still load and predict the same.

The bundles under ``tests/fixtures/bundles/`` were written by the release their directory names
(see the README there); they are never rewritten, so these tests fail when today's code can no
longer read, or scores differently, a model that an older release registered.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.registry import ModelBundle

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bundles"
RELEASES = sorted(p for p in FIXTURES.iterdir() if (p / "bundle").is_dir())


def test_there_is_a_bundle_from_a_release() -> None:
    assert [p.name for p in RELEASES][:1] == ["v0.1.0"]


def test_each_release_is_listed_in_the_readme() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert [p.name for p in RELEASES if f"`{p.name}/`" in readme] == [p.name for p in RELEASES]


@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.name)
def test_bundle_of_a_release_loads_and_predicts_as_recorded(release: Path) -> None:
    manifest = json.loads((release / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert f"v{manifest['info']['loopml_version']}" == release.name

    bundle = ModelBundle.load(release / "bundle")
    rows = pd.read_csv(release / "rows.csv")
    predicted = bundle.predict_frame(rows)

    recorded = pd.read_csv(release / "predictions.csv")
    assert list(predicted.columns) == list(recorded.columns)
    assert predicted["prediction"].tolist() == recorded["prediction"].tolist()
    probabilities = [c for c in recorded.columns if c.startswith("proba_")]
    np.testing.assert_allclose(
        predicted[probabilities].to_numpy(), recorded[probabilities].to_numpy(), rtol=0, atol=1e-12
    )
    assert bundle.problem.classes == ("no", "yes")
