"""Stage ``pseudo_labels``: KMeans clusters of the image embedding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

from candidate.clustering import KMEANS_N_INIT
from candidate.config import StaigFusionConfig
from harness.errors import InputError
from harness.implementation import StageContext


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Cluster ``img_emb`` into ``n_pseudo_labels`` groups.

    Returns
    -------
    dict
        ``pseudo_labels`` (N,) int64 and ``config``.

    Raises
    ------
    InputError
        When there are fewer spots than clusters.
    """
    img_emb = np.asarray(inputs["image_embedding/img_emb"], dtype=np.float64)
    k = config.n_pseudo_labels
    if img_emb.shape[0] < k:
        msg = (
            f"{k} image pseudo-label clusters need at least {k} spots; the slice has "
            f"{img_emb.shape[0]} (profile {config.profile}). Use a slice with {k} or more "
            "labelled spots; spots without a label are dropped, so ask `harness synth` for "
            f"--spots {k + 20} or more"
        )
        raise InputError(msg)
    kmeans = KMeans(n_clusters=k, random_state=config.pseudo_label_seed, n_init=KMEANS_N_INIT)
    labels = kmeans.fit_predict(img_emb).astype(np.int64)
    return {
        "pseudo_labels": labels,
        "config": {
            **config.header(),
            "n_pseudo_labels": k,
            "random_state": config.pseudo_label_seed,
            "n_init": KMEANS_N_INIT,
        },
    }
