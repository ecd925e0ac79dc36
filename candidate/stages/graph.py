"""Stage ``graph``: the symmetric k-nearest-neighbour graph of the spot positions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from candidate.config import StaigFusionConfig
from candidate.neighbors import nearest_neighbours
from harness.implementation import StageContext


def knn_edges(spatial: np.ndarray, *, k: int) -> np.ndarray:
    """Return the edges of the symmetrised kNN graph.

    Each spot chooses its ``k`` nearest other spots (ties by spot index);
    an edge exists when either end chose the other.

    Parameters
    ----------
    spatial
        Shape ``(n_obs, 2)``, spot centres in full-resolution px.
    k
        Neighbours each spot chooses.

    Returns
    -------
    Shape ``(2, n_edges)``, int64, sorted by (source, target), both directions
    present, no self-loops.
    """
    neighbours, _ = nearest_neighbours(spatial, k=k)
    n_obs = spatial.shape[0]
    source = np.repeat(np.arange(n_obs, dtype=np.int64), k)
    target = neighbours.ravel()
    both = np.concatenate([source * n_obs + target, target * n_obs + source])
    keys = np.unique(both)
    return np.stack([keys // n_obs, keys % n_obs]).astype(np.int64)


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Build the spatial graph from ``load/spatial``.

    Returns
    -------
    dict
        ``edges`` (2, E) int64 and ``config``.
    """
    edges = knn_edges(np.asarray(inputs["load/spatial"], dtype=np.float64), k=config.n_neighbours)
    return {
        "edges": edges,
        "config": {
            **config.header(),
            "n_neighbours": config.n_neighbours,
            "metric": "euclidean on full-resolution px",
            "ties": "distance, then spot index",
            "symmetrised": "union",
        },
    }
