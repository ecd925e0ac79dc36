"""Neighbour contrastive loss against hand computation and its symmetry properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.model.loss import neighbour_contrastive_loss, neighbour_graph

# Four spots on a path 0 - 1 - 2 - 3 plus the edge 0 - 3, as a sorted symmetric edge list.
EDGES = [(0, 1), (0, 3), (1, 0), (1, 2), (2, 1), (2, 3), (3, 0), (3, 2)]
Z1 = [(1.0, 0.5), (0.2, -1.0), (-0.7, 0.3), (0.4, 0.9)]
Z2 = [(0.9, 0.7), (-0.3, -0.8), (-1.0, -0.2), (0.1, 1.2)]
LABELS = [0, 0, 1, 2]
TAU = 35.0


def hand_loss(z1, z2, edges, labels, tau, *, subtract_self: bool = True) -> float:
    """The loss from its definition, with Python floats and math.exp."""

    def e(a, b):
        dot = a[0] * b[0] + a[1] * b[1]
        norms = math.sqrt(a[0] ** 2 + a[1] ** 2) * math.sqrt(b[0] ** 2 + b[1] ** 2)
        return math.exp(dot / norms / tau)

    n = len(z1)
    neighbours = {i: [j for (s, j) in edges if s == i and j != i] for i in range(n)}

    def anchor(za, zb, i):
        pos = e(za[i], zb[i])
        for j in neighbours[i]:
            pos += e(za[i], za[j]) + e(za[i], zb[j])
        neg = 0.0
        for j in range(n):
            if labels[j] != labels[i]:
                neg += e(za[i], za[j]) + e(za[i], zb[j])
        if subtract_self:
            neg -= e(za[i], za[i])
        return -math.log(pos / neg / (2 * len(neighbours[i]) + 1))

    total = 0.0
    for i in range(n):
        total += (anchor(z1, z2, i) + anchor(z2, z1, i)) / 2
    return total / n


def vector_loss(z1, z2, edges, labels, tau) -> float:
    edge_tensor = torch.tensor(edges, dtype=torch.int64).T
    graph = neighbour_graph(edge_tensor, n_obs=len(z1))
    loss = neighbour_contrastive_loss(
        torch.tensor(z1, dtype=torch.float64),
        torch.tensor(z2, dtype=torch.float64),
        graph=graph,
        pseudo_labels=torch.tensor(labels),
        tau=tau,
    )
    return float(loss)


def test_loss_matches_hand_computation() -> None:
    expected = hand_loss(Z1, Z2, EDGES, LABELS, TAU)
    assert vector_loss(Z1, Z2, EDGES, LABELS, TAU) == pytest.approx(expected, rel=1e-13)


def test_loss_subtracts_self_term() -> None:
    without_quirk = hand_loss(Z1, Z2, EDGES, LABELS, TAU, subtract_self=False)
    obtained = vector_loss(Z1, Z2, EDGES, LABELS, TAU)
    # Precondition: the two definitions differ by far more than rounding.
    assert abs(obtained - without_quirk) > 1e-3
    assert obtained == pytest.approx(hand_loss(Z1, Z2, EDGES, LABELS, TAU), rel=1e-13)


def test_loss_masks_same_label_negatives() -> None:
    distinct = [0, 1, 2, 3]
    expected = hand_loss(Z1, Z2, EDGES, distinct, TAU)
    assert vector_loss(Z1, Z2, EDGES, distinct, TAU) == pytest.approx(expected, rel=1e-13)
    assert abs(expected - hand_loss(Z1, Z2, EDGES, LABELS, TAU)) > 1e-3


def test_loss_ignores_self_loops() -> None:
    with_loops = sorted([*EDGES, (1, 1), (2, 2)])
    assert vector_loss(Z1, Z2, with_loops, LABELS, TAU) == vector_loss(Z1, Z2, EDGES, LABELS, TAU)


def test_isolated_spot_counts_one_positive() -> None:
    # Spot 3 loses its edges: its positive set is only its other-view self.
    edges = [(0, 1), (1, 0), (1, 2), (2, 1)]
    expected = hand_loss(Z1, Z2, edges, LABELS, TAU)
    assert vector_loss(Z1, Z2, edges, LABELS, TAU) == pytest.approx(expected, rel=1e-13)


def test_temperature_changes_loss() -> None:
    assert vector_loss(Z1, Z2, EDGES, LABELS, 5.0) == pytest.approx(
        hand_loss(Z1, Z2, EDGES, LABELS, 5.0), rel=1e-13
    )
    assert abs(vector_loss(Z1, Z2, EDGES, LABELS, 5.0) - vector_loss(Z1, Z2, EDGES, LABELS, TAU)) > 0.01


@st.composite
def loss_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_obs = draw(st.integers(3, 9))
    n_dims = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    z1 = rng.normal(size=(n_obs, n_dims))
    z2 = rng.normal(size=(n_obs, n_dims))
    upper = [(i, j) for i in range(n_obs) for j in range(i + 1, n_obs) if rng.random() < 0.4]
    pairs = sorted({*upper, *[(j, i) for i, j in upper]})
    edges = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    labels = rng.integers(0, 3, size=n_obs)
    labels[0], labels[1] = 0, 1
    return z1, z2, edges, labels


def torch_loss(z1, z2, edges, labels) -> float:
    graph = neighbour_graph(torch.from_numpy(edges), n_obs=z1.shape[0])
    return float(
        neighbour_contrastive_loss(
            torch.from_numpy(z1),
            torch.from_numpy(z2),
            graph=graph,
            pseudo_labels=torch.from_numpy(labels),
            tau=TAU,
        )
    )


@settings(max_examples=40, deadline=None)
@given(loss_problems())
def test_loss_symmetric_in_views(problem) -> None:
    z1, z2, edges, labels = problem
    assert torch_loss(z1, z2, edges, labels) == pytest.approx(
        torch_loss(z2, z1, edges, labels), rel=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(loss_problems(), st.integers(0, 2**32 - 1))
def test_loss_invariant_to_spot_order(problem, seed) -> None:
    z1, z2, edges, labels = problem
    perm = np.random.default_rng(seed).permutation(z1.shape[0])
    inverse = np.argsort(perm)
    moved = inverse[edges]
    order = np.lexsort((moved[1], moved[0]))
    expected = torch_loss(z1, z2, edges, labels)
    obtained = torch_loss(z1[perm], z2[perm], moved[:, order], labels[perm])
    assert obtained == pytest.approx(expected, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(loss_problems(), st.floats(0.01, 100.0))
def test_loss_invariant_to_row_scaling(problem, scale) -> None:
    z1, z2, edges, labels = problem
    assert torch_loss(z1 * scale, z2, edges, labels) == pytest.approx(
        torch_loss(z1, z2, edges, labels), rel=1e-12
    )
