"""Stage ``cluster``: R mclust (model EEE, seed 2023) on the trained embedding, as STAIG does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.implementation import StageContext
from reference.mclust import DEFAULT_MODEL, MCLUST_SEED, run_mclust


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Cluster ``train/emb`` ``(n_obs, n_dims)`` into ``num_clusters`` domains.

    Returns ``domains`` ``(n_obs,)`` str labels ``"1"`` to ``"G"`` (mclust's
    classification), ``backend`` (algorithm, versions, log-likelihood, BIC)
    and ``config``.

    Raises
    ------
    InputError
        When the embedding is invalid or Mclust finds no fit.
    MissingDependencyError
        When R, rpy2 or mclust is missing. There is no fallback algorithm.
    """
    n_clusters = int(params["hyper"]["num_clusters"])
    fit = run_mclust(
        inputs["train/emb"], n_clusters=n_clusters, model_name=DEFAULT_MODEL, seed=MCLUST_SEED
    )
    domains = fit.classification.astype(str)
    backend = {
        "algorithm": "mclust",
        "model": fit.model_name,
        "G": fit.n_clusters,
        "seed": fit.seed,
        "r_version": fit.r_version,
        "mclust_version": fit.mclust_version,
        "rpy2_version": fit.rpy2_version,
        "loglik": fit.loglik,
        "bic": fit.bic,
        "n_domains_assigned": int(np.unique(fit.classification).size),
    }
    config = {
        "slice_config": params["slice_config"],
        "preset": params["preset"],
        "num_clusters": n_clusters,
        "model": DEFAULT_MODEL,
        "seed": MCLUST_SEED,
        "device": "cpu (R)",
        "reductions": {},
    }
    return {"domains": domains, "backend": backend, "config": config}
