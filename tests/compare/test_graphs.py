"""Graph comparison: edge Jaccard, degree and symmetry stats, tie-only differences."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from harness.compare.graphs import compare_graphs, tie_only_difference
from harness.errors import InputError
from tests.compare._real import in_tissue_positions


def _hex_grid(n_rows: int = 12, n_cols: int = 12, spacing: float = 100.0) -> np.ndarray:
    """Visium-like lattice: every interior spot has six neighbours at ``spacing`` px."""
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    x = (cols + 0.5 * (rows % 2)) * spacing
    y = rows * spacing * np.sqrt(3) / 2
    return np.column_stack([x.ravel(), y.ravel()])


def _knn_edges(
    points: np.ndarray, k: int, *, seed: int | None = None, symmetric: bool = True
) -> np.ndarray:
    """kNN graph whose ties are broken by spot index, or at random when ``seed`` is given."""
    n_obs = points.shape[0]
    distances, neighbours = cKDTree(points).query(points, k=min(k + 8, n_obs))
    priority = (
        neighbours.astype(float) if seed is None
        else np.random.default_rng(seed).random(neighbours.shape)
    )
    order = np.lexsort((priority, np.round(distances, 6)), axis=1)
    chosen = np.take_along_axis(neighbours, order, axis=1)
    chosen = chosen[chosen != np.arange(n_obs)[:, None]].reshape(n_obs, -1)[:, :k]
    sources = np.repeat(np.arange(n_obs), k)
    ids = sources * n_obs + chosen.ravel()
    if symmetric:
        ids = np.r_[ids, chosen.ravel() * n_obs + sources]
    ids = np.unique(ids)
    return np.vstack([ids // n_obs, ids % n_obs])


@settings(max_examples=60, deadline=None)
@given(
    n_nodes=st.integers(2, 40),
    seed=st.integers(0, 2**32 - 1),
    n_edges=st.integers(1, 120),
)
def test_graph_passes_against_itself(n_nodes, seed, n_edges):
    edges = np.random.default_rng(seed).integers(0, n_nodes, size=(2, n_edges))

    result = compare_graphs(edges, edges.copy(), n_nodes=n_nodes)

    assert result.status == "pass"
    assert result.observed == 1.0


@pytest.mark.parametrize(
    ("reference", "candidate", "jaccard", "n_only_reference", "n_only_candidate"),
    [
        ([[0, 1], [1, 0]], [[0, 1], [1, 0]], 1.0, 0, 0),
        ([[0, 1, 1], [1, 0, 2]], [[0, 1], [1, 0]], 2 / 3, 1, 0),
        ([[0, 1], [1, 0]], [[1, 2], [2, 1]], 0.0, 2, 2),
        ([[0, 0, 1], [1, 1, 0]], [[0, 1], [1, 0]], 1.0, 0, 0),
        ([[0], [1]], [[1], [0]], 0.0, 1, 1),
    ],
    ids=["identical", "one-extra-edge", "disjoint", "duplicate-edge", "direction-matters"],
)
def test_edge_jaccard_table(reference, candidate, jaccard, n_only_reference, n_only_candidate):
    result = compare_graphs(np.array(reference), np.array(candidate), n_nodes=3)

    assert result.observed == pytest.approx(jaccard)
    assert result.details["n_only_in_reference"] == n_only_reference
    assert result.details["n_only_in_candidate"] == n_only_candidate


def test_degree_and_asymmetry_stats():
    reference = np.array([[0, 1, 1, 2], [1, 0, 2, 1]])
    candidate = np.array([[0, 0, 1, 2, 2], [1, 2, 0, 2, 2]])

    result = compare_graphs(reference, candidate, n_nodes=3)

    assert result.details["reference"] == {
        "n_edges": 4, "n_duplicated_edges": 0, "n_self_loops": 0, "degree_mean": 4 / 3,
        "degree_min": 1, "degree_max": 2, "fraction_reverse_missing": 0.0,
    }
    candidate_stats = result.details["candidate"]
    assert candidate_stats["n_duplicated_edges"] == 1
    assert candidate_stats["n_self_loops"] == 1
    assert candidate_stats["fraction_reverse_missing"] == pytest.approx(1 / 4)


def test_evidence_keyed_by_barcode_with_distance():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    barcodes = np.array(["A-1", "B-1", "C-1"])

    result = compare_graphs(np.array([[0, 1], [1, 0]]), np.array([[0, 2], [2, 0]]),
                            n_nodes=3, keys=barcodes, spatial=points)

    assert result.evidence[0] == {
        "key": "A-1", "target": "B-1", "side": "reference only", "distance_px": 5.0
    }
    assert result.n_offending == 4


@pytest.mark.parametrize(
    ("reference", "match"),
    [
        (np.zeros((3, 2), dtype=int), "shape \\(2, E\\)"),
        (np.zeros((2, 2)), "integer array"),
        (np.array([[0], [7]]), "outside 0..2"),
        (np.array([[-1], [0]]), "outside 0..2"),
    ],
    ids=["three-rows", "float-indices", "beyond-last-spot", "negative-index"],
)
def test_malformed_edges_are_error_status(reference, match):
    result = compare_graphs(reference, np.array([[0], [1]]), n_nodes=3)

    assert result.status == "error"
    assert re.search(match, result.description)


def test_two_empty_graphs_are_error_status():
    empty = np.zeros((2, 0), dtype=np.int64)

    result = compare_graphs(empty, empty, n_nodes=3)

    assert result.status == "error"
    assert "nothing to compare" in result.description


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_nodes": 0}, "n_nodes"),
        ({"n_nodes": 3, "spatial": np.zeros((4, 2))}, "spatial"),
        ({"n_nodes": 3, "keys": np.array(["A-1"])}, "keys"),
    ],
    ids=["no-nodes", "spatial-wrong-shape", "keys-wrong-length"],
)
def test_invalid_arguments_raise(options, match):
    edges = np.array([[0], [1]])

    with pytest.raises(InputError, match=match):
        compare_graphs(edges, edges, **options)


def test_tie_breaking_difference_recognised():
    points = _hex_grid()
    reference = _knn_edges(points, 5)
    candidate = _knn_edges(points, 5, seed=3)

    analysis = tie_only_difference(reference, candidate, points, k=5)
    result = compare_graphs(reference, candidate, n_nodes=points.shape[0], spatial=points, k=5)

    assert analysis.n_differing_edges > 0
    assert analysis.tie_only
    assert analysis.n_nodes_not_knn_reference == analysis.n_nodes_not_knn_candidate == 0
    assert result.status == "fail"
    assert "tie-breaking only" in result.description


def test_other_k_not_mistaken_for_ties():
    points = _hex_grid()
    reference = _knn_edges(points, 5)
    candidate = _knn_edges(points, 4)

    analysis = tie_only_difference(reference, candidate, points, k=5)

    assert not analysis.tie_only
    assert analysis.n_unexplained == 0
    assert analysis.n_nodes_not_knn_candidate > 0


def test_long_edge_not_explained_by_ties():
    points = _hex_grid()
    reference = _knn_edges(points, 5)
    far = points.shape[0] - 1
    candidate = np.hstack([reference, [[0, far], [far, 0]]])

    analysis = tie_only_difference(reference, candidate, points, k=5)

    assert not analysis.tie_only
    assert analysis.n_unexplained == 2
    assert (0, far) in analysis.unexplained_examples


def test_identical_graphs_are_not_tie_only():
    points = _hex_grid(4, 4)
    edges = _knn_edges(points, 3)

    analysis = tie_only_difference(edges, edges.copy(), points, k=3)

    assert analysis.n_differing_edges == 0
    assert not analysis.tie_only


def test_directed_ties_without_k():
    points = _hex_grid()
    reference = _knn_edges(points, 5, symmetric=False)
    candidate = _knn_edges(points, 5, seed=11, symmetric=False)

    analysis = tie_only_difference(reference, candidate, points)

    assert analysis.tie_distance == "farthest_reference_neighbour"
    assert analysis.tie_only
    assert analysis.n_nodes_not_knn_reference is None


@pytest.mark.parametrize(
    ("spatial", "options", "match"),
    [
        (np.zeros((5, 3)), {}, "spatial"),
        (np.array([[np.nan, 0.0]] * 5), {}, "spatial"),
        (np.zeros((5, 2)), {"k": 5}, "k"),
        (np.zeros((5, 2)), {"rtol": -1.0}, "rtol"),
    ],
    ids=["three-columns", "nan-coordinates", "k-too-large", "negative-rtol"],
)
def test_tie_analysis_rejects_invalid_inputs(spatial, options, match):
    edges = np.array([[0], [1]])

    with pytest.raises(InputError, match=match):
        tie_only_difference(edges, edges, spatial, **options)


def test_real_slice_tie_breaking(dlpfc_151673):
    barcodes, xy = in_tissue_positions(dlpfc_151673)
    reference = _knn_edges(xy, 5)
    reshuffled = _knn_edges(xy, 5, seed=1)
    wider = _knn_edges(xy, 6)

    ties = compare_graphs(reference, reshuffled, n_nodes=xy.shape[0], spatial=xy, k=5,
                          keys=barcodes)
    real = compare_graphs(reference, wider, n_nodes=xy.shape[0], spatial=xy, k=5,
                          keys=barcodes)

    assert ties.details["ties"]["tie_only"]
    assert ties.details["ties"]["n_differing_edges"] > 0
    assert ties.evidence[0]["key"] in set(barcodes)
    assert not real.details["ties"]["tie_only"]
    assert real.details["candidate"]["degree_mean"] > real.details["reference"]["degree_mean"]
