"""Turn a loaded Visium slice into the ``load`` stage's artifacts (shared by both sides)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from harness.data.labels import LABEL_COLUMN
from harness.data.visium import VisiumSlice


def slice_to_load_artifacts(visium: VisiumSlice) -> dict[str, Any]:
    """Return barcodes, spatial, labels (when present), genes, counts and scalefactors.

    ``labels`` is present only when the slice has ground truth; missing labels
    are written as the empty string.
    """
    adata = visium.adata
    artifacts: dict[str, Any] = {
        "barcodes": np.asarray(adata.obs_names, dtype=str),
        "spatial": np.asarray(adata.obsm["spatial"], dtype=np.float64),
        "genes": np.asarray(adata.var_names, dtype=str),
        "counts": sp.csr_matrix(adata.X) if adata.X is not None else sp.csr_matrix((adata.n_obs, adata.n_vars)),
        "scalefactors": scalefactors_record(visium),
    }
    if visium.labels_source is not None:
        truth = adata.obs[LABEL_COLUMN]
        artifacts["labels"] = np.asarray(truth.astype(object).where(pd.notna(truth), ""), dtype=str)
    return artifacts


def scalefactors_record(visium: VisiumSlice) -> dict[str, Any]:
    """Return the scale factors plus each available image level's scale, shape and path."""
    record = dict(visium.scalefactors.to_dict())
    record["image_levels"] = {
        name: {"scale": level.scale, "shape": list(level.shape), "path": str(level.path)}
        for name, level in visium.images.items()
    }
    return record
