"""Gene-set comparison: Jaccard, one-sided genes, order, duplicates."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.compare.genes import compare_gene_sets
from harness.compare.result import MAX_EVIDENCE_ROWS
from harness.errors import InputError

gene_lists = st.lists(st.text(alphabet="ABCDEFGH0123456789", min_size=1, max_size=6),
                      min_size=1, max_size=50, unique=True)


@settings(max_examples=80, deadline=None)
@given(genes=gene_lists)
def test_gene_set_passes_against_itself(genes):
    result = compare_gene_sets(np.array(genes), np.array(genes))

    assert result.status == "pass"
    assert result.observed == 1.0
    assert result.details["common_in_same_order"]


@pytest.mark.parametrize(
    ("reference", "candidate", "jaccard", "only_reference", "only_candidate"),
    [
        (["A", "B", "C"], ["A", "B", "C"], 1.0, [], []),
        (["A", "B", "C"], ["A", "B", "D"], 0.5, ["C"], ["D"]),
        (["A", "B"], ["C"], 0.0, ["A", "B"], ["C"]),
        (["A", "B"], [], 0.0, ["A", "B"], []),
    ],
    ids=["identical", "one-swapped", "disjoint", "candidate-empty"],
)
def test_jaccard_and_one_sided_genes(reference, candidate, jaccard, only_reference,
                                     only_candidate):
    result = compare_gene_sets(np.array(reference, dtype=str), np.array(candidate, dtype=str))

    assert result.observed == pytest.approx(jaccard)
    assert [row["key"] for row in result.evidence if row["side"] == "reference only"] == (
        only_reference
    )
    assert [row["key"] for row in result.evidence if row["side"] == "candidate only"] == (
        only_candidate
    )


def test_reordered_genes_pass_but_noted():
    result = compare_gene_sets(np.array(["A", "B", "C"]), np.array(["C", "A", "B"]))

    assert result.status == "pass"
    assert not result.details["common_in_same_order"]
    assert "different order" in result.description


def test_duplicated_gene_is_error_status():
    result = compare_gene_sets(np.array(["A", "B"]), np.array(["A", "A", "B"]))

    assert result.status == "error"
    assert "candidate lists 1 genes more than once ('A')" in result.description


def test_two_empty_sets_are_error_status():
    result = compare_gene_sets(np.array([], dtype=str), np.array([], dtype=str))

    assert result.status == "error"


@pytest.mark.parametrize(
    ("reference", "match"),
    [(np.array([["A"]]), "1-D"), (np.array([1, 2]), "expected strings")],
    ids=["two-dimensional", "integers"],
)
def test_invalid_gene_arrays_raise(reference, match):
    with pytest.raises(InputError, match=match):
        compare_gene_sets(reference, np.array(["A"]))


def test_real_gene_ids_shifted_window(dlpfc_151673):
    with h5py.File(dlpfc_151673 / "filtered_feature_bc_matrix.h5", "r") as handle:
        genes = handle["matrix/features/id"][:].astype(str)
    reference = genes[:3000]
    candidate = genes[200:3200]

    result = compare_gene_sets(reference, candidate)

    assert result.observed == pytest.approx(2800 / 3200)
    assert result.n_offending == 400
    assert len(result.evidence) == MAX_EVIDENCE_ROWS
    assert result.details["n_only_in_reference"] == 200
    assert result.details["common_in_same_order"]
