"""Stage ``genes``: highly variable genes and the normalised expression the model reads.

Two orders exist. STAIG's (``strict``) flags the genes, normalises, log-transforms
and scales every gene, then takes the flagged columns. The ``legacy`` order
subsets the matrix to the flagged genes first, so ``normalize_total`` divides
by library sizes counted over those genes only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

from candidate.config import GeneConfig, StaigFusionConfig
from harness.errors import InputError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)


def select_hvg(adata: ad.AnnData, settings: GeneConfig) -> np.ndarray:
    """Return the boolean mask of highly variable genes, shape ``(n_vars,)``.

    ``hvg_input="raw_counts"`` runs scanpy's ``highly_variable_genes`` on the
    counts in ``adata.X``; ``"log_normalised"`` runs it on a normalised and
    log-transformed copy. ``adata`` is not changed.
    """
    source = adata.copy()
    if settings.hvg_input == "log_normalised":
        sc.pp.normalize_total(source, target_sum=settings.target_sum)
        sc.pp.log1p(source)
    sc.pp.highly_variable_genes(
        source, flavor=settings.hvg_flavor, n_top_genes=settings.n_top_genes
    )
    return source.var["highly_variable"].to_numpy(dtype=bool)


def normalise(adata: ad.AnnData, settings: GeneConfig) -> None:
    """Run ``normalize_total``, ``log1p`` and ``scale(zero_center=False)`` on ``adata`` in place."""
    sc.pp.normalize_total(adata, target_sum=settings.target_sum)
    sc.pp.log1p(adata)
    sc.pp.scale(adata, zero_center=False, max_value=settings.scale_max_value)


def preprocess_genes(
    counts: sp.csr_matrix, genes: np.ndarray, settings: GeneConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Select highly variable genes and normalise in the configured order.

    Parameters
    ----------
    counts
        Shape ``(n_obs, n_vars)``, raw UMI counts.
    genes
        Shape ``(n_vars,)``, unique gene names.
    settings
        Selection and normalisation settings.

    Returns
    -------
    hvg
        Shape ``(n_hvg,)``, the selected gene names in matrix column order.
    feat
        Shape ``(n_obs, n_hvg)``, dense normalised expression of those genes.

    Raises
    ------
    InputError
        When the matrix has fewer genes than ``settings.n_top_genes``.
    """
    if counts.shape[1] < settings.n_top_genes:
        msg = (
            f"selecting {settings.n_top_genes} highly variable genes needs at least that many "
            f"genes; the count matrix has {counts.shape[1]}"
        )
        raise InputError(msg)
    # float32, as scanpy's 10x reader returns the counts to STAIG.
    adata = ad.AnnData(
        X=sp.csr_matrix(counts, dtype=np.float32), var=pd.DataFrame(index=pd.Index(genes))
    )
    flagged = select_hvg(adata, settings)

    if settings.order == "subset_then_normalise":
        adata = adata[:, flagged].copy()
        normalise(adata, settings)
        matrix = adata.X
    else:
        normalise(adata, settings)
        matrix = adata.X[:, flagged]
    feat = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    return np.asarray(genes)[flagged], feat


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Compute ``hvg`` and ``feat`` from the raw counts.

    Returns
    -------
    dict
        ``hvg`` (H,) str, ``feat`` (N, H) float and ``config``.
    """
    started = time.perf_counter()
    counts = inputs["load/counts"]
    genes = np.asarray(inputs["load/genes"], dtype=str)
    hvg, feat = preprocess_genes(counts, genes, config.genes)
    logger.info(
        "selected %d of %d genes (%s on %s, %s) in %.1f s",
        len(hvg),
        len(genes),
        config.genes.hvg_flavor,
        config.genes.hvg_input,
        config.genes.order,
        time.perf_counter() - started,
    )
    return {"hvg": hvg, "feat": feat, "config": {**config.header(), **config.genes.to_dict()}}
