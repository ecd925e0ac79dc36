"""Deterministic k-nearest-neighbour search on spot coordinates.

STAIG ranks neighbours with numpy's unstable ``argsort`` over a dense distance
matrix. Equidistant neighbours are common on the Visium hexagonal grid (about
15 % of the spots of DLPFC 151673 tie at the fifth neighbour), so STAIG's order
can change between numpy versions and CPUs. This module fixes the order:
neighbours are sorted by distance, then by spot index.

Distances are computed exactly as :func:`euclidean_distance` states, in
float64: ``sqrt((a_0 - b_0)**2 + (a_1 - b_1)**2 + ...)`` with the squares
added from the first coordinate to the last. A KD-tree (scipy's ``cKDTree``)
only proposes candidates; these exact distances decide the order, so another
implementation that computes distances the same way gets the same neighbours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from harness.errors import InputError

logger = logging.getLogger(__name__)

# The KD-tree computes its own distances, which may differ from the exact ones
# in the last bits. A candidate list of m points is complete for a spot when its
# k-th exact distance is below the tree's m-th distance by more than this
# relative slack. The slack is far above float64 rounding (about 1e-16) and far
# below any real difference in spot spacing.
KDTREE_RELATIVE_SLACK = 1e-9

# Extra candidates requested from the KD-tree in the first round. A hexagonal
# grid has 6 spots in the first ring and 12 in the next two, so twice the
# needed count plus this margin covers the complete rings that ties can span.
INITIAL_CANDIDATE_MARGIN = 8


@dataclass(frozen=True)
class Neighbours:
    """The k nearest other spots of every spot, nearest first.

    Attributes
    ----------
    indices
        ``(n_spots, k)`` int64 spot indices, sorted by distance, then by index.
        A spot is never its own neighbour; another spot at the same position
        is (at distance 0).
    distances
        ``(n_spots, k)`` float64 distances in the unit of the coordinates
        (full-resolution px for ``load/spatial``).
    tied_at_cutoff
        ``(n_spots,)`` bool: the (k+1)-th nearest other spot is exactly as far
        as the k-th, so the index rule decided which of them was kept. All
        ``False`` when ``k = n_spots - 1``.
    """

    indices: NDArray[np.int64]
    distances: NDArray[np.float64]
    tied_at_cutoff: NDArray[np.bool_]


def euclidean_distance(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Compute Euclidean distances along the last axis, in a fixed order of operations.

    Parameters
    ----------
    a, b
        Arrays of points ``(..., n_dims)`` that broadcast against each other.

    Returns
    -------
    numpy.ndarray
        ``sqrt((a_0 - b_0)**2 + (a_1 - b_1)**2 + ...)`` in float64, the squares
        added in coordinate order, shape of the broadcast leading axes. The
        result is symmetric in ``a`` and ``b`` bit for bit.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n_dims = a.shape[-1]
    squared = np.zeros(np.broadcast_shapes(a.shape[:-1], b.shape[:-1]), dtype=np.float64)
    for axis in range(n_dims):
        delta = a[..., axis] - b[..., axis]
        squared += delta * delta
    return np.sqrt(squared)


def nearest_neighbours(points: ArrayLike, *, k: int) -> Neighbours:
    """Find the ``k`` nearest other points of every point, with ties broken by index.

    Parameters
    ----------
    points
        ``(n_spots, n_dims)`` coordinates, e.g. ``load/spatial`` in
        full-resolution px. Must be finite.
    k
        Neighbours per point, ``1 <= k <= n_spots - 1``.

    Returns
    -------
    Neighbours
        Indices and distances ``(n_spots, k)``, nearest first, and which
        points had a tie at the k-th neighbour.

    Raises
    ------
    InputError
        When ``points`` is not a finite 2-D array or ``k`` is out of range.

    Notes
    -----
    The KD-tree proposes ``m`` candidates per point. When a point's (k+1)-th
    exact distance is not clearly below the m-th candidate's distance, the
    point is queried again with twice as many candidates, until ``m`` covers
    every point. Each round is vectorised over the points still pending.
    """
    coords = _validated_points(points)
    n_spots = coords.shape[0]
    if not 1 <= k <= n_spots - 1:
        msg = (
            f"cannot find k={k} nearest neighbours among {n_spots} spots; "
            f"k must be between 1 and n_spots - 1 = {n_spots - 1}: lower the neighbour "
            "count or use a slice with more spots"
        )
        raise InputError(msg)

    # One neighbour beyond k, when it exists, reveals a tie at the cut-off.
    n_needed = min(k + 1, n_spots - 1)
    indices = np.empty((n_spots, n_needed), dtype=np.int64)
    distances = np.empty((n_spots, n_needed), dtype=np.float64)

    tree = cKDTree(coords)
    pending = np.arange(n_spots, dtype=np.int64)
    n_candidates = min(n_spots, 2 * n_needed + INITIAL_CANDIDATE_MARGIN)
    while pending.size:
        tree_distances, candidates = tree.query(coords[pending], k=n_candidates)
        candidates = np.asarray(candidates, dtype=np.int64).reshape(pending.size, n_candidates)
        tree_distances = np.asarray(tree_distances).reshape(pending.size, n_candidates)

        exact = euclidean_distance(coords[pending][:, None, :], coords[candidates])
        exact[candidates == pending[:, None]] = np.inf
        order = np.lexsort((candidates, exact), axis=-1)
        best = np.take_along_axis(candidates, order, axis=1)[:, :n_needed]
        best_distances = np.take_along_axis(exact, order, axis=1)[:, :n_needed]

        if n_candidates == n_spots:
            complete = np.ones(pending.size, dtype=bool)
        else:
            bound = tree_distances[:, -1] * (1.0 - KDTREE_RELATIVE_SLACK)
            complete = best_distances[:, -1] < bound
        indices[pending[complete]] = best[complete]
        distances[pending[complete]] = best_distances[complete]

        pending = pending[~complete]
        if pending.size:
            logger.debug(
                "%d spots need more than %d candidates to settle ties", pending.size, n_candidates
            )
        n_candidates = min(n_spots, 2 * n_candidates)

    if n_needed > k:
        tied = distances[:, k] == distances[:, k - 1]
    else:
        tied = np.zeros(n_spots, dtype=bool)
    return Neighbours(
        indices=np.ascontiguousarray(indices[:, :k]),
        distances=np.ascontiguousarray(distances[:, :k]),
        tied_at_cutoff=tied,
    )


def _validated_points(points: ArrayLike) -> NDArray[np.float64]:
    coords = np.asarray(points)
    if coords.ndim != 2 or coords.shape[0] == 0 or coords.shape[1] == 0:
        msg = (
            f"spot coordinates must be a non-empty 2-D array (n_spots, n_dims); "
            f"got shape {coords.shape}"
        )
        raise InputError(msg)
    if coords.dtype.kind not in "fiu":
        msg = f"spot coordinates must be numeric; got dtype {coords.dtype}"
        raise InputError(msg)
    coords = coords.astype(np.float64, copy=False)
    if not np.isfinite(coords).all():
        bad = np.flatnonzero(~np.isfinite(coords).all(axis=1))
        msg = (
            f"spot coordinates contain NaN or infinite values at {bad.size} spots "
            f"(first indices: {bad[:5].tolist()}); drop or fix those spots first"
        )
        raise InputError(msg)
    return coords
