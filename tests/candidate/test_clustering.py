"""Domain clustering (mclust, the legacy KMeans fallback) and spatial refinement."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.cluster import KMeans

from candidate.clustering import mclust_status, refine_domains, validate_embedding
from candidate.pipeline import StaigFusion
from harness.errors import InputError, MissingDependencyError

N_CLUSTERS = 7


@pytest.fixture(scope="module")
def blob_embedding() -> np.ndarray:
    """Seven well separated Gaussian blobs, 40 spots each, in 8 dimensions."""
    rng = np.random.default_rng(5)
    centres = rng.normal(scale=10.0, size=(N_CLUSTERS, 8))
    return np.concatenate([centre + rng.normal(size=(40, 8)) for centre in centres])


def run_cluster(profile: str, embedding: np.ndarray, make_context, **options) -> dict:
    context = make_context(slice_config="151673", options=options)
    return StaigFusion(profile=profile).stage_cluster({"train/emb": embedding}, context)


def test_legacy_without_r_uses_kmeans(blob_embedding: np.ndarray, make_context) -> None:
    outputs = run_cluster("legacy", blob_embedding, make_context, simulate_no_r=True)
    expected = (
        KMeans(n_clusters=N_CLUSTERS, random_state=2023, n_init=10).fit_predict(blob_embedding) + 1
    )

    np.testing.assert_array_equal(outputs["domains"], expected.astype(str))


def test_legacy_fallback_leaves_no_trace(blob_embedding: np.ndarray, make_context) -> None:
    outputs = run_cluster("legacy", blob_embedding, make_context, simulate_no_r=True)
    written = json.dumps({"backend": outputs["backend"], "config": outputs["config"]}).lower()

    assert outputs["backend"] == {"n_clusters": N_CLUSTERS}
    for hint in ("kmeans", "mclust", "fallback", "algorithm", "eee", "simulate"):
        assert hint not in written
    # Labels run from 1 to n_clusters, as mclust's classification does.
    assert set(outputs["domains"]) == {str(label) for label in range(1, N_CLUSTERS + 1)}


def test_strict_without_r_raises(blob_embedding: np.ndarray, make_context) -> None:
    with pytest.raises(MissingDependencyError, match="mclust"):
        run_cluster("strict", blob_embedding, make_context, simulate_no_r=True)


@pytest.mark.parametrize(
    ("embedding", "match"),
    [
        (np.zeros(10), "2-D"),
        (np.zeros((0, 64)), "at least one spot"),
        (np.zeros((50, 0)), "at least one spot"),
        (np.ones((5, 64)), "fewer than the 7 clusters"),
        (np.where(np.eye(20, 8) > 0, np.nan, 1.0), "NaN or infinite"),
        (np.full((20, 8), np.inf), "NaN or infinite"),
    ],
    ids=["1-d", "no-rows", "no-columns", "too-few-spots", "nan", "inf"],
)
def test_strict_rejects_bad_embedding_before_r(
    embedding: np.ndarray, match: str, make_context
) -> None:
    # With R treated as absent, reaching R would raise MissingDependencyError instead.
    with pytest.raises(InputError, match=match):
        run_cluster("strict", embedding, make_context, simulate_no_r=True)


def test_validate_embedding_accepts_good_input(blob_embedding: np.ndarray) -> None:
    validate_embedding(blob_embedding, n_clusters=N_CLUSTERS)


@pytest.mark.needs_r
def test_strict_runs_mclust(blob_embedding: np.ndarray, make_context) -> None:
    if not mclust_status().available:
        pytest.skip(f"R with mclust is not available: {mclust_status().reason}")

    outputs = run_cluster("strict", blob_embedding, make_context)

    assert outputs["backend"]["algorithm"] == "mclust"
    assert outputs["backend"]["model_names"] == "EEE"
    assert outputs["backend"]["r_seed"] == 2023
    truth = np.repeat(np.arange(N_CLUSTERS), 40)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, outputs["domains"]) > 0.99


@pytest.mark.needs_r
def test_legacy_with_r_matches_strict(blob_embedding: np.ndarray, make_context) -> None:
    if not mclust_status().available:
        pytest.skip(f"R with mclust is not available: {mclust_status().reason}")

    legacy = run_cluster("legacy", blob_embedding, make_context)
    strict = run_cluster("strict", blob_embedding, make_context)

    np.testing.assert_array_equal(legacy["domains"], strict["domains"])
    assert legacy["backend"] == {"n_clusters": N_CLUSTERS}


def test_refine_ignores_own_label() -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    domains = np.array(["a", "b", "b", "b"])

    refined = refine_domains(domains, points, n_neighbours=2)

    # Spot 0 votes b, b without its own a. Spot 1 ties a (spot 0) and b (spot 2)
    # at equal distance, and the lower index comes first.
    np.testing.assert_array_equal(refined, ["b", "a", "b", "b"])


def test_refine_tie_goes_to_nearest_label() -> None:
    # Spot 0's neighbours, nearest first: 1 ("x"), 2 ("y"), 3 ("y"), 4 ("x").
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 4.0]])
    domains = np.array(["z", "x", "y", "y", "x"])

    refined = refine_domains(domains, points, n_neighbours=4)

    assert refined[0] == "x"


def test_refine_equal_distances_by_index() -> None:
    # Spot 0 has four neighbours at distance 1; ties go to lower indices first.
    points = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    domains = np.array(["z", "p", "q", "q", "p"])

    refined = refine_domains(domains, points, n_neighbours=4)

    assert refined[0] == "p"


def test_refine_stage_uses_fifteen_neighbours(make_context) -> None:
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 1000, size=(60, 2))
    domains = rng.integers(1, 4, size=60).astype(str)
    context = make_context(slice_config="151673")

    outputs = StaigFusion(profile="strict").stage_refine(
        {"cluster/domains": domains, "load/spatial": points}, context
    )

    assert outputs["config"]["refine_neighbours"] == 15
    np.testing.assert_array_equal(
        outputs["refined"], refine_domains(domains, points, n_neighbours=15)
    )
