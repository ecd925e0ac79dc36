"""Stage 8, edge probabilities: how likely training drops each graph edge.

For a directed edge (i, j), ``d_ij`` is the Euclidean distance between the
image embeddings of spots i and j. Over the edges of source i with
``d_ij > 0``, ``p_ij = d_ij / sum_j d_ij``. Edges with ``d_ij = 0`` get 0, so
a source whose neighbours all share its embedding gets 0 on every edge.

STAIG computes ``softmax(log d_ij)`` over a dense N x N matrix with a Python
loop over all spot pairs. That is the same quantity; in floating point the
two forms may differ in the last bits, and the reference uses the direct
ratio. Distances add the squared differences in embedding-column order and
row sums add the distances in edge order, so a plain loop computes the same
bits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.errors import InputError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)


def edge_drop_probabilities(
    edges: ArrayLike, img_emb: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Compute the per-source normalised image distance of every edge.

    Parameters
    ----------
    edges
        ``(2, n_edges)`` integer (source, target) spot indices, e.g.
        ``graph/edges``. The order is kept; sorting is not required.
    img_emb
        ``(n_spots, n_dims)`` image embedding (16 PCA components in STAIG).

    Returns
    -------
    edge_prob
        ``(n_edges,)`` float64 probabilities aligned with ``edges``; the
        probabilities of one source add up to 1, or are all 0.
    distances
        ``(n_edges,)`` float64 embedding distances ``d_ij``.

    Raises
    ------
    InputError
        When the shapes disagree, an index is out of range or the embedding
        is not finite.
    """
    sources, targets, embedding = _validated(edges, img_emb)
    n_spots, n_dims = embedding.shape

    squared = np.zeros(sources.size, dtype=np.float64)
    for column in range(n_dims):
        delta = embedding[sources, column] - embedding[targets, column]
        squared += delta * delta
    distances = np.sqrt(squared)

    # bincount adds the weights in input order, one edge after the other.
    row_totals = np.bincount(sources, weights=distances, minlength=n_spots)
    denominators = row_totals[sources]
    edge_prob = np.zeros(sources.size, dtype=np.float64)
    np.divide(distances, denominators, out=edge_prob, where=distances > 0)
    return edge_prob, distances


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``edge_prob`` and ``config`` of the edge-probability stage."""
    edges = inputs["graph/edges"]
    img_emb = inputs["image_embedding/img_emb"]

    start = time.perf_counter()
    logger.info("computing drop probabilities of %d edges", np.shape(edges)[-1])
    edge_prob, distances = edge_drop_probabilities(edges, img_emb)
    sources = np.asarray(edges)[0]
    n_spots = np.shape(img_emb)[0]
    edges_per_source = np.bincount(sources, minlength=n_spots)
    positive_per_source = np.bincount(sources[distances > 0], minlength=n_spots)
    n_all_zero = int(np.sum((edges_per_source > 0) & (positive_per_source == 0)))
    logger.info("edge probabilities done (%.2f s)", time.perf_counter() - start)

    config = {
        "distance": "euclidean between image_embedding/img_emb rows, float64",
        "normalisation": "d_ij / sum of d_ij over the source's edges with d_ij > 0",
        "zero_distance": "probability 0",
        "n_edges": int(edge_prob.size),
        "n_zero_distance_edges": int(np.sum(distances == 0)),
        "n_sources_all_zero": n_all_zero,
        "n_spots_without_edges": int(np.sum(edges_per_source == 0)),
        "slice_config": params["slice_config"],
        "preset": params["preset"],
        "reductions": {},
    }
    return {"edge_prob": edge_prob, "config": config}


def _validated(
    edges: ArrayLike, img_emb: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    edge_array = np.asarray(edges)
    embedding = np.asarray(img_emb)

    if edge_array.ndim != 2 or edge_array.shape[0] != 2:
        msg = f"edges must have shape (2, n_edges); got {edge_array.shape}"
        raise InputError(msg)
    if edge_array.dtype.kind not in "iu":
        msg = f"edges must hold integer spot indices; got dtype {edge_array.dtype}"
        raise InputError(msg)
    if embedding.ndim != 2 or embedding.shape[1] == 0:
        msg = f"img_emb must have shape (n_spots, n_dims); got {embedding.shape}"
        raise InputError(msg)
    if embedding.dtype.kind not in "fiu":
        msg = f"img_emb must be numeric; got dtype {embedding.dtype}"
        raise InputError(msg)

    n_spots = embedding.shape[0]
    if edge_array.size and (edge_array.min() < 0 or edge_array.max() >= n_spots):
        msg = (
            f"edges refer to spots {edge_array.min()}..{edge_array.max()}, but img_emb has "
            f"{n_spots} rows; graph and image embedding must come from the same slice"
        )
        raise InputError(msg)

    embedding = embedding.astype(np.float64, copy=False)
    if not np.isfinite(embedding).all():
        bad = np.flatnonzero(~np.isfinite(embedding).all(axis=1))
        msg = (
            f"img_emb has NaN or infinite values in {bad.size} rows "
            f"(first: {bad[:5].tolist()}); recompute the image embedding"
        )
        raise InputError(msg)

    sources = edge_array[0].astype(np.int64)
    targets = edge_array[1].astype(np.int64)
    return sources, targets, embedding
