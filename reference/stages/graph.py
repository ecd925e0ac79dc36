"""Stage 7, graph: the symmetric k-nearest-neighbour graph of the spots.

Each spot chooses its ``num_neigh`` nearest other spots by Euclidean distance
on ``load/spatial``; an undirected edge joins two spots when either chose the
other (STAIG adds the kNN adjacency to its transpose and clips at 1). The
graph is binary and has no self-loops.

STAIG orders equidistant neighbours with numpy's unstable ``argsort``; the
reference breaks those ties by spot index (see :mod:`reference.spatial.knn`)
and records how many spots had such a tie at the cut-off, so that a
tie-breaking-only difference can be told from a real one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.implementation import StageContext
from reference.spatial.knn import nearest_neighbours

logger = logging.getLogger(__name__)


def knn_graph_edges(spatial: ArrayLike, *, num_neigh: int) -> tuple[NDArray[np.int64], int]:
    """Build the symmetric kNN graph as a sorted list of directed edges.

    Parameters
    ----------
    spatial
        ``(n_spots, 2)`` spot centres, (x, y) in full-resolution px.
    num_neigh
        Neighbours each spot chooses (STAIG's ``num_neigh``, 5 for DLPFC 151673).

    Returns
    -------
    edges
        ``(2, n_edges)`` int64 (source, target) pairs sorted by source, then
        target. Both directions of every undirected edge are present, each
        once; there are no self-loops.
    n_tied
        Number of spots whose ``num_neigh``-th and next nearest spots are at
        exactly the same distance, i.e. where the index rule chose.

    Raises
    ------
    InputError
        When the coordinates are not finite or ``num_neigh`` is not between
        1 and ``n_spots - 1``.
    """
    neighbours = nearest_neighbours(spatial, k=num_neigh)
    n_spots = neighbours.indices.shape[0]

    sources = np.repeat(np.arange(n_spots, dtype=np.int64), num_neigh)
    targets = neighbours.indices.ravel()
    # Encode each directed pair as one integer; np.unique sorts and deduplicates
    # both directions at once, which is the union "either chose the other".
    keys = np.concatenate([sources * n_spots + targets, targets * n_spots + sources])
    keys = np.unique(keys)
    edges = np.stack([keys // n_spots, keys % n_spots]).astype(np.int64)
    return edges, int(neighbours.tied_at_cutoff.sum())


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``edges`` and ``config`` of the graph stage."""
    num_neigh = int(params["hyper"]["num_neigh"])
    spatial = inputs["load/spatial"]

    start = time.perf_counter()
    logger.info("building the %d-nearest-neighbour graph of %d spots", num_neigh, len(spatial))
    edges, n_tied = knn_graph_edges(spatial, num_neigh=num_neigh)
    logger.info(
        "graph: %d directed edges, %d spots tied at the cut-off (%.2f s)",
        edges.shape[1],
        n_tied,
        time.perf_counter() - start,
    )

    config = {
        "num_neigh": num_neigh,
        "metric": "euclidean on load/spatial (full-resolution px), float64",
        "tie_break": "distance, then spot index",
        "symmetrisation": "union: an edge when either spot chose the other",
        "self_loops": False,
        "n_spots": int(len(spatial)),
        "n_edges": int(edges.shape[1]),
        "n_spots_tied_at_cutoff": n_tied,
        "slice_config": params["slice_config"],
        "preset": params["preset"],
        "reductions": {},
    }
    return {"edges": edges, "config": config}
