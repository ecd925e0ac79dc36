"""Highly variable genes and normalisation order of both profiles."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

from candidate.pipeline import StaigFusion
from harness.errors import InputError

N_TOP = 3000


@pytest.fixture(scope="module")
def raw_counts() -> tuple[sp.csr_matrix, np.ndarray]:
    """Negative-binomial counts, 300 spots x 3400 genes, library sizes spread tenfold."""
    rng = np.random.default_rng(11)
    n_obs, n_vars = 300, 3400
    gene_means = rng.gamma(shape=0.6, scale=2.0, size=n_vars)
    library = rng.uniform(0.3, 3.0, size=(n_obs, 1))
    dispersion = rng.uniform(0.5, 5.0, size=n_vars)
    mean = library * gene_means
    counts = rng.negative_binomial(dispersion, dispersion / (dispersion + mean)).astype(np.float32)
    genes = np.array([f"gene{i:04d}" for i in range(n_vars)])
    return sp.csr_matrix(counts), genes


def run_genes(
    profile: str, counts: sp.csr_matrix, genes: np.ndarray, make_context, **options
) -> dict:
    context = make_context(slice_config="151673", options=options)
    return StaigFusion(profile=profile).stage_genes(
        {"load/counts": counts, "load/genes": genes}, context
    )


def staig_order(counts: sp.csr_matrix, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    adata = ad.AnnData(X=counts.copy(), var=pd.DataFrame(index=genes))
    sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=N_TOP)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.scale(adata, zero_center=False, max_value=10)
    flagged = adata.var["highly_variable"].to_numpy()
    return genes[flagged], adata.X[:, flagged].toarray()


def test_strict_matches_staig_order(raw_counts, make_context) -> None:
    counts, genes = raw_counts
    expected_hvg, expected_feat = staig_order(counts, genes)

    outputs = run_genes("strict", counts, genes, make_context)

    np.testing.assert_array_equal(outputs["hvg"], expected_hvg)
    np.testing.assert_allclose(outputs["feat"], expected_feat, rtol=1e-6)
    assert outputs["config"]["order"] == "flag_then_normalise_all"


def test_legacy_normalises_hvg_subset(raw_counts, make_context) -> None:
    counts, genes = raw_counts
    strict = run_genes("strict", counts, genes, make_context)

    legacy = run_genes("legacy", counts, genes, make_context)

    # Same genes (seurat_v3 on raw counts), different values: library sizes
    # count the selected genes only.
    np.testing.assert_array_equal(legacy["hvg"], strict["hvg"])
    assert legacy["feat"].shape == strict["feat"].shape == (counts.shape[0], N_TOP)
    assert not np.allclose(legacy["feat"], strict["feat"], rtol=1e-3)
    assert legacy["config"]["order"] == "subset_then_normalise"


def test_legacy_library_sizes_from_hvg(raw_counts, make_context) -> None:
    counts, genes = raw_counts
    legacy = run_genes("legacy", counts, genes, make_context)
    columns = np.flatnonzero(np.isin(genes, legacy["hvg"]))
    subset = counts[:, columns].toarray().astype(np.float64)

    # The legacy order by hand: normalise over the selected genes only, log1p,
    # divide each gene by its standard deviation (ddof 1, as scanpy's scale
    # without centring), clip at 10.
    logged = np.log1p(subset / subset.sum(axis=1, keepdims=True) * 1e4)
    std = logged.std(axis=0, ddof=1)
    std[std == 0] = 1.0
    expected = np.minimum(logged / std, 10.0)
    np.testing.assert_allclose(legacy["feat"], expected, rtol=1e-4, atol=1e-5)


def test_hvg_on_lognorm_changes_hvg_set(raw_counts, make_context) -> None:
    counts, genes = raw_counts
    on_raw = run_genes("legacy", counts, genes, make_context)

    on_lognorm = run_genes("legacy", counts, genes, make_context, hvg_on_lognorm=True)

    assert len(on_lognorm["hvg"]) == N_TOP
    assert set(on_lognorm["hvg"]) != set(on_raw["hvg"])
    assert on_lognorm["config"]["hvg_flavor"] == "seurat"
    assert on_lognorm["config"]["hvg_input"] == "log_normalised"


def test_hvg_keep_matrix_column_order(raw_counts, make_context) -> None:
    counts, genes = raw_counts
    outputs = run_genes("strict", counts, genes, make_context)
    positions = np.searchsorted(genes, outputs["hvg"])

    assert (np.diff(positions) > 0).all()


def test_too_few_genes_raise(make_context) -> None:
    counts = sp.csr_matrix(np.ones((20, 100), dtype=np.float32))
    genes = np.array([f"g{i}" for i in range(100)])

    with pytest.raises(InputError, match="3000 highly variable genes"):
        run_genes("strict", counts, genes, make_context)
