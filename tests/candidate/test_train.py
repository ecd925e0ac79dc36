"""Graph contrastive training: layer creation, view draws, determinism."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.nn import functional
from torch_geometric.nn import GCNConv

from candidate.config import TrainConfig
from candidate.model.network import GraphContrastiveNet
from candidate.model.trainer import train_graph_contrastive
from candidate.model.views import GeneFeatures, UndirectedEdges
from candidate.pipeline import StaigFusion
from candidate.stages.graph import knn_edges

N_SPOTS, N_GENES = 40, 30


@pytest.fixture(scope="module")
def small_problem() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    spatial = rng.uniform(0, 500, size=(N_SPOTS, 2))
    edges = knn_edges(spatial, k=4)
    return {
        "features": rng.gamma(1.0, size=(N_SPOTS, N_GENES)).astype(np.float32),
        "edges": edges,
        "edge_prob": rng.uniform(0, 0.6, size=edges.shape[1]),
        "pseudo_labels": rng.integers(0, 5, size=N_SPOTS),
    }


def train_config(**overrides) -> TrainConfig:
    values = {
        "seed": 39788,
        "lr": 5e-4,
        "weight_decay": 1e-5,
        "n_epochs": 4,
        "gcn_layers": 1,
        "hidden_dim": 8,
        "proj_dim": 8,
        "temperature": 35.0,
        "feature_drop": (0.1, 0.2),
    }
    values.update(overrides)
    return TrainConfig(**values)


def replay_training(problem: dict[str, np.ndarray], config: TrainConfig) -> np.ndarray:
    """The documented training loop written out with dense matrices, one step at a time."""
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)  # noqa: NPY002 - the documented loop seeds numpy globally
    random.seed(config.python_seed)
    conv = GCNConv(N_GENES, config.hidden_dim)
    prelu = torch.nn.PReLU()
    fc1 = torch.nn.Linear(config.hidden_dim, config.proj_dim)
    fc2 = torch.nn.Linear(config.proj_dim, config.hidden_dim)
    modules = torch.nn.ModuleList([conv, prelu, fc1, fc2]).double()
    optimizer = torch.optim.Adam(
        modules.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )

    def forward(x, edge_index):
        return fc2(functional.elu(fc1(prelu(conv(x, edge_index)))))

    x = torch.from_numpy(problem["features"]).double()
    edges = torch.from_numpy(problem["edges"])
    adjacency = torch.zeros(N_SPOTS, N_SPOTS, dtype=torch.float64)
    adjacency[edges[0], edges[1]] = 1.0
    labels = torch.from_numpy(problem["pseudo_labels"])
    mask = (labels[:, None] != labels[None, :]).double()
    upper = edges[0] < edges[1]
    row, col = edges[0][upper], edges[1][upper]
    probability = torch.from_numpy(problem["edge_prob"])[upper]

    def one_direction(a, b):
        unit_a, unit_b = functional.normalize(a), functional.normalize(b)
        intra = torch.exp(unit_a @ unit_a.T / config.temperature)
        inter = torch.exp(unit_a @ unit_b.T / config.temperature)
        positive = inter.diag() + (intra * adjacency).sum(1) + (inter * adjacency).sum(1)
        negative = (intra * mask).sum(1) + (inter * mask).sum(1) - intra.diag()
        return -torch.log(positive / negative / (adjacency.sum(1) * 2 + 1))

    for _ in range(config.n_epochs):
        optimizer.zero_grad()
        views = []
        for _view in range(2):
            keep = torch.rand(row.numel()) >= probability
            views.append(
                torch.stack([torch.cat([row[keep], col[keep]]), torch.cat([col[keep], row[keep]])])
            )
        features = []
        for rate in config.feature_drop:
            drop = torch.empty(N_GENES).uniform_(0, 1) < rate
            view = x.clone()
            view[:, drop] = 0
            features.append(view)
        z1, z2 = forward(features[0], views[0]), forward(features[1], views[1])
        loss = (0.5 * (one_direction(z1, z2) + one_direction(z2, z1))).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return forward(x, edges).numpy()


def test_training_replays_documented_loop(small_problem) -> None:
    config = train_config()
    expected = replay_training(small_problem, config)

    result = train_graph_contrastive(**small_problem, config=config, device="cpu")

    assert not GeneFeatures(small_problem["features"], device="cpu").sparse
    np.testing.assert_allclose(result.embedding, expected, rtol=1e-9, atol=1e-12)


def test_sparse_features_replay_documented_loop(small_problem) -> None:
    rng = np.random.default_rng(9)
    mostly_zero = small_problem["features"] * (
        rng.uniform(size=small_problem["features"].shape) < 0.1
    )
    problem = {**small_problem, "features": mostly_zero.astype(np.float32)}
    config = train_config()
    expected = replay_training(problem, config)

    result = train_graph_contrastive(**problem, config=config, device="cpu")

    # The sparse product sums in another order, so only rounding may differ.
    assert GeneFeatures(problem["features"], device="cpu").sparse
    np.testing.assert_allclose(result.embedding, expected, rtol=1e-9, atol=1e-12)


def test_training_is_deterministic(small_problem) -> None:
    config = train_config()

    first = train_graph_contrastive(**small_problem, config=config, device="cpu")
    second = train_graph_contrastive(**small_problem, config=config, device="cpu")

    np.testing.assert_array_equal(first.embedding, second.embedding)
    np.testing.assert_array_equal(first.loss, second.loss)
    assert first.embedding.shape == (N_SPOTS, 8)
    assert first.embedding.dtype == np.float64
    assert first.loss.shape == (4,)
    assert np.isfinite(first.loss).all()


def test_training_restores_determinism_flag(small_problem) -> None:
    before = torch.are_deterministic_algorithms_enabled()

    train_graph_contrastive(**small_problem, config=train_config(n_epochs=1), device="cpu")

    assert torch.are_deterministic_algorithms_enabled() == before


def test_layers_created_in_documented_order() -> None:
    torch.manual_seed(1)
    net = GraphContrastiveNet(n_genes=12, hidden_dim=6, proj_dim=5, n_layers=1)
    torch.manual_seed(1)
    conv = GCNConv(12, 6)
    torch.nn.PReLU()
    fc1 = torch.nn.Linear(6, 5)
    fc2 = torch.nn.Linear(5, 6)

    torch.testing.assert_close(net.convs[0].lin.weight, conv.lin.weight)
    torch.testing.assert_close(net.fc1.weight, fc1.weight)
    torch.testing.assert_close(net.fc2.bias, fc2.bias)
    assert net.activation.weight.numel() == 1


def test_two_layers_widen_then_narrow() -> None:
    net = GraphContrastiveNet(n_genes=12, hidden_dim=6, proj_dim=5, n_layers=2)

    assert [conv.out_channels for conv in net.convs] == [12, 6]


def test_edge_view_keeps_pairs_then_reversed() -> None:
    edges = np.array([[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]])
    pairs = UndirectedEdges.from_directed(edges, np.array([0.0, 1.0, 0.0, 0.0, 1.0, 0.0]))

    torch.manual_seed(0)
    view = pairs.draw_view()

    # Pair (0, 2) has drop probability 1 and goes; (0, 1) and (1, 2) stay.
    np.testing.assert_array_equal(view.numpy(), [[0, 1, 1, 2], [1, 2, 0, 1]])


@pytest.mark.parametrize("density", [1.0, 0.05], ids=["dense", "sparse"])
def test_views_draw_one_uniform_per_item(density: float) -> None:
    rng = np.random.default_rng(0)
    edges = knn_edges(rng.uniform(size=(20, 2)), k=3)
    pairs = UndirectedEdges.from_directed(edges, np.zeros(edges.shape[1]))
    genes = GeneFeatures(
        rng.uniform(size=(20, 7)) * (rng.uniform(size=(20, 7)) < density), device="cpu"
    )

    torch.manual_seed(5)
    pairs.draw_view()
    genes.draw_view(drop_rate=0.5)
    after_views = torch.rand(1)
    torch.manual_seed(5)
    torch.rand(pairs.source.numel() + 7)
    after_skip = torch.rand(1)

    torch.testing.assert_close(after_views, after_skip)


@pytest.mark.parametrize("density", [1.0, 0.2], ids=["dense", "sparse"])
def test_feature_view_zeroes_whole_columns(density: float) -> None:
    rng = np.random.default_rng(6)
    values = (1.0 + rng.uniform(size=(40, 200))) * (rng.uniform(size=(40, 200)) < density)
    genes = GeneFeatures(values, device="cpu")

    torch.manual_seed(2)
    view = genes.draw_view(drop_rate=0.3)
    dense_view = view.to_dense() if genes.sparse else view
    torch.manual_seed(2)
    drop = (torch.rand(200) < 0.3).numpy()

    assert genes.sparse == (density < 1.0)
    np.testing.assert_array_equal(dense_view.numpy()[:, drop], 0.0)
    np.testing.assert_array_equal(dense_view.numpy()[:, ~drop], values[:, ~drop])
    assert 30 < int(drop.sum()) < 90


def test_train_stage_records_reduction(small_problem, make_context) -> None:
    context = make_context(slice_config="151673", preset="quick", options={"n_epochs": 2})
    inputs = {
        "genes/feat": small_problem["features"],
        "graph/edges": small_problem["edges"],
        "edge_probabilities/edge_prob": small_problem["edge_prob"],
        "pseudo_labels/pseudo_labels": small_problem["pseudo_labels"],
    }

    outputs = StaigFusion(profile="strict").stage_train(inputs, context)

    assert outputs["emb"].shape == (N_SPOTS, 64)
    assert outputs["loss"].shape == (2,)
    assert outputs["config"]["reductions"]["n_epochs"] == {"configured": 300, "used": 2}
    assert outputs["config"]["temperature"] == 35
