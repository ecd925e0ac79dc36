"""Hand-built run folders for the diagnosis tests: hexagonal grids, kNN graphs, contexts.

Each side is a real run folder written with :class:`RunStore`. The tests
open the stored records and judge them through :class:`DiffContext`, as the
diff engine does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from harness.artifacts.store import RunStore
from harness.diff.context import DiffContext

HEX_SPACING_PX = 100.0
"""Centre-to-centre distance of neighbouring grid spots, px (DLPFC 151673: about 137 px)."""

DISTANCE_DECIMALS = 6
"""Distances are rounded to this many decimals before ordering, so equal lengths tie exactly."""

SPARE_NEIGHBOURS = 8
"""Extra KD-tree candidates beyond k + 1, enough to see every tie on a hexagonal grid."""


def hex_grid(n_rows: int, n_cols: int, *, spacing: float = HEX_SPACING_PX) -> np.ndarray:
    """Return ``(n_rows * n_cols, 2)`` (x, y) px centres of a hexagonal grid, odd rows shifted."""
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    x = cols * spacing + (rows % 2) * spacing / 2
    y = rows * spacing * np.sqrt(3) / 2
    return np.column_stack([x, y]).astype(np.float64)


def barcodes(n_spots: int, *, prefix: str = "SPOT") -> np.ndarray:
    """Return ``n_spots`` distinct barcode-like strings."""
    return np.array([f"{prefix}{index:05d}-1" for index in range(n_spots)])


def knn_edges(
    points: np.ndarray,
    *,
    k: int,
    tie_rank: np.ndarray | None = None,
    symmetric: bool = True,
) -> np.ndarray:
    """Build a kNN graph as a sorted ``(2, E)`` int64 edge list.

    Parameters
    ----------
    points
        Shape ``(n_obs, 2)``, px.
    k
        Neighbours each spot chooses.
    tie_rank
        Shape ``(n_obs,)``: among equidistant candidates the lower rank is chosen
        first; the spot index when ``None``.
    symmetric
        Add the reverse of every chosen edge (STAIG's adjacency plus transpose).
    """
    n_obs = points.shape[0]
    rank = np.arange(n_obs) if tie_rank is None else np.asarray(tie_rank)
    n_query = min(n_obs, k + 1 + SPARE_NEIGHBOURS)
    distances, candidates = cKDTree(points).query(points, k=n_query)
    distances = np.round(distances, DISTANCE_DECIMALS)
    distances[candidates == np.arange(n_obs)[:, None]] = np.inf
    order = np.lexsort((rank[candidates], distances), axis=-1)[:, :k]
    chosen = np.take_along_axis(candidates, order, axis=1)
    sources = np.repeat(np.arange(n_obs), k)
    targets = chosen.ravel()
    ids = sources * n_obs + targets
    if symmetric:
        ids = np.concatenate([ids, targets * n_obs + sources])
    ids = np.unique(ids)
    return np.stack([ids // n_obs, ids % n_obs]).astype(np.int64)


def write_side(root: Path, stages: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Write each stage's artifacts into the run folder ``root`` and return the opened records."""
    store = RunStore(root)
    for stage, artifacts in stages.items():
        store.write_stage(stage, dict(artifacts))
    return {stage: store.open_stage(stage) for stage in stages}


def make_context(
    root: Path,
    reference: Mapping[str, Mapping[str, Any]],
    candidate: Mapping[str, Mapping[str, Any]],
    *,
    isolated: Mapping[str, Mapping[str, Any]] | None = None,
) -> DiffContext:
    """Write both sides, and any isolated candidate stages, under ``root``; return the context."""
    return DiffContext(
        reference=write_side(root / "reference", reference),
        candidate=write_side(root / "candidate", candidate),
        isolated=write_side(root / "isolated", isolated) if isolated else {},
    )


def load_stage(names: np.ndarray, spatial: np.ndarray, **extra: Any) -> dict[str, Any]:
    """Return the ``load`` artifacts the diagnoses read: barcodes, spatial and a config."""
    return {"barcodes": names, "spatial": spatial, "config": {}, **extra}


def graph_stage(edges: np.ndarray, **config: Any) -> dict[str, Any]:
    """Return ``graph`` artifacts with the given config entries."""
    return {"edges": edges, "config": dict(config)}


def two_bars(*, n_per_bar: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two long parallel bars of points, the case where KMeans and mclust (EEE) disagree.

    The bars are 16 units long and 3 units apart with a shared, elongated
    covariance: mclust's EEE model separates the bars, KMeans cuts across them.

    Returns
    -------
    points
        Shape ``(2 * n_per_bar, 2)``.
    bars
        Shape ``(2 * n_per_bar,)``: 0 or 1, the bar of each point.
    """
    rng = np.random.default_rng(seed)
    spread = np.array([8.0, 0.5])
    first = rng.normal(size=(n_per_bar, 2)) * spread
    second = rng.normal(size=(n_per_bar, 2)) * spread + np.array([0.0, 3.0])
    return np.concatenate([first, second]), np.repeat([0, 1], n_per_bar)
