"""The training loop: seeds, layer creation, two views per epoch, Adam."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from candidate.config import TrainConfig
from candidate.model.loss import NeighbourContrastiveLoss
from candidate.model.network import GraphContrastiveNet
from candidate.model.views import GeneFeatures, UndirectedEdges

logger = logging.getLogger(__name__)

# cuBLAS needs a fixed workspace for deterministic results (CUDA documentation,
# "cuBLAS reproducibility"); the value is the one STAIG sets.
_CUBLAS_WORKSPACE = ":4096:8"

_LOG_EVERY_EPOCHS = 10


@dataclass(frozen=True)
class TrainingResult:
    """Output of :func:`train_graph_contrastive`.

    Attributes
    ----------
    embedding
        Shape ``(n_obs, hidden_dim)``, float64, the model output on the full graph.
    loss
        Shape ``(n_epochs,)``, float64, the loss of each epoch before its update.
    """

    embedding: np.ndarray
    loss: np.ndarray


@contextlib.contextmanager
def _deterministic(device: str) -> Iterator[None]:
    previous = torch.are_deterministic_algorithms_enabled()
    if device == "cuda" and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = _CUBLAS_WORKSPACE
        logger.info("set CUBLAS_WORKSPACE_CONFIG=%s for deterministic cuBLAS", _CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)  # noqa: FBT003 - torch's positional API
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def train_graph_contrastive(
    *,
    features: np.ndarray,
    edges: np.ndarray,
    edge_prob: np.ndarray,
    pseudo_labels: np.ndarray,
    config: TrainConfig,
    device: str,
) -> TrainingResult:
    """Train the graph contrastive model and embed every spot.

    Seeds torch and numpy with ``config.seed`` and Python's ``random`` with
    ``config.python_seed``, then creates the layers (so their initial weights
    depend on the seed only) in float32 and converts them to float64. Every
    epoch draws, from torch's CPU generator and in this order, the view-1
    edge mask, the view-2 edge mask, the view-1 gene mask and the view-2 gene
    mask.

    Parameters
    ----------
    features
        Shape ``(n_obs, n_genes)``, model input.
    edges
        Shape ``(2, n_edges)``, int64, sorted by (source, target), symmetric,
        without self-loops.
    edge_prob
        Shape ``(n_edges,)``, drop probability per directed edge.
    pseudo_labels
        Shape ``(n_obs,)``, int.
    config
        Hyperparameters.
    device
        ``"cpu"`` or ``"cuda"``.
    """
    started = time.perf_counter()
    with _deterministic(device):
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)  # noqa: NPY002 - STAIG seeds numpy's global generator
        random.seed(config.python_seed)
        model = (
            GraphContrastiveNet(
                n_genes=features.shape[1],
                hidden_dim=config.hidden_dim,
                proj_dim=config.proj_dim,
                n_layers=config.gcn_layers,
            )
            .double()
            .to(device)
        )
        optimizer = torch.optim.Adam(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )

        genes = GeneFeatures(features, device=device)
        full_graph = torch.from_numpy(np.ascontiguousarray(edges, dtype=np.int64)).to(device)
        pairs = UndirectedEdges.from_directed(edges, edge_prob)
        loss_fn = NeighbourContrastiveLoss(
            edges=full_graph,
            pseudo_labels=torch.from_numpy(np.asarray(pseudo_labels, dtype=np.int64)).to(device),
            temperature=config.temperature,
        )
        logger.info(
            "training %d epochs on %d spots x %d genes (%s), %d undirected edges, on %s",
            config.n_epochs,
            *features.shape,
            "sparse" if genes.sparse else "dense",
            pairs.source.numel(),
            device,
        )

        losses = np.empty(config.n_epochs, dtype=np.float64)
        for epoch in range(config.n_epochs):
            model.train()
            optimizer.zero_grad()
            graph_1 = pairs.draw_view().to(device)
            graph_2 = pairs.draw_view().to(device)
            x_1 = genes.draw_view(drop_rate=config.feature_drop[0])
            x_2 = genes.draw_view(drop_rate=config.feature_drop[1])
            loss = loss_fn(model(x_1, graph_1), model(x_2, graph_2))
            loss.backward()
            optimizer.step()
            losses[epoch] = loss.item()
            if (epoch + 1) % _LOG_EVERY_EPOCHS == 0:
                logger.info("epoch %d/%d: loss %.6f", epoch + 1, config.n_epochs, losses[epoch])

        model.eval()
        with torch.no_grad():
            embedding = model(genes.matrix, full_graph).cpu().numpy()
    logger.info(
        "training finished in %.1f s, final loss %.6f", time.perf_counter() - started, losses[-1]
    )
    return TrainingResult(embedding=embedding, loss=losses)
