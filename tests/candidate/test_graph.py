"""Spatial kNN graph, its tie-breaking, and the edge drop probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from candidate.neighbors import nearest_neighbours
from candidate.pipeline import StaigFusion
from candidate.stages.edge_probabilities import edge_drop_probabilities
from candidate.stages.graph import knn_edges
from harness.errors import InputError


def hexagonal_grid(n_rows: int, n_cols: int, *, spacing: float = 100.0) -> np.ndarray:
    """Spot centres of a Visium-like grid: odd rows shifted by half a spacing."""
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    x = (cols + 0.5 * (rows % 2)) * spacing
    y = rows * spacing * np.sqrt(3) / 2
    return np.column_stack([x.ravel(), y.ravel()])


def brute_force_neighbours(points: np.ndarray, k: int) -> np.ndarray:
    distances = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(distances, np.inf)
    index = np.broadcast_to(np.arange(len(points)), distances.shape)
    order = np.lexsort((index, distances), axis=-1)
    return order[:, :k]


def test_ties_broken_by_spot_index() -> None:
    # An interior spot of the hexagonal grid has six neighbours at the same
    # distance; with k = 5 the one with the largest index is left out.
    points = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [5.0, 5.0]])

    neighbours, distances = nearest_neighbours(points, k=3)

    np.testing.assert_array_equal(neighbours[0], [1, 2, 3])
    np.testing.assert_allclose(distances[0], [1.0, 1.0, 1.0])


def test_neighbours_match_brute_force_on_grid() -> None:
    points = hexagonal_grid(12, 14)

    neighbours, _ = nearest_neighbours(points, k=5)

    np.testing.assert_array_equal(neighbours, brute_force_neighbours(points, 5))


@settings(max_examples=40, deadline=None)
@given(
    points=arrays(
        np.float64,
        st.tuples(st.integers(8, 40), st.just(2)),
        elements=st.integers(0, 6).map(float),
    ),
    k=st.integers(1, 6),
)
def test_neighbours_match_brute_force_with_duplicates(points: np.ndarray, k: int) -> None:
    # Coordinates from a 7 x 7 lattice: many equal distances and duplicate spots.
    neighbours, _ = nearest_neighbours(points, k=k)

    np.testing.assert_array_equal(neighbours, brute_force_neighbours(points, k))
    assert not (neighbours == np.arange(len(points))[:, None]).any()


def test_knn_edges_symmetric_sorted_without_loops() -> None:
    points = hexagonal_grid(8, 9)

    edges = knn_edges(points, k=5)

    pairs = set(map(tuple, edges.T.tolist()))
    assert all((j, i) in pairs for i, j in pairs)
    assert not (edges[0] == edges[1]).any()
    keys = edges[0] * len(points) + edges[1]
    assert (np.diff(keys) > 0).all()
    assert np.bincount(edges[0], minlength=len(points)).min() >= 5


def test_graph_stage_uses_profile_neighbours(make_context) -> None:
    points = hexagonal_grid(6, 6)
    context = make_context(slice_config="151673")

    strict = StaigFusion(profile="strict").stage_graph({"load/spatial": points}, context)
    legacy = StaigFusion(profile="legacy").stage_graph({"load/spatial": points}, context)

    assert strict["config"]["n_neighbours"] == 5
    assert legacy["config"]["n_neighbours"] == 3
    np.testing.assert_array_equal(strict["edges"], knn_edges(points, k=5))
    np.testing.assert_array_equal(legacy["edges"], knn_edges(points, k=3))


@pytest.mark.parametrize(
    ("points", "k"),
    [(np.zeros((3, 2)), 3), (np.array([[0.0, np.nan], [1.0, 1.0]]), 1), (np.zeros(4), 1)],
    ids=["k-too-large", "nan", "1-d"],
)
def test_neighbours_reject_bad_input(points: np.ndarray, k: int) -> None:
    with pytest.raises(InputError):
        nearest_neighbours(points, k=k)


def test_edge_probabilities_normalise_per_source() -> None:
    img_emb = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [0.0, 0.0]])
    edges = np.array([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]])

    probability = edge_drop_probabilities(edges, img_emb)

    # Spot 0: distances 5, 1 and 0 -> 5/6, 1/6 and 0 for the duplicate embedding.
    np.testing.assert_allclose(probability, [5 / 6, 1 / 6, 0.0, 1.0, 1.0, 0.0])


def test_edge_probabilities_equal_softmax_of_log() -> None:
    rng = np.random.default_rng(2)
    points = hexagonal_grid(7, 7)
    edges = knn_edges(points, k=5)
    img_emb = rng.normal(size=(len(points), 16))

    probability = edge_drop_probabilities(edges, img_emb)

    for spot in (0, 10, 24):
        row = edges[0] == spot
        distance = np.linalg.norm(img_emb[spot] - img_emb[edges[1][row]], axis=1)
        softmax = np.exp(np.log(distance)) / np.exp(np.log(distance)).sum()
        np.testing.assert_allclose(probability[row], softmax, rtol=1e-12)
