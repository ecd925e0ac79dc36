"""Training: gradients against a loop re-derivation, determinism, model layout, input checks."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch_geometric.nn import GCNConv

from harness.config import RunConfig
from harness.errors import InputError
from harness.implementation import StageContext
from reference.config import PRESET_SETTINGS, resolve_params
from reference.model.encoder import build_model, layer_widths
from reference.model.loss import neighbour_graph
from reference.model.trainer import (
    TrainSettings,
    as_staig_float64,
    seeded_deterministic,
    train_staig,
    training_step,
)
from reference.model.views import draw_views, drop_features, undirected_edges
from reference.stages import train

SETTINGS = TrainSettings(
    seed=39788,
    learning_rate=5e-4,
    weight_decay=1e-5,
    num_epochs=3,
    num_hidden=8,
    num_proj_hidden=6,
    num_layers=1,
    activation="prelu",
    base_model="GCNConv",
    drop_feature_rate_1=0.1,
    drop_feature_rate_2=0.2,
    tau=35,
)


def grid_slice(n_side: int = 5, n_vars: int = 12, *, seed: int = 0):
    """A grid of spots with 4-neighbour edges, random features, probabilities and labels."""
    rng = np.random.default_rng(seed)
    n_obs = n_side * n_side
    pairs = set()
    for r in range(n_side):
        for c in range(n_side):
            i = r * n_side + c
            if c + 1 < n_side:
                pairs |= {(i, i + 1), (i + 1, i)}
            if r + 1 < n_side:
                pairs |= {(i, i + n_side), (i + n_side, i)}
    edges = np.array(sorted(pairs), dtype=np.int64).T
    edge_prob = rng.uniform(0.0, 0.6, size=edges.shape[1])
    feat = rng.gamma(1.0, size=(n_obs, n_vars)).astype(np.float32)
    labels = rng.integers(0, 4, size=n_obs)
    return feat, edges, edge_prob, labels


def loop_loss(z1: torch.Tensor, z2: torch.Tensor, edges: np.ndarray, labels, tau: float):
    """The loss from its definition, looping over spots with scalar torch ops."""
    n_obs = z1.shape[0]
    neighbours = [[] for _ in range(n_obs)]
    for i, j in edges.T.tolist():
        if i != j:
            neighbours[i].append(j)

    def e(a, b):
        return torch.exp(torch.dot(a, b) / (torch.linalg.norm(a) * torch.linalg.norm(b)) / tau)

    def anchor(za, zb, i):
        pos = e(za[i], zb[i])
        for j in neighbours[i]:
            pos = pos + e(za[i], za[j]) + e(za[i], zb[j])
        neg = -e(za[i], za[i])
        for j in range(n_obs):
            if labels[j] != labels[i]:
                neg = neg + e(za[i], za[j]) + e(za[i], zb[j])
        return -torch.log(pos / neg / (2 * len(neighbours[i]) + 1))

    total = 0
    for i in range(n_obs):
        total = total + (anchor(z1, z2, i) + anchor(z2, z1, i)) / 2
    return total / n_obs


@pytest.mark.parametrize("num_layers", [1, 2])
def test_training_step_gradients_match_loops(num_layers: int) -> None:
    feat, edges, edge_prob, labels = grid_slice(n_side=4)
    settings = replace(SETTINGS, num_layers=num_layers)
    features = as_staig_float64(feat)
    edge_tensor = torch.from_numpy(edges)
    undirected = undirected_edges(edge_tensor, as_staig_float64(edge_prob))
    graph = neighbour_graph(edge_tensor, n_obs=feat.shape[0])

    torch.manual_seed(11)
    model = build_model(
        in_channels=feat.shape[1],
        num_hidden=settings.num_hidden,
        num_proj_hidden=settings.num_proj_hidden,
        num_layers=num_layers,
        activation="prelu",
    )
    before = [p.detach().clone() for p in model.parameters()]
    draw_state = torch.get_rng_state()

    # Oracle: the same views, the loss by loops, gradients by autograd.
    views = draw_views(undirected, n_vars=feat.shape[1], drop_feature_rate_1=0.1, drop_feature_rate_2=0.2)
    z1 = model(drop_features(features, views.feature_drop_1), views.edges_1)
    z2 = model(drop_features(features, views.feature_drop_2), views.edges_2)
    expected_loss = loop_loss(z1, z2, edges, labels.tolist(), settings.tau)
    expected_grads = torch.autograd.grad(expected_loss, list(model.parameters()))

    # One training step with plain SGD (lr 1, no decay): parameter change = -gradient.
    torch.set_rng_state(draw_state)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    loss = training_step(
        model,
        optimizer,
        features=features,
        undirected=undirected,
        graph=graph,
        pseudo_labels=torch.from_numpy(labels),
        settings=settings,
    )
    assert float(loss) == pytest.approx(float(expected_loss.detach()), rel=1e-12)
    names = [name for name, _ in model.named_parameters()]
    for name, old, new, grad in zip(names, before, model.parameters(), expected_grads, strict=True):
        step = old - new.detach()
        scale = float(grad.abs().max())
        assert scale > 0, f"{name}: oracle gradient is zero, the check would be vacuous"
        assert torch.allclose(step, grad, rtol=1e-9, atol=1e-12 * scale), name


def test_training_deterministic_across_runs() -> None:
    feat, edges, edge_prob, labels = grid_slice(n_side=6)
    first = train_staig(feat, edges, edge_prob, labels, settings=SETTINGS, device="cpu")
    second = train_staig(feat, edges, edge_prob, labels, settings=SETTINGS, device="cpu")
    assert np.array_equal(first.emb, second.emb)
    assert np.array_equal(first.loss, second.loss)
    assert first.emb.shape == (36, SETTINGS.num_hidden)
    assert first.emb.dtype == np.float64
    assert first.loss.shape == (SETTINGS.num_epochs,)
    assert np.isfinite(first.loss).all()


def test_training_seed_changes_result() -> None:
    feat, edges, edge_prob, labels = grid_slice(n_side=6)
    first = train_staig(feat, edges, edge_prob, labels, settings=SETTINGS, device="cpu")
    other = train_staig(
        feat, edges, edge_prob, labels, settings=replace(SETTINGS, seed=1), device="cpu"
    )
    assert not np.allclose(first.emb, other.emb)


def test_training_restores_global_state() -> None:
    feat, edges, edge_prob, labels = grid_slice()
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(9)
    torch_state = torch.get_rng_state()
    numpy_draw = np.random.get_state()[1][:5].copy()
    python_state = random.getstate()
    flag = torch.are_deterministic_algorithms_enabled()

    train_staig(feat, edges, edge_prob, labels, settings=SETTINGS, device="cpu")

    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1][:5], numpy_draw)
    assert random.getstate() == python_state
    assert torch.are_deterministic_algorithms_enabled() == flag


def test_seeded_context_sets_staig_seeds() -> None:
    with seeded_deterministic(seed=39788, python_seed=12345, device="cpu") as settings:
        inside = (torch.rand(3), np.random.rand(2), random.random())
        assert torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(39788)
    np.random.seed(39788)
    random.seed(12345)
    assert torch.equal(inside[0], torch.rand(3))
    assert np.array_equal(inside[1], np.random.rand(2))
    assert inside[2] == random.random()
    assert settings["deterministic_algorithms"] is True


def test_emb_is_projected_full_graph_output() -> None:
    feat, edges, edge_prob, labels = grid_slice()
    settings = replace(SETTINGS, num_epochs=2)
    result = train_staig(feat, edges, edge_prob, labels, settings=settings, device="cpu")

    features = as_staig_float64(feat)
    edge_tensor = torch.from_numpy(edges)
    with seeded_deterministic(seed=settings.seed, python_seed=12345, device="cpu"):
        model = build_model(
            in_channels=feat.shape[1], num_hidden=8, num_proj_hidden=6, num_layers=1, activation="prelu"
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-5)
        for _ in range(2):
            training_step(
                model,
                optimizer,
                features=features,
                undirected=undirected_edges(edge_tensor, as_staig_float64(edge_prob)),
                graph=neighbour_graph(edge_tensor, n_obs=feat.shape[0]),
                pseudo_labels=torch.from_numpy(labels),
                settings=settings,
            )
        with torch.no_grad():
            projected = model(features, edge_tensor).numpy()
            encoded = model.encoder(features, edge_tensor).numpy()
    assert np.array_equal(result.emb, projected)
    assert not np.allclose(result.emb, encoded)


def test_layers_initialised_in_staig_order() -> None:
    torch.manual_seed(39788)
    model = build_model(in_channels=12, num_hidden=8, num_proj_hidden=6, num_layers=1, activation="prelu")
    torch.manual_seed(39788)
    conv = GCNConv(12, 8)
    prelu = torch.nn.PReLU()
    fc1 = torch.nn.Linear(8, 6)
    fc2 = torch.nn.Linear(6, 8)
    assert model.encoder.convs[0].lin.weight.dtype == torch.float64
    assert torch.equal(model.encoder.convs[0].lin.weight, conv.lin.weight.double())
    assert torch.equal(model.encoder.prelu.weight, prelu.weight.double())
    assert torch.equal(model.fc1.weight, fc1.weight.double())
    assert torch.equal(model.fc2.bias, fc2.bias.double())


def test_deep_encoder_widths_and_shared_prelu() -> None:
    assert layer_widths(in_channels=3000, num_hidden=64, num_layers=1) == [(3000, 64)]
    assert layer_widths(in_channels=3000, num_hidden=64, num_layers=2) == [(3000, 128), (128, 64)]
    assert layer_widths(in_channels=30, num_hidden=4, num_layers=3) == [(30, 8), (8, 8), (8, 4)]
    model = build_model(in_channels=30, num_hidden=4, num_proj_hidden=5, num_layers=3, activation="prelu")
    prelu_parameters = [name for name, _ in model.named_parameters() if "prelu" in name]
    assert prelu_parameters == ["encoder.prelu.weight"]
    assert len(model.encoder.convs) == 3


def test_unknown_activation_raises() -> None:
    with pytest.raises(InputError, match="activation 'tanh'"):
        build_model(in_channels=3, num_hidden=2, num_proj_hidden=2, num_layers=1, activation="tanh")
    with pytest.raises(InputError, match="num_layers must be at least 1"):
        layer_widths(in_channels=3, num_hidden=2, num_layers=0)


def corrupt(kind: str):
    feat, edges, edge_prob, labels = grid_slice(n_side=3)
    if kind == "nan-feature":
        feat[1, 2] = np.nan
    elif kind == "1-d-feature":
        feat = feat[:, 0]
    elif kind == "unsorted-edges":
        edges = edges[:, ::-1].copy()
    elif kind == "asymmetric-edges":
        keep = ~((edges[0] == 0) & (edges[1] == 1))
        edges, edge_prob = edges[:, keep], edge_prob[keep]
    elif kind == "self-loop":
        edges = np.concatenate([edges, [[8], [8]]], axis=1)
        edge_prob = np.append(edge_prob, 0.0)
    elif kind == "index-out-of-range":
        edges = np.concatenate([edges, [[8, 9], [9, 8]]], axis=1)
        edge_prob = np.append(edge_prob, [0.0, 0.0])
    elif kind == "probability-above-1":
        edge_prob[0] = 1.5
    elif kind == "probability-length":
        edge_prob = edge_prob[:-1]
    elif kind == "single-pseudo-label":
        labels = np.zeros_like(labels)
    elif kind == "float-pseudo-labels":
        labels = labels.astype(float)
    return feat, edges, edge_prob, labels


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("nan-feature", "non-finite"),
        ("1-d-feature", "non-empty"),
        ("unsorted-edges", "sorted"),
        ("asymmetric-edges", "not symmetric"),
        ("self-loop", "self-loops"),
        ("index-out-of-range", "outside"),
        ("probability-above-1", r"\[0, 1\]"),
        ("probability-length", "must have shape"),
        ("single-pseudo-label", "single value"),
        ("float-pseudo-labels", "integers"),
    ],
)
def test_invalid_training_inputs_raise(kind: str, match: str) -> None:
    feat, edges, edge_prob, labels = corrupt(kind)
    with pytest.raises(InputError, match=match):
        train_staig(feat, edges, edge_prob, labels, settings=SETTINGS, device="cpu")


def test_invalid_settings_raise() -> None:
    with pytest.raises(InputError, match="num_epochs must be at least 1"):
        replace(SETTINGS, num_epochs=0)
    with pytest.raises(InputError, match="drop_feature_rate_2"):
        replace(SETTINGS, drop_feature_rate_2=1.5)
    with pytest.raises(InputError, match=r"\['tau'\]"):
        TrainSettings.from_hyper({k: v for k, v in SETTINGS.to_dict().items() if k != "tau"})


def test_train_stage_outputs_and_config() -> None:
    feat, edges, edge_prob, labels = grid_slice()
    params = resolve_params(RunConfig(preset="quick", slice_config="151673"), None)
    params["hyper"].update(num_epochs=2, num_gene=feat.shape[1], num_hidden=8, num_proj_hidden=6)
    context = StageContext(config=RunConfig(), device="cpu", side="reference")
    outputs = train.run(
        {
            "genes/feat": feat,
            "graph/edges": edges,
            "edge_probabilities/edge_prob": edge_prob,
            "pseudo_labels/pseudo_labels": labels,
        },
        context,
        params,
    )
    assert outputs["emb"].shape == (feat.shape[0], 8)
    assert outputs["loss"].shape == (2,)
    config = outputs["config"]
    assert config["hyper"]["tau"] == 35
    assert config["torch_seed"] == 39788
    assert config["python_random_seed"] == 12345
    assert config["deterministic_algorithms"] is True
    assert config["device"] == "cpu"
    assert config["model"]["gcn_layers"] == [(12, 8)]
    assert config["reductions"] == {
        "num_epochs": {"published": 300, "used": PRESET_SETTINGS["quick"]["num_epochs"]}
    }


@pytest.mark.parametrize(
    ("preset", "epochs", "reduced"),
    [("staig", 300, set()), ("quick", 30, {"num_epochs"}), ("quick-encoders", 300, set())],
)
def test_presets_set_training_epochs(preset, epochs, reduced):
    params = resolve_params(RunConfig(preset=preset, slice_config="151673"), None)

    assert params["hyper"]["num_epochs"] == epochs
    assert reduced <= set(params["reductions"])
    assert ("num_epochs" in params["reductions"]) == bool(reduced)
    assert ("encoder" in params["reductions"]) == (preset != "staig")
