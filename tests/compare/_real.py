"""Readers of the real DLPFC 151673 files used by the comparator tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def in_tissue_positions(slice_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return barcodes ``(n_obs,)`` and full-resolution ``(x, y)`` px ``(n_obs, 2)``."""
    table = pd.read_csv(slice_dir / "spatial" / "tissue_positions_list.csv", header=None)
    table = table[table[1] == 1]
    barcodes = table[0].to_numpy(dtype=str)
    xy = table[[5, 4]].to_numpy(dtype=np.float64)
    return barcodes, xy


def truth_labels(slice_dir: Path) -> pd.Series:
    """Return the layer label per barcode, NA spots dropped."""
    table = pd.read_csv(slice_dir / "truth.txt", sep="\t", header=None, names=["barcode", "layer"])
    return table.dropna().set_index("barcode")["layer"]
