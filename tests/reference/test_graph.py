"""Graph stage and its kNN helper against a slow oracle, on grids with ties and real spots."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.artifacts.io import dumps_json
from harness.contract.stages import get_stage
from harness.contract.validate import validate_outputs
from harness.errors import InputError
from reference.spatial.knn import euclidean_distance, nearest_neighbours
from reference.stages import graph
from reference.stages.graph import knn_graph_edges

from ._slices import (
    central_window,
    dlpfc_folder,
    hexagonal_grid,
    naive_distance,
    naive_neighbours,
    read_in_tissue_positions,
    stage_context,
    stage_params,
)


def naive_edges(points: np.ndarray, k: int) -> np.ndarray:
    """Symmetric kNN edges from the oracle's neighbour lists, sorted by (source, target)."""
    pairs = set()
    for i, chosen in enumerate(naive_neighbours(points, k)):
        for j in chosen:
            pairs.add((i, j))
            pairs.add((j, i))
    ordered = sorted(pairs)
    return np.array(ordered, dtype=np.int64).T.reshape(2, len(ordered))


def assert_same_edges(obtained: np.ndarray, expected: np.ndarray) -> None:
    assert obtained.dtype == np.int64
    assert obtained.shape == expected.shape, f"{obtained.shape[1]} edges, oracle {expected.shape}"
    mismatch = np.flatnonzero((obtained != expected).any(axis=0))
    assert mismatch.size == 0, f"first differing edge position {mismatch[:1]}"


def test_hexagonal_grid_ties_exact() -> None:
    points = hexagonal_grid(12, 12, seed=7)
    interior = np.flatnonzero(
        (points[:, 0] > 12) & (points[:, 0] < 60) & (points[:, 1] > 12) & (points[:, 1] < 45)
    )
    # Precondition: the grid really has six bit-identical first-ring distances.
    ring = np.sort(euclidean_distance(points[interior][:, None, :], points[None, :, :]), axis=1)
    assert np.all(ring[:, 1:7] == 6.0)
    assert np.all(ring[:, 7] > 6.0)

    neighbours = nearest_neighbours(points, k=5)
    assert neighbours.tied_at_cutoff[interior].all()
    for spot in interior[:10]:
        first_ring = np.flatnonzero(euclidean_distance(points[spot], points) == 6.0)
        assert first_ring.size == 6
        assert neighbours.indices[spot].tolist() == sorted(first_ring.tolist())[:5]

    edges, n_tied = knn_graph_edges(points, num_neigh=5)
    assert n_tied == int(neighbours.tied_at_cutoff.sum())
    assert_same_edges(edges, naive_edges(points, 5))


def test_hexagonal_grid_radius_fifteen() -> None:
    points = hexagonal_grid(10, 10, seed=3)
    neighbours = nearest_neighbours(points, k=15)
    assert neighbours.indices.tolist() == naive_neighbours(points, 15)


def test_real_dlpfc_window_matches_oracle() -> None:
    _, coords = read_in_tissue_positions(dlpfc_folder())
    points = coords[central_window(coords, 700)]
    edges, n_tied = knn_graph_edges(points, num_neigh=5)
    # Real pixel coordinates are integers, so some spots have exact ties at the 5th neighbour.
    assert n_tied > 0
    assert_same_edges(edges, naive_edges(points, 5))


def test_real_dlpfc_full_slice_properties() -> None:
    _, coords = read_in_tissue_positions(dlpfc_folder())
    edges, _ = knn_graph_edges(coords, num_neigh=5)
    n_spots = coords.shape[0]
    degree = np.bincount(edges[0], minlength=n_spots)
    assert degree.min() >= 5
    # Inside the tissue, nearly every spot ends with 5 or 6 neighbours (its hexagonal ring).
    assert np.mean((degree == 5) | (degree == 6)) > 0.9
    keys = edges[0] * n_spots + edges[1]
    assert np.array_equal(keys, np.sort(edges[1] * n_spots + edges[0]))


def test_duplicate_positions_need_more_candidates() -> None:
    rng = np.random.default_rng(11)
    stacked = np.zeros((50, 2))
    scattered = rng.integers(1, 30, size=(40, 2)).astype(np.float64)
    points = np.concatenate([scattered[:20], stacked, scattered[20:]])
    neighbours = nearest_neighbours(points, k=5)
    assert neighbours.indices.tolist() == naive_neighbours(points, 5)
    stacked_rows = neighbours.distances[20:70]
    assert np.all(stacked_rows == 0.0)


def test_ring_of_equidistant_points_tie() -> None:
    # Twelve integer points on the circle x² + y² = 25 around the origin: all tie.
    circle = [(5, 0), (-5, 0), (0, 5), (0, -5), (3, 4), (3, -4), (-3, 4), (-3, -4),
              (4, 3), (4, -3), (-4, 3), (-4, -3)]
    points = np.array([(0, 0), *circle], dtype=np.float64)[::-1]
    neighbours = nearest_neighbours(points, k=5)
    centre = points.shape[0] - 1
    assert neighbours.indices[centre].tolist() == [0, 1, 2, 3, 4]
    assert neighbours.tied_at_cutoff[centre]


def test_graph_run_writes_config() -> None:
    points = hexagonal_grid(8, 8, seed=1)
    outputs = graph.run({"load/spatial": points}, stage_context(), stage_params(num_neigh=5))
    assert set(outputs) == {"edges", "config"}
    config = outputs["config"]
    assert config["num_neigh"] == 5
    assert config["n_edges"] == outputs["edges"].shape[1]
    assert config["tie_break"] == "distance, then spot index"
    assert config["n_spots_tied_at_cutoff"] > 0
    validate_outputs(get_stage("graph"), outputs, {"N": 64})
    dumps_json(config)


@pytest.mark.parametrize(
    ("points", "k", "match"),
    [
        (np.zeros((5,)), 2, "2-D"),
        (np.array([[0.0, 0.0], [1.0, np.nan], [2.0, 0.0]]), 1, "NaN"),
        (np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]), 3, "k=3"),
        (np.array([[0.0, 0.0], [1.0, 0.0]]), 0, "k=0"),
        (np.array([["a", "b"], ["c", "d"]]), 1, "numeric"),
    ],
    ids=["one-dimensional", "nan-coordinate", "k-too-large", "k-zero", "strings"],
)
def test_invalid_inputs_raise(points: np.ndarray, k: int, match: str) -> None:
    with pytest.raises(InputError, match=match):
        knn_graph_edges(points, num_neigh=k)


integer_points = arrays(
    np.float64,
    st.tuples(st.integers(6, 40), st.just(2)),
    elements=st.integers(0, 6).map(float),
)


@settings(max_examples=60, deadline=None)
@given(points=integer_points, k=st.integers(1, 5))
def test_integer_points_match_oracle(points: np.ndarray, k: int) -> None:
    edges, _ = knn_graph_edges(points, num_neigh=k)
    assert_same_edges(edges, naive_edges(points, k))


@settings(max_examples=60, deadline=None)
@given(points=integer_points, k=st.integers(1, 5))
def test_graph_symmetric_without_self_loops(points: np.ndarray, k: int) -> None:
    edges, _ = knn_graph_edges(points, num_neigh=k)
    n_spots = points.shape[0]
    keys = edges[0] * n_spots + edges[1]
    reverse = np.sort(edges[1] * n_spots + edges[0])
    assert np.array_equal(keys, np.unique(keys)), "edges must be sorted and unique"
    assert np.array_equal(keys, reverse), "every edge needs its reverse"
    assert not np.any(edges[0] == edges[1])
    assert np.bincount(edges[0], minlength=n_spots).min() >= k


@settings(max_examples=40, deadline=None)
@given(
    n_spots=st.integers(8, 40),
    k=st.integers(1, 6),
    scale=st.sampled_from([1e-3, 1.0, 1e4]),
    seed=st.integers(0, 2**16),
)
def test_permuting_spots_permutes_graph(n_spots: int, k: int, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.uniform(-scale, scale, size=(n_spots, 2))
    distances = [
        naive_distance(tuple(points[i]), tuple(points[j]))
        for i in range(n_spots)
        for j in range(i + 1, n_spots)
    ]
    assume(len(set(distances)) == len(distances))

    permutation = rng.permutation(n_spots)
    edges, _ = knn_graph_edges(points, num_neigh=k)
    permuted, _ = knn_graph_edges(points[permutation], num_neigh=k)
    # Spot p of the permuted slice is spot permutation[p] of the original.
    mapped = {(int(permutation[s]), int(permutation[t])) for s, t in permuted.T}
    assert mapped == {(int(s), int(t)) for s, t in edges.T}


@settings(max_examples=60, deadline=None)
@given(points=integer_points, k=st.integers(1, 5))
def test_neighbour_lists_well_formed(points: np.ndarray, k: int) -> None:
    neighbours = nearest_neighbours(points, k=k)
    n_spots = points.shape[0]
    assert neighbours.indices.shape == (n_spots, k)
    assert not np.any(neighbours.indices == np.arange(n_spots)[:, None])
    assert all(len(set(row)) == k for row in neighbours.indices.tolist())
    assert np.all(np.diff(neighbours.distances, axis=1) >= 0)
    recomputed = euclidean_distance(points[:, None, :], points[neighbours.indices])
    assert np.array_equal(recomputed, neighbours.distances)
    if k + 1 <= n_spots - 1:
        extended = nearest_neighbours(points, k=k + 1).distances
        assert np.array_equal(neighbours.tied_at_cutoff, extended[:, k] == extended[:, k - 1])
    else:
        assert not neighbours.tied_at_cutoff.any()
