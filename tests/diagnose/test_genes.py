"""Diagnoses of the genes stage: HVG sets, the feature matrix and the hypotheses behind them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from candidate.config import GeneConfig
from candidate.stages.genes import preprocess_genes as candidate_preprocess
from harness.diagnose import gene_hypotheses, genes
from harness.diagnose.gene_hypotheses import HYPOTHESES, REFERENCE_ORDER, run_hypotheses
from harness.errors import InputError
from reference.stages.genes import preprocess_genes as reference_preprocess
from tests.conftest import require_dataset
from tests.diagnose._fixtures_image import (
    build_context,
    dlpfc_counts,
    load_stage,
    make_barcodes,
)

N_SPOTS = 240
N_GENES = 500
N_HVG = 150

STAIG_ORDER = GeneConfig(N_HVG, "seurat_v3", "raw_counts", "flag_then_normalise_all")
SUBSET_FIRST = GeneConfig(N_HVG, "seurat_v3", "raw_counts", "subset_then_normalise")
HVG_ON_LOGNORM = GeneConfig(N_HVG, "seurat", "log_normalised", "flag_then_normalise_all")
LEGACY_ON_LOGNORM = GeneConfig(N_HVG, "seurat", "log_normalised", "subset_then_normalise")

SUBSET_FIRST_TEXT = (
    "the candidate subsets to the {n} HVGs before normalize_total/log1p/scale (library sizes from "
    "HVG "
    "counts only); STAIG flags HVGs on raw counts and normalises all genes"
)
LOGNORM_TEXT = (
    "the candidate selects HVGs with flavor 'seurat' on the log-normalised matrix; STAIG flags "
    "them "
    "with 'seurat_v3' on raw counts"
)


@pytest.fixture(scope="module")
def counts():
    """Negative-binomial counts ``(240, 500)``: gene-specific means, spot-specific depths, 40 "
    "marker genes."""
    rng = np.random.default_rng(11)
    means = rng.lognormal(mean=-0.5, sigma=1.3, size=N_GENES)
    depth = rng.lognormal(mean=0.0, sigma=0.4, size=N_SPOTS)
    groups = rng.integers(0, 4, N_SPOTS)
    effect = np.ones((4, N_GENES))
    effect[:, :40] = rng.lognormal(0.0, 1.0, size=(4, 40))
    mu = depth[:, None] * means[None, :] * effect[groups]
    dispersion = 2.0
    matrix = rng.negative_binomial(dispersion, dispersion / (dispersion + mu))
    return sp.csr_matrix(matrix.astype(np.int64)), np.array(
        [f"GENE{index:04d}" for index in range(N_GENES)]
    )


def _reference_stages(barcodes, matrix, names, *, num_gene=N_HVG):
    hvg, feat, _ = reference_preprocess(matrix, names, num_gene=num_gene)
    positions = np.zeros((len(barcodes), 2))
    return {
        "load": load_stage(barcodes, positions, counts=matrix, genes=names),
        "genes": {"hvg": hvg, "feat": feat},
    }


def _context(tmp_path, counts, *, candidate_hvg, candidate_feat, order=None):
    matrix, names = counts
    barcodes = make_barcodes(matrix.shape[0])
    reference = _reference_stages(barcodes, matrix, names)
    if order is None:
        order = np.arange(matrix.shape[0])
    candidate = {
        "load": load_stage(barcodes[order], np.zeros((len(order), 2))),
        "genes": {
            "hvg": np.asarray(candidate_hvg).astype(str),
            "feat": np.asarray(candidate_feat)[order],
        },
    }
    return build_context(tmp_path / "runs", reference=reference, candidate=candidate)


def _candidate_context(tmp_path, counts, settings, *, order=None):
    matrix, names = counts
    hvg, feat = candidate_preprocess(matrix, names, settings)
    return _context(tmp_path, counts, candidate_hvg=hvg, candidate_feat=feat, order=order)


def _run(context, mode="chained"):
    results = {}
    for diagnosis in genes.DIAGNOSES:
        (result,) = diagnosis(context, mode)
        results[result.check_id] = result
    return results


def test_identical_genes_pass(tmp_path, counts):
    results = _run(_candidate_context(tmp_path, counts, STAIG_ORDER))

    assert results["genes.hvg"].status == "pass", results["genes.hvg"].report()
    assert results["genes.matrix"].status == "pass", results["genes.matrix"].report()
    assert results["genes.matrix"].details["n_common_genes"] == N_HVG


def test_subset_first_named(tmp_path, counts):
    results = _run(_candidate_context(tmp_path, counts, SUBSET_FIRST))
    matrix = results["genes.matrix"]

    assert results["genes.hvg"].status == "pass"
    assert matrix.status == "fail"
    assert matrix.diagnosis.startswith(
        SUBSET_FIRST_TEXT.format(n=N_HVG) + " (reproduced from the reference's"
    )
    hypotheses = {row["hypothesis"]: row for row in matrix.details["hypotheses"]["hypotheses"]}
    assert hypotheses["subset_first"]["reproduces"] is True
    assert hypotheses["reference_order"]["reproduces"] is False
    assert matrix.details["hypotheses"]["control_against_reference"]["reproduces"] is True


def test_hvg_on_lognorm_named(tmp_path, counts):
    results = _run(_candidate_context(tmp_path, counts, HVG_ON_LOGNORM))
    hvg = results["genes.hvg"]

    assert hvg.status == "fail"
    assert hvg.diagnosis.startswith(
        LOGNORM_TEXT + " (reproduced from the reference's counts: HVG Jaccard 1"
    )
    # Normalising all genes keeps the common genes' values: only the selection differs.
    assert results["genes.matrix"].status == "pass"


def test_legacy_on_lognorm_named(tmp_path, counts):
    results = _run(_candidate_context(tmp_path, counts, LEGACY_ON_LOGNORM))

    for check_id in ("genes.hvg", "genes.matrix"):
        assert results[check_id].diagnosis.startswith(
            "the candidate selects HVGs with flavor 'seurat' on the log-normalised matrix and "
            "subsets to "
            f"those {N_HVG} genes before normalize_total/log1p/scale"
        ), check_id


@pytest.mark.parametrize("hypothesis", HYPOTHESES[1:], ids=lambda hypothesis: hypothesis.name)
def test_each_hypothesis_named(tmp_path, counts, hypothesis):
    matrix, names = counts
    ((_, hvg, feat),) = run_hypotheses(matrix, names, n_top_genes=N_HVG, hypotheses=(hypothesis,))
    results = _run(_context(tmp_path, counts, candidate_hvg=hvg, candidate_feat=feat))

    failing = [result for result in results.values() if result.status == "fail"]
    assert failing, "the planted divergence went unnoticed"
    for result in failing:
        assert result.diagnosis.startswith(hypothesis.explanation.format(n=N_HVG)), result.diagnosis


def test_unexplained_genes_name_closest(tmp_path, counts):
    matrix, names = counts
    hvg, feat = candidate_preprocess(matrix, names, STAIG_ORDER)
    noisy = feat + np.random.default_rng(0).normal(0, 0.1, feat.shape).astype(feat.dtype)
    results = _run(_context(tmp_path, counts, candidate_hvg=hvg, candidate_feat=noisy))

    assert results["genes.matrix"].diagnosis.startswith(
        "no hypothesis reproduces the candidate's genes from the reference's counts; closest: "
        "reference_order (HVG Jaccard 1.0000, max abs error"
    )


def test_genes_join_by_barcode(tmp_path, counts):
    order = np.random.default_rng(5).permutation(N_SPOTS)
    results = _run(_candidate_context(tmp_path, counts, SUBSET_FIRST, order=order))

    assert results["genes.matrix"].diagnosis.startswith(SUBSET_FIRST_TEXT.format(n=N_HVG))


def test_other_gene_count_named(tmp_path, counts):
    matrix, names = counts
    hvg, feat = candidate_preprocess(
        matrix, names, GeneConfig(100, "seurat_v3", "raw_counts", "subset_then_normalise")
    )
    results = _run(_context(tmp_path, counts, candidate_hvg=hvg, candidate_feat=feat))

    assert results["genes.hvg"].diagnosis.startswith(
        f"the candidate selects 100 genes, the reference {N_HVG}; "
        + SUBSET_FIRST_TEXT.format(n=100)
    )


def test_hypotheses_run_once_per_content(tmp_path, counts):
    gene_hypotheses._evaluate_cached.cache_clear()
    context = _candidate_context(tmp_path, counts, LEGACY_ON_LOGNORM)

    _run(context)
    _run(context)

    info = gene_hypotheses._evaluate_cached.cache_info()
    assert info.misses == 1
    assert info.hits == 3


def test_hypotheses_without_counts(tmp_path, counts):
    matrix, names = counts
    barcodes = make_barcodes(N_SPOTS)
    reference = _reference_stages(barcodes, matrix, names)
    reference["load"] = load_stage(barcodes, np.zeros((N_SPOTS, 2)))
    hvg, feat = candidate_preprocess(matrix, names, SUBSET_FIRST)
    context = build_context(
        tmp_path / "runs",
        reference=reference,
        candidate={"load": reference["load"], "genes": {"hvg": hvg.astype(str), "feat": feat}},
    )

    (result,) = genes.check_matrix(context, "chained")

    assert result.status == "fail"
    assert result.diagnosis == (
        "the reference's load/counts or load/genes is not stored, so no hypothesis was tested"
    )


def test_matrix_without_common_genes_errors(tmp_path, counts):
    matrix, names = counts
    hvg, feat = candidate_preprocess(matrix, names, STAIG_ORDER)
    renamed = np.array([f"OTHER{index}" for index in range(len(hvg))])

    (result,) = genes.check_matrix(
        _context(tmp_path, counts, candidate_hvg=renamed, candidate_feat=feat), "chained"
    )

    assert result.status == "error"
    assert "no common gene" in result.description


def test_reference_order_matches_reference_stage(counts):
    matrix, names = counts
    hvg, feat, _ = reference_preprocess(matrix, names, num_gene=N_HVG)

    ((_, mine_hvg, mine_feat),) = run_hypotheses(
        matrix, names, n_top_genes=N_HVG, hypotheses=(REFERENCE_ORDER,)
    )

    np.testing.assert_array_equal(mine_hvg, hvg)
    np.testing.assert_allclose(mine_feat, feat, rtol=1e-6, atol=1e-7)


def test_hypotheses_reject_bad_gene_count(counts):
    matrix, names = counts

    with pytest.raises(InputError, match="n_top_genes is 501"):
        next(run_hypotheses(matrix, names, n_top_genes=N_GENES + 1))
    with pytest.raises(InputError, match="genes has shape"):
        next(run_hypotheses(matrix, names[:-1], n_top_genes=10))


# -- real DLPFC 151673: 400 spots x 5000 genes ----------------------------------------


@pytest.fixture(scope="module")
def dlpfc_subsample():
    return dlpfc_counts(require_dataset("dlpfc/151673"), n_obs=400, seed=0)


def _dlpfc_context(tmp_path, subsample, settings):
    barcodes, matrix, names = subsample
    reference = _reference_stages(barcodes, matrix, names, num_gene=3000)
    hvg, feat = candidate_preprocess(matrix, names, settings)
    candidate = {"load": reference["load"], "genes": {"hvg": hvg.astype(str), "feat": feat}}
    return build_context(tmp_path / "runs", reference=reference, candidate=candidate)


def test_dlpfc_subset_first_named(tmp_path, dlpfc_subsample):
    settings = GeneConfig(3000, "seurat_v3", "raw_counts", "subset_then_normalise")
    results = _run(_dlpfc_context(tmp_path, dlpfc_subsample, settings))

    assert results["genes.hvg"].status == "pass"
    assert results["genes.matrix"].diagnosis.startswith(SUBSET_FIRST_TEXT.format(n=3000))


def test_dlpfc_hvg_on_lognorm_named(tmp_path, dlpfc_subsample):
    settings = GeneConfig(3000, "seurat", "log_normalised", "flag_then_normalise_all")
    results = _run(_dlpfc_context(tmp_path, dlpfc_subsample, settings))

    assert results["genes.hvg"].status == "fail"
    assert results["genes.hvg"].diagnosis.startswith(LOGNORM_TEXT)
    assert results["genes.hvg"].observed < 0.7


def test_dlpfc_identical_genes_pass(tmp_path, dlpfc_subsample):
    settings = GeneConfig(3000, "seurat_v3", "raw_counts", "flag_then_normalise_all")
    results = _run(_dlpfc_context(tmp_path, dlpfc_subsample, settings))

    assert results["genes.hvg"].status == "pass"
    assert results["genes.matrix"].status == "pass"
