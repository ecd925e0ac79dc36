"""Genes stage against scanpy's own HVG call and a plain numpy normalise-log-scale."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scanpy as sc
import scipy.sparse as sp

from harness.artifacts.io import dumps_json
from harness.contract.stages import get_stage
from harness.contract.validate import validate_outputs
from harness.errors import InputError
from reference.stages import genes
from reference.stages.genes import preprocess_genes

from ._slices import dlpfc_folder, read_truth, stage_context, stage_params


@pytest.fixture(scope="module")
def dlpfc_counts() -> sc.AnnData:
    """151673's raw counts as scanpy reads them, unannotated spots dropped as load does."""
    folder = dlpfc_folder()
    adata = sc.read_10x_h5(folder / "filtered_feature_bc_matrix.h5")
    adata.var_names_make_unique()
    layers = read_truth(folder, adata.obs_names.to_numpy(dtype=str))
    return adata[layers != "NA"].copy()


@pytest.fixture(scope="module")
def dlpfc_result(dlpfc_counts: sc.AnnData) -> tuple[np.ndarray, np.ndarray, dict]:
    return preprocess_genes(dlpfc_counts.X, dlpfc_counts.var_names.to_numpy(), num_gene=3000)


def numpy_features(counts: np.ndarray, columns: np.ndarray, *, variance: str) -> np.ndarray:
    """Normalise to 1e4 per spot over all genes, log1p, divide by the std, clip at 10.

    Only ``columns`` are returned (and computed past the library sizes), because
    every step after normalisation is per gene. ``variance="one-pass"`` takes
    mean(x²) - mean(x)² with x² rounded to float32, as scanpy's sparse kernel
    does, so it reproduces scanpy's bits. ``"two-pass"`` is the textbook sum of
    squared deviations.
    """
    values = counts.astype(np.float32)
    library = values.astype(np.float64).sum(axis=1).astype(np.float32)
    normalised = values[:, columns] / (library / np.float32(1e4))[:, None]
    logged = np.log1p(normalised)
    wide = logged.astype(np.float64)
    n_spots = wide.shape[0]
    mean = wide.sum(axis=0) / n_spots
    if variance == "one-pass":
        squares = (logged * logged).astype(np.float64)
        var = (squares.sum(axis=0) / n_spots - mean**2) * (n_spots / (n_spots - 1))
    else:
        var = ((wide - mean) ** 2).sum(axis=0) / (n_spots - 1)
    std = np.sqrt(var)
    std[std == 0] = 1.0
    return np.minimum(wide / std, 10.0).astype(np.float32)


def synthetic_counts(n_spots: int, n_genes: int, *, seed: int) -> np.ndarray:
    """Negative-binomial counts with gene means spread over three orders of magnitude."""
    rng = np.random.default_rng(seed)
    means = 10 ** rng.uniform(-1.5, 1.5, size=n_genes)
    spot_scale = rng.uniform(0.5, 2.0, size=(n_spots, 1))
    dispersion = 2.0
    p = dispersion / (dispersion + means * spot_scale)
    return rng.negative_binomial(dispersion, p).astype(np.int64)


def test_real_dlpfc_hvg_match_scanpy(
    dlpfc_counts: sc.AnnData, dlpfc_result: tuple[np.ndarray, np.ndarray, dict]
) -> None:
    hvg, feat, info = dlpfc_result
    direct = dlpfc_counts.copy()
    sc.pp.highly_variable_genes(direct, flavor="seurat_v3", n_top_genes=3000)
    expected = direct.var_names[direct.var["highly_variable"].to_numpy()].to_numpy(dtype=str)
    assert hvg.tolist() == expected.tolist()
    assert feat.shape == (3611, 3000)
    assert info["n_hvg"] == 3000
    positions = direct.var_names.get_indexer(hvg)
    assert np.all(np.diff(positions) > 0), "hvg must keep matrix column order"

    # Precondition that makes the check discriminating: HVG on log-normalised data differ.
    logged = dlpfc_counts.copy()
    sc.pp.normalize_total(logged, target_sum=1e4)
    sc.pp.log1p(logged)
    with pytest.warns(UserWarning, match="non-integers"):
        sc.pp.highly_variable_genes(logged, flavor="seurat_v3", n_top_genes=3000)
    assert not logged.var["highly_variable"].equals(direct.var["highly_variable"])


def test_real_dlpfc_features_match_numpy(
    dlpfc_counts: sc.AnnData, dlpfc_result: tuple[np.ndarray, np.ndarray, dict]
) -> None:
    hvg, feat, _ = dlpfc_result
    columns = dlpfc_counts.var_names.get_indexer(hvg)
    dense = dlpfc_counts.X.toarray()
    assert feat.dtype == np.float32

    expected = numpy_features(dense, columns, variance="one-pass")
    differing = int(np.sum(feat != expected))
    assert differing == 0, f"{differing} of {feat.size} values differ from the numpy recipe"
    # The textbook variance moves the float64 std in its last bits, so the float32
    # features may round one unit in the last place the other way.
    textbook = numpy_features(dense, columns, variance="two-pass")
    np.testing.assert_array_max_ulp(feat, textbook, maxulp=1)

    assert feat.max() == 10.0
    assert np.sum(feat == 10.0) > 100, "the slice must exercise the clip at max_value 10"
    assert feat.min() == 0.0


def test_normalisation_uses_all_genes(dlpfc_counts: sc.AnnData) -> None:
    dense = dlpfc_counts.X.toarray()[:400]
    hvg, feat, _ = preprocess_genes(
        sp.csr_matrix(dense), dlpfc_counts.var_names.to_numpy(), num_gene=3000
    )
    columns = dlpfc_counts.var_names.get_indexer(hvg)
    # Library sizes over the selected genes only would change every non-zero value.
    selected = np.arange(columns.size)
    subset_only = numpy_features(dense[:, columns], selected, variance="one-pass")
    nonzero = feat != 0
    assert np.mean(subset_only[nonzero] != feat[nonzero]) > 0.5
    np.testing.assert_array_equal(feat, numpy_features(dense, columns, variance="one-pass"))


def test_integer_and_float_counts_agree() -> None:
    counts = synthetic_counts(150, 400, seed=3)
    names = np.array([f"gene{i}" for i in range(400)])
    hvg_int, feat_int, _ = preprocess_genes(sp.csr_matrix(counts), names, num_gene=100)
    hvg_float, feat_float, _ = preprocess_genes(counts.astype(np.float64), names, num_gene=100)
    assert hvg_int.tolist() == hvg_float.tolist()
    assert feat_int.dtype == np.float32
    np.testing.assert_array_equal(feat_int, feat_float)
    columns = np.flatnonzero(np.isin(names, hvg_int))
    np.testing.assert_array_equal(feat_int, numpy_features(counts, columns, variance="one-pass"))


def test_fewer_genes_than_requested(caplog: pytest.LogCaptureFixture) -> None:
    counts = synthetic_counts(120, 200, seed=1)
    names = np.array([f"gene{i}" for i in range(200)])
    with caplog.at_level(logging.WARNING, logger="reference.stages.genes"):
        hvg, feat, info = preprocess_genes(sp.csr_matrix(counts), names, num_gene=3000)
    assert hvg.tolist() == names.tolist()
    assert feat.shape == (120, 200)
    assert info["n_top_genes_clamped"] is True
    assert info["n_top_genes_used"] == 200
    assert "fewer than num_gene=3000" in caplog.text


def test_run_writes_config() -> None:
    counts = synthetic_counts(100, 300, seed=2)
    names = np.array([f"gene{i}" for i in range(300)])
    outputs = genes.run(
        {"load/counts": sp.csr_matrix(counts), "load/genes": names},
        stage_context(),
        stage_params(num_gene=50),
    )
    assert outputs["hvg"].shape == (50,)
    assert outputs["feat"].shape == (100, 50)
    config = outputs["config"]
    assert config["hvg_flavor"] == "seurat_v3"
    assert config["target_sum"] == 1e4
    assert config["scale"] == {"zero_center": False, "max_value": 10.0, "genes": "all"}
    assert config["feat_dtype"] == "float32"
    assert config["n_top_genes_clamped"] is False
    validate_outputs(get_stage("genes"), outputs, {"N": 100, "G": 300})
    dumps_json(config)


def _bad_counts(kind: str) -> tuple[object, np.ndarray]:
    counts = synthetic_counts(30, 40, seed=0).astype(np.float64)
    names = np.array([f"gene{i}" for i in range(40)])
    if kind == "fractional":
        counts[0, 0] = 1.5
    elif kind == "negative":
        counts[0, 0] = -1
    elif kind == "nan":
        counts[0, 0] = np.nan
    elif kind == "names-short":
        names = names[:-1]
    elif kind == "names-repeated":
        names[3] = names[2]
    elif kind == "one-dimensional":
        counts = counts[0]
    elif kind == "empty":
        counts = counts[:0]
    return counts, names


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("fractional", "non-integer"),
        ("negative", "non-negative"),
        ("nan", "non-negative finite"),
        ("names-short", "39"),
        ("names-repeated", "unique"),
        ("one-dimensional", "2-D"),
        ("empty", "empty"),
    ],
)
def test_invalid_inputs_raise(kind: str, match: str) -> None:
    counts, names = _bad_counts(kind)
    with pytest.raises(InputError, match=match):
        preprocess_genes(counts, names, num_gene=10)


def test_num_gene_zero_raises() -> None:
    counts = synthetic_counts(30, 40, seed=0)
    with pytest.raises(InputError, match="num_gene must be at least 1"):
        preprocess_genes(counts, np.array([f"g{i}" for i in range(40)]), num_gene=0)
