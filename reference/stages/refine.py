"""Stage 12, refine: majority vote of each spot's spatial neighbours.

For each spot, the new domain is the most frequent domain among its
``radius`` nearest other spots on ``load/spatial`` (STAIG's refinement
radius, 15). The spot's own domain does not vote. A tie goes to the domain
that appears first when the neighbours are listed nearest first, which is
what STAIG's ``max(votes, key=votes.count)`` returns. Neighbours are ranked
by distance, then spot index, as in the graph stage; STAIG instead takes
numpy's unstable ``argsort`` order over a dense distance matrix.
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
from reference.spatial.knn import nearest_neighbours

logger = logging.getLogger(__name__)


def majority_vote(neighbour_labels: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Pick the most frequent label per row, ties to the earliest position.

    Parameters
    ----------
    neighbour_labels
        ``(n_spots, n_neighbours)`` integer label codes, nearest neighbour first.

    Returns
    -------
    winners
        ``(n_spots,)`` int64 winning code per row.
    tied
        ``(n_spots,)`` bool: more than one label reached the maximum count.
    """
    votes = np.asarray(neighbour_labels, dtype=np.int64)
    rows = np.arange(votes.shape[0])
    # counts[i, p] = how often the label at position p occurs in row i; memory is
    # n_spots * n_neighbours**2 bools, independent of the number of labels.
    counts = (votes[:, :, None] == votes[:, None, :]).sum(axis=2)
    top = counts.max(axis=1)
    at_top = counts == top[:, None]
    first = np.argmax(at_top, axis=1)
    winners = votes[rows, first]
    # A position at the top count with another label than the winner means a tie.
    tied = np.any(at_top & (votes != winners[:, None]), axis=1)
    return winners, tied


def refine_domains(
    domains: ArrayLike, spatial: ArrayLike, *, radius: int
) -> tuple[NDArray[np.str_], dict[str, int]]:
    """Replace each spot's domain by the majority domain of its neighbours.

    Parameters
    ----------
    domains
        ``(n_spots,)`` domain label per spot (``cluster/domains``), any type
        that converts to str.
    spatial
        ``(n_spots, 2)`` spot centres, (x, y) in full-resolution px.
    radius
        Number of nearest other spots that vote (STAIG's refinement radius,
        15; a count of spots, not a distance).

    Returns
    -------
    refined
        ``(n_spots,)`` str domain per spot.
    counts
        ``n_changed`` (spots whose domain changed), ``n_tied_votes`` (spots
        whose vote was decided by the nearest-first rule) and
        ``n_spots_tied_at_cutoff`` (spots whose ``radius``-th and next nearest
        spots are equidistant).

    Raises
    ------
    InputError
        When ``domains`` and ``spatial`` disagree in length or ``radius`` is
        not between 1 and ``n_spots - 1``.
    """
    labels = np.asarray(domains).astype(str)
    coords = np.asarray(spatial)
    if labels.ndim != 1 or coords.ndim != 2 or labels.shape[0] != coords.shape[0]:
        msg = (
            f"domains {labels.shape} and spatial {coords.shape} must describe the same spots, "
            "shapes (n_spots,) and (n_spots, 2); both come from the same load stage"
        )
        raise InputError(msg)

    neighbours = nearest_neighbours(coords, k=radius)
    names, codes = np.unique(labels, return_inverse=True)
    winners, tied = majority_vote(codes[neighbours.indices])
    refined = names[winners]
    counts = {
        "n_changed": int(np.sum(refined != labels)),
        "n_tied_votes": int(tied.sum()),
        "n_spots_tied_at_cutoff": int(neighbours.tied_at_cutoff.sum()),
    }
    return refined, counts


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``refined`` and ``config`` of the refinement stage."""
    radius = int(params["hyper"]["radius"])
    domains = inputs["cluster/domains"]
    spatial = inputs["load/spatial"]

    start = time.perf_counter()
    logger.info("refining %d domains with the %d nearest spots", len(domains), radius)
    refined, counts = refine_domains(domains, spatial, radius=radius)
    logger.info(
        "refinement changed %d spots, %d tied votes (%.2f s)",
        counts["n_changed"],
        counts["n_tied_votes"],
        time.perf_counter() - start,
    )

    config = {
        "radius": radius,
        "neighbours": "radius nearest other spots, euclidean on load/spatial, ties by spot index",
        "vote": "most frequent domain, own domain excluded, ties to the nearest-first domain",
        **counts,
        "slice_config": params["slice_config"],
        "preset": params["preset"],
        "reductions": {},
    }
    return {"refined": refined, "config": config}
