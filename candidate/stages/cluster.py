"""Stage ``cluster``: domains from the embedding with mclust.

``strict`` validates the embedding and raises when mclust cannot run.
``legacy`` falls back to KMeans without a trace in its artifacts: its
``backend`` and ``config`` hold only the number of clusters, as the
implementation it models wrote them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from candidate.clustering import cluster_legacy, cluster_strict
from candidate.config import StaigFusionConfig
from harness.implementation import StageContext


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Cluster ``train/emb`` into ``n_clusters`` domains.

    Returns
    -------
    dict
        ``domains`` (N,) str, ``backend`` and ``config``.

    Raises
    ------
    InputError
        strict only: when the embedding is not a finite 2-D array with at least
        ``n_clusters`` rows.
    MissingDependencyError
        strict only: when R or mclust is unavailable (or ``options["simulate_no_r"]``).
    """
    settings = config.cluster
    embedding = np.asarray(inputs["train/emb"])
    simulate_no_r = bool(context.config.options.get("simulate_no_r", False))
    if settings.policy == "mclust_required":
        labels, backend = cluster_strict(
            embedding,
            n_clusters=settings.n_clusters,
            model=settings.mclust_model,
            seed=settings.r_seed,
            simulate_no_r=simulate_no_r,
        )
        stage_config: dict[str, Any] = {
            **config.header(),
            "n_clusters": settings.n_clusters,
            "mclust_model": settings.mclust_model,
            "r_seed": settings.r_seed,
            "validate_embedding": settings.validate_embedding,
        }
    else:
        labels = cluster_legacy(
            np.asarray(embedding, dtype=np.float64),
            n_clusters=settings.n_clusters,
            model=settings.mclust_model,
            seed=settings.r_seed,
            simulate_no_r=simulate_no_r,
        )
        backend = {"n_clusters": settings.n_clusters}
        stage_config = {**config.header(), "n_clusters": settings.n_clusters}
    return {"domains": labels.astype(str), "backend": backend, "config": stage_config}
