"""Stage 6, genes: highly variable genes and the model's input features.

The steps and their order follow STAIG's preprocessing, all with scanpy:

a. ``highly_variable_genes(flavor="seurat_v3", n_top_genes=num_gene)`` on the
   raw counts of all genes; only the flags are kept, nothing is subset;
b. ``normalize_total(target_sum=1e4)`` over all genes;
c. ``log1p``;
d. ``scale(zero_center=False, max_value=10)`` over all genes;
e. ``feat`` = the dense columns of the flagged genes, in matrix column order.

STAIG reads counts with ``scanpy.read_visium``, which stores them as float32,
and scanpy keeps that dtype through every step, so ``feat`` is float32 here
too. The reference casts ``load/counts`` to float32 before step a (exact for
counts below 2**24, which it checks).

When the matrix has fewer genes than ``num_gene``, scanpy's seurat_v3 flags
every gene without a message. The reference flags every gene too, but it logs
a warning and records ``n_top_genes_clamped`` in the stage config.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from harness.errors import InputError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)

# STAIG's preprocessing arguments (staig/adata_processing.py, "default" gene selection).
HVG_FLAVOR = "seurat_v3"
TARGET_SUM = 1e4
SCALE_MAX_VALUE = 10.0
# float32 represents every integer up to 2**24 exactly.
FLOAT32_EXACT_INTEGER_LIMIT = 2**24


def preprocess_genes(
    counts: sp.spmatrix | sp.sparray | ArrayLike,
    genes: ArrayLike,
    *,
    num_gene: int,
) -> tuple[NDArray[np.str_], NDArray[np.float32], dict[str, Any]]:
    """Flag highly variable genes and compute the normalised, scaled features.

    Parameters
    ----------
    counts
        ``(n_obs, n_vars)`` raw UMI counts, spots × genes (CSR preferred, any
        scipy sparse format or dense array accepted); non-negative integers.
    genes
        ``(n_vars,)`` unique gene names in matrix column order.
    num_gene
        Number of highly variable genes (STAIG's ``num_gene``, 3000).

    Returns
    -------
    hvg
        ``(n_hvg,)`` names of the flagged genes, in matrix column order;
        ``n_hvg = min(num_gene, n_vars)``.
    feat
        ``(n_obs, n_hvg)`` float32 scaled log-normalised expression of those genes.
    info
        Counts and settings for the stage config.

    Raises
    ------
    InputError
        When shapes disagree, gene names repeat, the counts are not
        non-negative integers, or ``num_gene`` is below 1.
    """
    matrix = _validated_counts(counts)
    names = np.asarray(genes).astype(str)
    n_obs, n_vars = matrix.shape
    if names.shape != (n_vars,):
        msg = f"load/genes has shape {names.shape}, but load/counts has {n_vars} gene columns"
        raise InputError(msg)
    unique_names, name_counts = np.unique(names, return_counts=True)
    if unique_names.size != n_vars:
        repeated = unique_names[name_counts > 1][:5].tolist()
        msg = (
            f"gene names must be unique, but these repeat: {repeated}. "
            "Make them unique in the load stage (anndata's var_names_make_unique)"
        )
        raise InputError(msg)
    if num_gene < 1:
        msg = f"num_gene must be at least 1; got {num_gene}"
        raise InputError(msg)

    n_top_genes = min(num_gene, n_vars)
    if n_top_genes < num_gene:
        logger.warning(
            "the matrix has %d genes, fewer than num_gene=%d; every gene is flagged highly "
            "variable, as scanpy's seurat_v3 does",
            n_vars,
            num_gene,
        )
    library_sizes = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    n_zero = int(np.sum(library_sizes == 0))
    if n_zero:
        logger.warning(
            "%d spots have no counts; normalize_total leaves them at 0 (scanpy warns too)", n_zero
        )

    adata = ad.AnnData(
        X=matrix,
        obs=pd.DataFrame(index=np.arange(n_obs).astype(str)),
        var=pd.DataFrame(index=pd.Index(names)),
    )
    sc.pp.highly_variable_genes(adata, flavor=HVG_FLAVOR, n_top_genes=n_top_genes)
    flags = adata.var["highly_variable"].to_numpy(dtype=bool)

    sc.pp.normalize_total(adata, target_sum=TARGET_SUM)
    sc.pp.log1p(adata)
    sc.pp.scale(adata, zero_center=False, max_value=SCALE_MAX_VALUE)

    scaled = adata.X
    selected = scaled[:, flags]
    feat = selected.toarray() if sp.issparse(selected) else np.asarray(selected)
    feat = np.ascontiguousarray(feat)
    info = {
        "n_spots": int(n_obs),
        "n_genes": int(n_vars),
        "n_top_genes_used": int(n_top_genes),
        "n_top_genes_clamped": bool(n_top_genes < num_gene),
        "n_hvg": int(flags.sum()),
        "n_spots_zero_counts": n_zero,
        "feat_dtype": str(feat.dtype),
    }
    return names[flags], feat, info


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``hvg``, ``feat`` and ``config`` of the genes stage."""
    num_gene = int(params["hyper"]["num_gene"])
    counts = inputs["load/counts"]

    start = time.perf_counter()
    logger.info("selecting %d highly variable genes of a %s count matrix", num_gene, counts.shape)
    hvg, feat, info = preprocess_genes(counts, inputs["load/genes"], num_gene=num_gene)
    logger.info("genes: feat %s %s (%.2f s)", feat.shape, feat.dtype, time.perf_counter() - start)

    config = {
        "num_gene": num_gene,
        "hvg_flavor": HVG_FLAVOR,
        "hvg_input": "raw counts of all genes, flags only",
        "target_sum": TARGET_SUM,
        "log1p": True,
        "scale": {"zero_center": False, "max_value": SCALE_MAX_VALUE, "genes": "all"},
        "counts_dtype": "float32, as scanpy.read_visium stores counts",
        "scanpy_version": importlib.metadata.version("scanpy"),
        **info,
        "slice_config": params["slice_config"],
        "preset": params["preset"],
        "reductions": {},
    }
    return {"hvg": hvg, "feat": feat, "config": config}


def _validated_counts(counts: sp.spmatrix | sp.sparray | ArrayLike) -> sp.csr_matrix:
    if sp.issparse(counts):
        matrix = sp.csr_matrix(counts, copy=True)
    else:
        dense = np.asarray(counts)
        if dense.ndim != 2:
            msg = f"load/counts must be a 2-D spots × genes matrix; got shape {dense.shape}"
            raise InputError(msg)
        matrix = sp.csr_matrix(dense)
    if matrix.dtype.kind not in "fiu":
        msg = f"load/counts must be numeric; got dtype {matrix.dtype}"
        raise InputError(msg)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        msg = f"load/counts is empty (shape {matrix.shape}); the slice has no spots or genes"
        raise InputError(msg)

    matrix.sum_duplicates()
    values = matrix.data
    if values.size:
        if not np.isfinite(values).all() or values.min() < 0:
            msg = "load/counts must be non-negative finite raw counts; found negative, NaN or inf"
            raise InputError(msg)
        if not np.array_equal(values, np.round(values)):
            msg = (
                "load/counts must be raw integer UMI counts (seurat_v3 models counts), but "
                "non-integer values were found; pass the unnormalised matrix"
            )
            raise InputError(msg)
        if values.max() > FLOAT32_EXACT_INTEGER_LIMIT:
            msg = (
                f"a count of {values.max()} exceeds 2**24, which float32 cannot hold "
                "exactly; such counts are not raw UMI counts of one spot"
            )
            raise InputError(msg)
    matrix = matrix.astype(np.float32)
    matrix.sort_indices()
    return matrix
