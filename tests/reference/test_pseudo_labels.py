"""KMeans pseudo-labels: STAIG's settings, recovered blobs and bad inputs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from harness.artifacts.io import dumps_json
from harness.contract.stages import get_stage
from harness.contract.validate import validate_outputs
from harness.errors import InputError
from reference.stages import pseudo_labels
from reference.stages.pseudo_labels import kmeans_pseudo_labels

from ._slices import stage_context, stage_params


def overlapping_embedding(n_spots: int, *, seed: int) -> np.ndarray:
    """A 16-d embedding without clear clusters, where KMeans restarts matter."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_spots, 16)) * np.linspace(3.0, 0.5, 16)


def test_same_as_kmeans_with_ten_restarts() -> None:
    embedding = overlapping_embedding(300, seed=4)
    labels, info = kmeans_pseudo_labels(embedding, n_clusters=20)
    expected = KMeans(n_clusters=20, random_state=0, n_init=10).fit(embedding)
    assert np.array_equal(labels, expected.labels_)
    assert info["inertia"] == pytest.approx(expected.inertia_, rel=1e-12)

    # Precondition that makes the check above discriminating: one restart differs.
    single = KMeans(n_clusters=20, random_state=0, n_init=1).fit(embedding)
    assert not np.array_equal(single.labels_, expected.labels_)


def test_separated_blobs_recovered() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=50.0, size=(6, 16))
    truth = np.repeat(np.arange(6), 40)
    embedding = centres[truth] + rng.normal(scale=0.1, size=(truth.size, 16))
    labels, info = kmeans_pseudo_labels(embedding, n_clusters=6)
    assert labels.dtype == np.int64
    assert adjusted_rand_score(truth, labels) == 1.0
    assert info["n_labels_found"] == 6


def test_fewer_distinct_points_warns(caplog: pytest.LogCaptureFixture) -> None:
    embedding = np.repeat(np.eye(3), 10, axis=0)
    with caplog.at_level(logging.WARNING, logger="reference.stages.pseudo_labels"):
        labels, info = kmeans_pseudo_labels(embedding, n_clusters=5)
    assert info["n_labels_found"] == 3
    assert info["convergence_warnings"], "scikit-learn's ConvergenceWarning must be recorded"
    assert "distinct clusters" in caplog.text
    assert np.unique(labels).size == 3


def test_run_uses_config_k() -> None:
    embedding = overlapping_embedding(200, seed=1)
    outputs = pseudo_labels.run(
        {"image_embedding/img_emb": embedding}, stage_context(), stage_params(k=12)
    )
    labels = outputs["pseudo_labels"]
    assert labels.shape == (200,)
    assert labels.min() == 0
    assert labels.max() == 11
    config = outputs["config"]
    assert config["k"] == 12
    assert config["n_init"] == 10
    assert config["random_state"] == 0
    validate_outputs(get_stage("pseudo_labels"), outputs, {"N": 200})
    dumps_json(config)


@pytest.mark.parametrize(
    ("embedding", "n_clusters", "match"),
    [
        (np.zeros((5, 16)), 80, "at least k=80 spots, got 5"),
        (np.zeros((5, 16)), 0, "at least 1; got 0"),
        (np.array([[0.0, 1.0], [np.nan, 0.0]]), 1, "NaN"),
        (np.zeros(10), 2, "n_spots, n_dims"),
    ],
    ids=["fewer-spots-than-k", "k-zero", "nan", "flat"],
)
def test_invalid_inputs_raise(embedding: np.ndarray, n_clusters: int, match: str) -> None:
    with pytest.raises(InputError, match=match):
        kmeans_pseudo_labels(embedding, n_clusters=n_clusters)
