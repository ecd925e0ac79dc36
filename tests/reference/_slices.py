"""Inputs shared by the reference stage tests: real DLPFC data, grids and slow oracles.

The oracles are deliberately plain Python (loops over spots, ``math.sqrt``),
written from the stage definitions and independent of the vectorised code.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config import RunConfig
from harness.implementation import StageContext

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("HARNESS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
POSITIONS_COLUMNS = ("barcode", "in_tissue", "array_row", "array_col", "pxl_row", "pxl_col")


def dlpfc_folder(slice_id: str = "151673") -> Path:
    """Return the real DLPFC slice folder, or skip the test when it is absent."""
    folder = SHARED_DATA / "dlpfc" / slice_id
    if not (folder / "filtered_feature_bc_matrix.h5").is_file():
        pytest.skip(f"real DLPFC data not found at {folder}; set HARNESS_SHARED_DATA")
    return folder


def read_in_tissue_positions(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return in-tissue barcodes ``(N,)`` and (x, y) full-resolution px ``(N, 2)``."""
    table = pd.read_csv(
        folder / "spatial" / "tissue_positions_list.csv", header=None, names=POSITIONS_COLUMNS
    )
    table = table[table["in_tissue"] == 1]
    coords = table[["pxl_col", "pxl_row"]].to_numpy(dtype=np.float64)
    return table["barcode"].to_numpy(dtype=str), coords


def read_truth(folder: Path, barcodes: np.ndarray) -> np.ndarray:
    """Return the layer of each barcode, joined by barcode, "NA" where unannotated."""
    truth = pd.read_csv(
        folder / "truth.txt", sep="\t", header=None, names=["barcode", "layer"], index_col=0,
        keep_default_na=False,
    )["layer"]
    return truth.reindex(barcodes).fillna("NA").to_numpy(dtype=str)


def central_window(coords: np.ndarray, n_spots: int) -> np.ndarray:
    """Return the indices of the ``n_spots`` spots nearest the slice centre, ascending."""
    centre = coords.mean(axis=0)
    squared = ((coords - centre) ** 2).sum(axis=1)
    return np.sort(np.argsort(squared, kind="stable")[:n_spots])


def hexagonal_grid(n_rows: int, n_cols: int, *, seed: int) -> np.ndarray:
    """Return a shuffled hexagonal grid whose six nearest neighbours tie exactly in float64.

    Columns are 2c apart with odd rows shifted by c, rows c·sqrt(3) apart; c = 3 makes
    every row coordinate an exact float multiple and sqrt(c² + (c·sqrt(3))²) round to
    exactly 2c, so all six first-ring distances are equal bit for bit.
    """
    spacing = 3.0
    row_step = spacing * math.sqrt(3.0)
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    x = 2.0 * spacing * cols + spacing * (rows % 2)
    y = rows * row_step
    points = np.column_stack([x.ravel(), y.ravel()]).astype(np.float64)
    order = np.random.default_rng(seed).permutation(points.shape[0])
    return points[order]


def naive_distance(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Return the Euclidean distance, adding squared differences in coordinate order."""
    total = 0.0
    for left, right in zip(a, b, strict=True):
        delta = left - right
        total += delta * delta
    return math.sqrt(total)


def naive_neighbours(points: np.ndarray, k: int) -> list[list[int]]:
    """Rank all other points by (distance, index) with a full sort per point."""
    rows = [tuple(float(value) for value in row) for row in points]
    result = []
    for i, anchor in enumerate(rows):
        ranked = sorted(
            (naive_distance(anchor, other), j) for j, other in enumerate(rows) if j != i
        )
        result.append([j for _, j in ranked[:k]])
    return result


def stage_context() -> StageContext:
    """Return a CPU stage context with the default run configuration."""
    return StageContext(config=RunConfig(), device="cpu", side="reference")


def stage_params(**hyper: object) -> dict[str, object]:
    """Return resolved-parameter-shaped settings with the 151673 values, overridable."""
    values = {"num_gene": 3000, "num_neigh": 5, "k": 80, "radius": 15}
    values.update(hyper)
    return {"slice_config": "151673", "preset": "quick", "hyper": values, "reductions": {}}
