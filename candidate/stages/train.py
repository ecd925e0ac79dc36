"""Stage ``train``: graph contrastive training on the gene features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from candidate.config import StaigFusionConfig
from candidate.model.trainer import train_graph_contrastive
from harness.errors import InputError
from harness.implementation import StageContext


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Train the model and embed every spot.

    Returns
    -------
    dict
        ``emb`` (N, 64) float64, ``loss`` (epochs,) float64 and ``config``.

    Raises
    ------
    InputError
        When the inputs disagree in their number of spots or edges, or no epoch is configured.
    """
    feat = np.asarray(inputs["genes/feat"])
    edges = np.asarray(inputs["graph/edges"], dtype=np.int64)
    edge_prob = np.asarray(inputs["edge_probabilities/edge_prob"], dtype=np.float64)
    pseudo_labels = np.asarray(inputs["pseudo_labels/pseudo_labels"], dtype=np.int64)
    n_obs = feat.shape[0]
    if pseudo_labels.shape != (n_obs,) or edge_prob.shape != (edges.shape[1],):
        msg = (
            f"training inputs disagree: feat has {n_obs} spots, pseudo_labels shape "
            f"{pseudo_labels.shape}, edges {edges.shape}, edge_prob {edge_prob.shape}"
        )
        raise InputError(msg)
    if config.train.n_epochs < 1:
        msg = f"training needs at least one epoch; the configuration has {config.train.n_epochs}"
        raise InputError(msg)

    result = train_graph_contrastive(
        features=feat,
        edges=edges,
        edge_prob=edge_prob,
        pseudo_labels=pseudo_labels,
        config=config.train,
        device=context.device,
    )
    stage_config: dict[str, Any] = {
        **config.header(),
        **config.train.to_dict(),
        "dtype": "float64",
        "deterministic_algorithms": True,
        "torch": torch.__version__,
    }
    if "n_epochs" in config.reductions:
        stage_config["reductions"] = {"n_epochs": config.reductions["n_epochs"]}
    return {"emb": result.embedding, "loss": result.loss, "config": stage_config}
