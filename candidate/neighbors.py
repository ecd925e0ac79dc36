"""Spatial k-nearest neighbours with a deterministic order among equal distances."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from harness.errors import InputError

# Extra candidates fetched from the KD-tree beyond k + 1, so that ties at the k-th
# distance (six equidistant neighbours on a Visium hexagonal grid) are all seen.
_EXTRA_CANDIDATES = 8


def nearest_neighbours(points: np.ndarray, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``k`` nearest other points of every point.

    Neighbours are ordered by Euclidean distance, then by point index, so the
    result does not depend on how a sort breaks ties. A point is never its
    own neighbour, but another point at distance 0 is.

    Parameters
    ----------
    points
        Shape ``(n_obs, n_dims)``, e.g. spot centres in full-resolution px.
    k
        Neighbours per point; ``1 <= k < n_obs``.

    Returns
    -------
    indices
        Shape ``(n_obs, k)``, int64, nearest first.
    distances
        Shape ``(n_obs, k)``, float64, in the unit of ``points``.

    Raises
    ------
    InputError
        When ``points`` is not 2-D and finite, or ``k`` is out of range.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or not np.isfinite(points).all():
        msg = f"points must be a finite 2-D array (n_obs, n_dims); got shape {points.shape}"
        raise InputError(msg)
    n_obs = points.shape[0]
    if not 1 <= k < n_obs:
        msg = f"k = {k} neighbours needs at least k + 1 points; got {n_obs} points"
        raise InputError(msg)

    tree = cKDTree(points)
    n_query = min(n_obs, k + 1 + _EXTRA_CANDIDATES)
    while True:
        _, candidates = tree.query(points, k=n_query)
        candidates = np.asarray(candidates, dtype=np.int64).reshape(n_obs, n_query)
        # Exact distances, computed the same way for every pair, decide the order.
        distances = np.sqrt(((points[candidates] - points[:, None, :]) ** 2).sum(axis=-1))
        is_self = candidates == np.arange(n_obs)[:, None]
        distances = np.where(is_self, np.inf, distances)
        order = np.lexsort((candidates, distances), axis=-1)
        candidates = np.take_along_axis(candidates, order, axis=1)
        distances = np.take_along_axis(distances, order, axis=1)
        if n_query == n_obs:
            break
        # The farthest candidate must lie strictly beyond the k-th neighbour, or an
        # unseen point could tie with it.
        farthest = np.where(np.isfinite(distances), distances, -np.inf).max(axis=1)
        if (distances[:, k - 1] < farthest).all():
            break
        n_query = min(n_obs, 2 * n_query)
    return candidates[:, :k], distances[:, :k]
