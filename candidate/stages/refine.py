"""Stage ``refine``: majority vote of each spot's nearest spots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from candidate.clustering import refine_domains
from candidate.config import StaigFusionConfig
from harness.implementation import StageContext


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Refine ``cluster/domains`` over the spots' ``refine_neighbours`` nearest spots.

    Returns
    -------
    dict
        ``refined`` (N,) str and ``config``.
    """
    domains = np.asarray(inputs["cluster/domains"], dtype=str)
    spatial = np.asarray(inputs["load/spatial"], dtype=np.float64)
    k = config.cluster.refine_neighbours
    return {
        "refined": refine_domains(domains, spatial, n_neighbours=k),
        "config": {
            **config.header(),
            "refine_neighbours": k,
            "ties": "label met first among neighbours listed nearest first",
        },
    }
