"""Stage ``load``: the slice's counts, spot positions, scale factors and labels."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from candidate.config import StaigFusionConfig
from harness.data.labels import LABEL_COLUMN
from harness.data.visium import drop_unlabelled
from harness.implementation import StageContext

logger = logging.getLogger(__name__)


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Read the slice through the harness's Visium reader and drop unlabelled spots.

    Returns
    -------
    dict
        ``barcodes`` (N,), ``spatial`` (N, 2) full-resolution px (x, y),
        ``labels`` (N,) when the slice has labels, ``genes`` (G,), ``counts``
        (N, G) CSR raw counts, ``scalefactors`` and ``config``.
    """
    visium_slice = context.visium_slice()
    has_labels = LABEL_COLUMN in visium_slice.adata.obs
    if has_labels:
        n_before = visium_slice.adata.n_obs
        visium_slice = drop_unlabelled(visium_slice)
        logger.info(
            "dropped %d of %d spots without a label (%s)",
            n_before - visium_slice.adata.n_obs,
            n_before,
            visium_slice.labels_source,
        )
    else:
        logger.info(
            "slice %s has no labels; metrics will have no ground truth", visium_slice.library_id
        )

    adata = visium_slice.adata
    scalefactors = visium_slice.scalefactors
    outputs: dict[str, Any] = {
        "barcodes": np.asarray(adata.obs_names, dtype=str),
        "spatial": np.asarray(adata.obsm["spatial"], dtype=np.float64),
        "genes": np.asarray(adata.var_names, dtype=str),
        "counts": sp.csr_matrix(adata.X),
        "scalefactors": {
            "spot_diameter_fullres": scalefactors.spot_diameter_fullres,
            "fiducial_diameter_fullres": scalefactors.fiducial_diameter_fullres,
            "tissue_hires_scalef": scalefactors.tissue_hires_scalef,
            "tissue_lowres_scalef": scalefactors.tissue_lowres_scalef,
            "image_levels": {
                name: {"scale": level.scale, "shape": list(level.shape), "path": str(level.path)}
                for name, level in visium_slice.images.items()
            },
        },
        "config": {
            **config.header(),
            "labels_source": visium_slice.labels_source,
            "drop_na_labels": has_labels,
            "n_dropped_unlabelled": visium_slice.n_dropped_unlabelled,
        },
    }
    if has_labels:
        outputs["labels"] = adata.obs[LABEL_COLUMN].astype(str).to_numpy(dtype=str)
    return outputs
