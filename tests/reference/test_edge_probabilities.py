"""Edge drop probabilities against a per-edge loop, including zero distances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from harness.artifacts.io import dumps_json
from harness.contract.stages import get_stage
from harness.contract.validate import validate_outputs
from harness.errors import InputError
from reference.stages import edge_probabilities
from reference.stages.edge_probabilities import edge_drop_probabilities
from reference.stages.graph import knn_graph_edges

from ._slices import (
    central_window,
    dlpfc_folder,
    hexagonal_grid,
    naive_distance,
    read_in_tissue_positions,
    stage_context,
    stage_params,
)


def naive_probabilities(edges: np.ndarray, embedding: np.ndarray) -> list[float]:
    """Loop over edges: distance per edge, then divide by the source's running total."""
    rows = [tuple(float(value) for value in row) for row in embedding]
    distances = [naive_distance(rows[s], rows[t]) for s, t in edges.T.tolist()]
    totals: dict[int, float] = {}
    for (source, _), distance in zip(edges.T.tolist(), distances, strict=True):
        totals[source] = totals.get(source, 0.0) + distance
    return [
        distance / totals[source] if distance > 0 else 0.0
        for (source, _), distance in zip(edges.T.tolist(), distances, strict=True)
    ]


def assert_matches_oracle(edges: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    probabilities, _ = edge_drop_probabilities(edges, embedding)
    expected = np.array(naive_probabilities(edges, embedding), dtype=np.float64)
    assert probabilities.dtype == np.float64
    assert probabilities.shape == (edges.shape[1],)
    differing = np.flatnonzero(probabilities != expected)
    assert differing.size == 0, (
        f"{differing.size} of {expected.size} edges differ, first at {differing[:1]}: "
        f"{probabilities[differing[:1]]} != {expected[differing[:1]]}"
    )
    return probabilities


def test_real_dlpfc_graph_matches_loop() -> None:
    _, coords = read_in_tissue_positions(dlpfc_folder())
    points = coords[central_window(coords, 900)]
    edges, _ = knn_graph_edges(points, num_neigh=5)
    embedding = np.random.default_rng(5).normal(size=(points.shape[0], 16))
    probabilities = assert_matches_oracle(edges, embedding)
    sums = np.bincount(edges[0], weights=probabilities)
    np.testing.assert_allclose(sums, 1.0, rtol=0, atol=1e-12)


def test_zero_distances_get_zero() -> None:
    edges, _ = knn_graph_edges(hexagonal_grid(6, 6, seed=2), num_neigh=5)
    rng = np.random.default_rng(9)
    embedding = rng.normal(size=(36, 16))
    # Spots 0..3 share one embedding, so edges among them have distance 0.
    embedding[1:4] = embedding[0]
    probabilities = assert_matches_oracle(edges, embedding)
    among = np.isin(edges[0], [0, 1, 2, 3]) & np.isin(edges[1], [0, 1, 2, 3])
    assert among.any(), "the grid must join some of spots 0..3"
    assert np.all(probabilities[among] == 0.0)
    positive = edges[0][probabilities > 0]
    sums = np.bincount(edges[0], weights=probabilities, minlength=36)
    np.testing.assert_allclose(sums[np.unique(positive)], 1.0, rtol=0, atol=1e-12)


def test_all_zero_row_stays_zero() -> None:
    edges = np.array([[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]], dtype=np.int64)
    embedding = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    probabilities = assert_matches_oracle(edges, embedding)
    assert np.all(probabilities == 0.0)


def test_hand_computed_row() -> None:
    # Source 0 has edges of length 3, 4 and 5 (a 3-4-5 triangle), so p = 3/12, 4/12, 5/12.
    edges = np.array([[0, 0, 0], [1, 2, 3]], dtype=np.int64)
    embedding = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [3.0, 4.0]])
    probabilities, distances = edge_drop_probabilities(edges, embedding)
    assert distances.tolist() == [3.0, 4.0, 5.0]
    np.testing.assert_allclose(probabilities, [0.25, 1 / 3, 5 / 12], rtol=1e-15)


def test_equals_softmax_of_log_distance() -> None:
    edges, _ = knn_graph_edges(hexagonal_grid(8, 8, seed=4), num_neigh=5)
    embedding = np.random.default_rng(1).normal(size=(64, 16))
    probabilities, distances = edge_drop_probabilities(edges, embedding)
    # The published definition: per source row, softmax over log d of its edges.
    for source in range(64):
        row = edges[0] == source
        np.testing.assert_allclose(
            probabilities[row], softmax(np.log(distances[row])), rtol=1e-12, atol=0
        )


def test_run_records_zero_rows() -> None:
    edges = np.array([[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]], dtype=np.int64)
    embedding = np.array([[0.0], [0.0], [1.0]])
    outputs = edge_probabilities.run(
        {"graph/edges": edges, "image_embedding/img_emb": embedding},
        stage_context(),
        stage_params(),
    )
    assert outputs["edge_prob"].tolist() == [0.0, 1.0, 0.0, 1.0, 0.5, 0.5]
    assert outputs["config"]["n_zero_distance_edges"] == 2
    assert outputs["config"]["n_sources_all_zero"] == 0
    validate_outputs(get_stage("edge_probabilities"), outputs, {"N": 3, "E": 6})
    dumps_json(outputs["config"])


@pytest.mark.parametrize(
    ("edges", "embedding", "match"),
    [
        (np.array([0, 1]), np.zeros((2, 2)), r"shape \(2, n_edges\)"),
        (np.array([[0.0], [1.0]]), np.zeros((2, 2)), "integer"),
        (np.array([[0], [2]]), np.zeros((2, 2)), "same slice"),
        (np.array([[0], [-1]]), np.zeros((2, 2)), "same slice"),
        (np.array([[0], [1]]), np.array([[0.0], [np.nan]]), "NaN"),
        (np.array([[0], [1]]), np.zeros(2), r"\(n_spots, n_dims\)"),
    ],
    ids=[
        "flat-edges",
        "float-edges",
        "index-too-large",
        "negative-index",
        "nan-embedding",
        "flat-embedding",
    ],
)
def test_invalid_inputs_raise(edges: np.ndarray, embedding: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        edge_drop_probabilities(edges, embedding)


@settings(max_examples=50, deadline=None)
@given(
    n_spots=st.integers(2, 25),
    n_edges=st.integers(1, 80),
    n_dims=st.integers(1, 16),
    n_distinct=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_random_edges_match_loop(
    n_spots: int, n_edges: int, n_dims: int, n_distinct: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, n_spots, size=(2, n_edges))
    # Few distinct embeddings per slice make zero distances common.
    palette = rng.normal(size=(n_distinct, n_dims))
    embedding = palette[rng.integers(0, n_distinct, size=n_spots)]
    probabilities = assert_matches_oracle(edges, embedding)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    sums = np.bincount(edges[0], weights=probabilities, minlength=n_spots)
    assert np.all((np.abs(sums - 1) < 1e-12) | (sums == 0))
