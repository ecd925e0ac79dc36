"""View draws: edge and gene-column masks, their generator order and their comparison rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.model.views import (
    draw_views,
    drop_edges,
    drop_features,
    feature_drop_mask,
    undirected_edges,
)

# A 5-spot graph: undirected edges 0-1, 0-2, 1-2, 1-4, 2-3, 3-4 in row-major order.
UPPER = [(0, 1), (0, 2), (1, 2), (1, 4), (2, 3), (3, 4)]


def sorted_symmetric(upper: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return sorted({*upper, *[(j, i) for i, j in upper]})


def edge_arrays(upper, probability_of) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges as a (2, n_edges) tensor and per-directed-edge probabilities from ``probability_of``."""
    pairs = sorted_symmetric(upper)
    edges = torch.tensor(pairs, dtype=torch.int64).T
    prob = torch.tensor([probability_of(i, j) for i, j in pairs], dtype=torch.float64)
    return edges, prob


def row_probability(i: int, j: int) -> float:
    """A probability that differs between (i, j) and (j, i), to see which row is used."""
    return 0.1 * ((3 * i + j) % 7) + 0.05


def expected_kept(upper, uniforms, probability_of) -> list[tuple[int, int]]:
    """Kept edge list from the rule, with plain loops: kept (i, j) then the same reversed."""
    kept = [
        (i, j) for (i, j), u in zip(upper, uniforms, strict=True) if u >= probability_of(i, j)
    ]
    return kept + [(j, i) for i, j in kept]


def as_pairs(edges: torch.Tensor) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in edges.T]


def test_edge_draw_order_replays_generator() -> None:
    edges, prob = edge_arrays(UPPER, row_probability)
    n_vars = 11

    torch.manual_seed(2024)
    views = draw_views(
        undirected_edges(edges, prob), n_vars=n_vars, drop_feature_rate_1=0.3, drop_feature_rate_2=0.6
    )

    torch.manual_seed(2024)
    u_edges_1 = torch.rand(len(UPPER)).tolist()
    u_edges_2 = torch.rand(len(UPPER)).tolist()
    u_genes_1 = torch.empty(n_vars).uniform_(0, 1).tolist()
    u_genes_2 = torch.empty(n_vars).uniform_(0, 1).tolist()

    assert as_pairs(views.edges_1) == expected_kept(UPPER, u_edges_1, row_probability)
    assert as_pairs(views.edges_2) == expected_kept(UPPER, u_edges_2, row_probability)
    assert views.feature_drop_1.tolist() == [u < np.float32(0.3) for u in u_genes_1]
    assert views.feature_drop_2.tolist() == [u < np.float32(0.6) for u in u_genes_2]
    # Precondition: the draws differ, so a swapped order would be detected.
    assert views.edges_1.shape != views.edges_2.shape or not torch.equal(
        views.edges_1, views.edges_2
    )


def test_views_consume_expected_draw_count() -> None:
    edges, prob = edge_arrays(UPPER, row_probability)
    torch.manual_seed(5)
    draw_views(undirected_edges(edges, prob), n_vars=9, drop_feature_rate_1=0.1, drop_feature_rate_2=0.2)
    after_views = torch.rand(3)

    torch.manual_seed(5)
    torch.rand(2 * len(UPPER) + 2 * 9)
    assert torch.equal(after_views, torch.rand(3))


def test_edge_probability_from_lower_row() -> None:
    # Lower-index rows set "always drop" and higher-index rows "never drop".
    edges, prob = edge_arrays(UPPER, lambda i, j: 1.0 if i < j else 0.0)
    torch.manual_seed(0)
    assert drop_edges(undirected_edges(edges, prob)).shape == (2, 0)

    edges, prob = edge_arrays(UPPER, lambda i, j: 0.0 if i < j else 1.0)
    torch.manual_seed(0)
    assert as_pairs(drop_edges(undirected_edges(edges, prob))) == expected_kept(
        UPPER, [1.0] * len(UPPER), lambda i, j: 0.0
    )


def test_uniform_equal_to_probability_keeps_edge() -> None:
    torch.manual_seed(3)
    uniforms = torch.rand(len(UPPER)).double()
    # Each edge's probability is exactly its own draw, so only u >= p keeps them all.
    lookup = {pair: float(u) for pair, u in zip(UPPER, uniforms, strict=True)}
    undirected = undirected_edges(*edge_arrays(UPPER, lambda i, j: lookup.get((i, j), 1.0)))
    torch.manual_seed(3)
    assert as_pairs(drop_edges(undirected)) == expected_kept(UPPER, [1.0] * len(UPPER), lambda i, j: 0.0)


def test_undirected_edges_row_major() -> None:
    edges, prob = edge_arrays(UPPER, row_probability)
    undirected = undirected_edges(edges, prob)
    assert as_pairs(undirected.pairs) == UPPER
    assert undirected.drop_prob.tolist() == [row_probability(i, j) for i, j in UPPER]
    assert undirected.drop_prob.dtype == torch.float64


def test_feature_mask_zeroes_whole_columns() -> None:
    features = torch.arange(1.0, 1.0 + 4 * 6, dtype=torch.float64).reshape(4, 6)
    drop = torch.tensor([True, False, False, True, False, True])
    dropped = drop_features(features, drop)
    assert torch.all(dropped[:, drop] == 0)
    assert torch.equal(dropped[:, ~drop], features[:, ~drop])
    assert features[0, 0] == 1.0, "the input must not be modified"


@pytest.mark.parametrize(("rate", "expected"), [(0.0, 0), (1.0, 500)], ids=["rate-0", "rate-1"])
def test_feature_mask_extreme_rates(rate: float, expected: int) -> None:
    torch.manual_seed(1)
    assert int(feature_drop_mask(500, rate).sum()) == expected


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 1.0))
def test_kept_edges_stay_symmetric(seed, scale) -> None:
    edges, prob = edge_arrays(UPPER, lambda i, j: scale * row_probability(i, j) / 0.65)
    torch.manual_seed(seed)
    kept = drop_edges(undirected_edges(edges, prob))
    pairs = as_pairs(kept)
    half = len(pairs) // 2
    assert pairs[half:] == [(j, i) for i, j in pairs[:half]]
    assert all(i < j for i, j in pairs[:half])
    assert pairs[:half] == sorted(pairs[:half])
