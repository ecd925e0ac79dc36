"""Stage 1, load: read the slice, join ground truth by barcode, drop unlabelled spots.

STAIG attaches ``truth.txt`` by row position; the reference joins by barcode
(the loader raises on missing, duplicated or extra barcodes) and drops spots
whose label is NA in an explicit, logged step (151673: 3639 spots, 3611 kept).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from harness.data.slice_artifacts import slice_to_load_artifacts
from harness.data.visium import drop_unlabelled
from harness.implementation import StageContext

logger = logging.getLogger(__name__)


def run(inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the load artifacts of the slice in ``context.data_dir``."""
    visium = context.visium_slice()
    n_before = visium.adata.n_obs
    if visium.labels_source is not None:
        visium = drop_unlabelled(visium)
    artifacts = slice_to_load_artifacts(visium)
    artifacts["config"] = {
        "labels_source": visium.labels_source,
        "n_spots_in_tissue": n_before,
        "n_spots_dropped_unlabelled": n_before - visium.adata.n_obs,
        "n_spots": visium.adata.n_obs,
        "n_genes": visium.adata.n_vars,
        "join": "barcode",
        "slice_config": params["slice_config"],
    }
    return artifacts
