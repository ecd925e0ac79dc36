"""Stage ``metrics``: ARI and NMI of the domains against the ground truth."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from candidate.config import StaigFusionConfig
from harness.errors import InputError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Score refined and unrefined domains against ``load/labels``.

    Without labels the scores are ``None`` and ``labels`` is ``"absent"``.

    Returns
    -------
    dict
        ``scores`` and ``config``.

    Raises
    ------
    InputError
        When the labels, domains and barcodes differ in length.
    """
    barcodes = np.asarray(inputs["load/barcodes"], dtype=str)
    refined = np.asarray(inputs["refine/refined"], dtype=str)
    domains = np.asarray(inputs["cluster/domains"], dtype=str)
    stage_config = {
        **config.header(),
        "metrics": ["adjusted_rand_score", "normalized_mutual_info_score"],
    }
    labels = inputs.get("load/labels")
    if labels is None:
        logger.info("no ground-truth labels; ARI and NMI are not computed")
        scores: dict[str, Any] = {
            "labels": "absent",
            "ari": None,
            "nmi": None,
            "n_spots": len(barcodes),
        }
        return {"scores": scores, "config": stage_config}

    labels = np.asarray(labels, dtype=str)
    if not len(labels) == len(refined) == len(domains) == len(barcodes):
        msg = (
            f"metrics inputs differ in length: {len(barcodes)} barcodes, {len(labels)} labels, "
            f"{len(domains)} domains, {len(refined)} refined domains"
        )
        raise InputError(msg)
    scores = {
        "labels": "present",
        "ari": adjusted_rand_score(labels, refined),
        "nmi": normalized_mutual_info_score(labels, refined),
        "ari_unrefined": adjusted_rand_score(labels, domains),
        "nmi_unrefined": normalized_mutual_info_score(labels, domains),
        "n_spots": len(barcodes),
        "n_domains": len(np.unique(refined)),
        "n_label_classes": len(np.unique(labels)),
    }
    logger.info("ARI %.3f, NMI %.3f over %d spots", scores["ari"], scores["nmi"], len(barcodes))
    return {"scores": scores, "config": stage_config}
