"""The clustering search: it recovers the number of clusters data were generated with, tells
structure from noise, handles mixed columns, and assigns new rows for every algorithm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from loopml.modeling._clustering import search_clusters

ROLES = {f"x{i}": "numeric" for i in range(4)}


def _blobs(centers: int = 4, rows: int = 600, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    X, truth = make_blobs(
        n_samples=rows,
        centers=centers,
        n_features=4,
        cluster_std=1.0,
        center_box=(-25, 25),  # apart: the generated number of clusters is the true one
        random_state=seed,
    )
    return pd.DataFrame(X, columns=list(ROLES)), truth


@pytest.mark.parametrize("centers", [3, 5])
def test_the_search_recovers_the_number_of_clusters_it_was_generated_with(centers: int) -> None:
    frame, truth = _blobs(centers)
    result = search_clusters(frame, ROLES, budget_seconds=60, max_clusters=8)
    assert result.best.n_clusters == centers
    assert result.structure and result.best.stability >= 0.8
    assert adjusted_rand_score(truth, result.labels) > 0.95
    assert f"with {centers} clusters" in result.reason
    assert {c.algorithm for c in result.candidates} == {"kmeans", "gmm", "agglomerative", "hdbscan"}
    assert (result.assigner.predict(frame) == result.labels).mean() > 0.99
    body = result.to_dict()
    assert sum(body["sizes"].values()) == len(frame)


def test_noise_is_not_called_structure() -> None:
    noise = pd.DataFrame(np.random.default_rng(0).uniform(size=(600, 4)), columns=list(ROLES))
    result = search_clusters(noise, ROLES, budget_seconds=60, max_clusters=6, algorithms=["kmeans"])
    assert not result.structure
    assert "no clear structure" in result.reason or "no structure" in result.reason


def test_mixed_columns_cluster_on_numbers_and_categories_together() -> None:
    rng = np.random.default_rng(1)
    group = rng.integers(0, 3, 600)
    frame = pd.DataFrame(
        {
            "spend": rng.normal(group * 3.0, 0.5),
            "visits": rng.normal(10 - group * 2.0, 0.7),
            "plan": np.array(["basic", "pro", "team"])[group],
            "joined": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, 600), "D"),
        }
    )
    roles = {"spend": "numeric", "visits": "numeric", "plan": "categorical", "joined": "datetime"}
    # the date is left out: its parts would be dimensions of noise
    result = search_clusters(frame, roles, budget_seconds=60, max_clusters=6)
    assert result.best.n_clusters == 3
    assert adjusted_rand_score(group, result.labels) > 0.9


def test_algorithms_without_predict_assign_new_rows_through_a_surrogate() -> None:
    frame, _ = _blobs(3)
    result = search_clusters(
        frame, ROLES, budget_seconds=60, max_clusters=5, algorithms=["agglomerative"]
    )
    assert result.best.algorithm == "agglomerative"
    assert result.agreement > 0.95  # cross-validated: the surrogate gives rows their cluster
    new, _ = _blobs(3, rows=90, seed=3)
    assert set(result.assigner.predict(new)) <= set(result.labels)
    assert result.projection["cluster"] and len(result.projection["x"]) == len(frame)


def test_mistakes_are_named() -> None:
    frame, _ = _blobs(3)
    with pytest.raises(ValueError, match="unknown clustering algorithm"):
        search_clusters(frame, ROLES, algorithms=["kmedoids"])
    with pytest.raises(ValueError, match="at least 10 rows"):
        search_clusters(frame.iloc[:5], ROLES)
    with pytest.raises(ValueError, match="needs numeric, boolean or categorical"):
        search_clusters(frame.assign(t="a"), {"t": "text"})


def test_each_cluster_is_explained_by_what_sets_it_apart() -> None:
    from loopml.evaluation._clusters import cluster_profiles

    rng = np.random.default_rng(4)
    group = np.repeat([0, 1], [400, 200])
    frame = pd.DataFrame(
        {
            "spend": rng.normal(np.where(group == 1, 8.0, 2.0), 0.5),
            "noise": rng.normal(size=600),
            "plan": np.where(group == 1, "pro", rng.choice(["basic", "team"], 600)),
        }
    )
    roles = {"spend": "numeric", "noise": "numeric", "plan": "categorical"}
    profiles = cluster_profiles(frame, roles, group)
    assert [(p.cluster, p.rows) for p in profiles] == [(0, 400), (1, 200)]
    small = profiles[1]
    assert small.share == pytest.approx(1 / 3)
    assert small.distinct[0][0] in ("spend", "plan") and small.distinct[-1][0] == "noise"
    assert any(d[1].startswith("pro: 100% of the cluster") for d in small.distinct)
    assert small.centroid["spend"] == pytest.approx(frame["spend"][group == 1].mean())
    assert group[small.medoid] == 1
