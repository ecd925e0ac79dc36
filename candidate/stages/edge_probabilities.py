"""Stage ``edge_probabilities``: edge drop probabilities from image-embedding distances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from candidate.config import StaigFusionConfig
from harness.errors import InputError
from harness.implementation import StageContext


def edge_drop_probabilities(edges: np.ndarray, img_emb: np.ndarray) -> np.ndarray:
    """Return ``p_ij = d_ij / sum_j d_ij`` over the edges of each source spot.

    ``d_ij`` is the Euclidean distance between the image embeddings of the
    two ends; this equals STAIG's softmax of ``log d_ij`` over the row. Edges
    with ``d_ij = 0`` get probability 0 and are left out of the row sum.

    Parameters
    ----------
    edges
        Shape ``(2, n_edges)``, int64.
    img_emb
        Shape ``(n_obs, n_dims)``.

    Returns
    -------
    Shape ``(n_edges,)``, float64, aligned with ``edges``.
    """
    source, target = edges
    distance = np.linalg.norm(img_emb[source] - img_emb[target], axis=1)
    row_sum = np.bincount(source, weights=distance, minlength=img_emb.shape[0])
    probability = np.zeros_like(distance)
    positive = distance > 0
    probability[positive] = distance[positive] / row_sum[source[positive]]
    return probability


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Compute ``edge_prob`` aligned with ``graph/edges``.

    Returns
    -------
    dict
        ``edge_prob`` (E,) float64 and ``config``.

    Raises
    ------
    InputError
        When an edge names a spot beyond the image embedding.
    """
    edges = np.asarray(inputs["graph/edges"], dtype=np.int64)
    img_emb = np.asarray(inputs["image_embedding/img_emb"], dtype=np.float64)
    if edges.size and edges.max() >= img_emb.shape[0]:
        msg = (
            f"graph/edges names spot {int(edges.max())}, but the image embedding has "
            f"{img_emb.shape[0]} spots; both must come from the same load stage"
        )
        raise InputError(msg)
    return {
        "edge_prob": edge_drop_probabilities(edges, img_emb),
        "config": {
            **config.header(),
            "distance": "euclidean on img_emb",
            "normalisation": "per source spot",
        },
    }
