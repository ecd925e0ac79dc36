"""Stage ``train``: STAIG's graph contrastive training on the gene features and spatial graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch_geometric

from harness.implementation import StageContext
from reference.model.encoder import layer_widths
from reference.model.trainer import TrainSettings, train_staig

STAGE_REDUCTIONS = ("num_epochs",)
"""Preset reductions that change this stage's result."""


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Train the model and return ``emb`` ``(n_obs, num_hidden)``, ``loss`` ``(num_epochs,)``, ``config``.

    Parameters
    ----------
    inputs
        ``genes/feat`` ``(n_obs, n_vars)``, ``graph/edges`` ``(2, n_edges)``,
        ``edge_probabilities/edge_prob`` ``(n_edges,)`` and
        ``pseudo_labels/pseudo_labels`` ``(n_obs,)``.
    context
        Supplies the device (``"cpu"`` or ``"cuda"``).
    params
        Output of :func:`reference.config.resolve_params`.
    """
    settings = TrainSettings.from_hyper(params["hyper"])
    feat = inputs["genes/feat"]
    result = train_staig(
        feat,
        inputs["graph/edges"],
        inputs["edge_probabilities/edge_prob"],
        inputs["pseudo_labels/pseudo_labels"],
        settings=settings,
        device=context.device,
    )
    config = {
        "slice_config": params["slice_config"],
        "preset": params["preset"],
        "hyper": settings.to_dict(),
        "device": context.device,
        **result.determinism,
        "model": {
            "gcn_layers": layer_widths(
                in_channels=int(feat.shape[1]),
                num_hidden=settings.num_hidden,
                num_layers=settings.num_layers,
            ),
            "activation": settings.activation,
            "projection_head": [settings.num_hidden, settings.num_proj_hidden, settings.num_hidden],
            "dtype": "float64, initialised in float32",
            "input_rounding": "feat and edge_prob rounded to float32, then float64",
            "emb": "projected output on the full graph with all genes",
        },
        "draw_order": [
            "view-1 edges", "view-2 edges", "view-1 gene columns", "view-2 gene columns"
        ],
        "versions": {"torch": torch.__version__, "torch_geometric": torch_geometric.__version__},
        "reductions": {
            key: value for key, value in params["reductions"].items() if key in STAGE_REDUCTIONS
        },
    }
    return {"emb": result.emb, "loss": result.loss, "config": config}
