"""Barcode alignment: permutation, one-sided barcodes, duplicates, edge remapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.compare.align import align_barcodes, check_alignment
from harness.errors import InputError
from tests.compare._real import in_tissue_positions

barcode_sets = st.lists(
    st.text(alphabet="ACGT", min_size=4, max_size=8).map(lambda s: f"{s}-1"),
    min_size=1, max_size=60, unique=True,
)


@settings(max_examples=100, deadline=None)
@given(barcodes=barcode_sets, seed=st.integers(0, 2**32 - 1))
def test_alignment_invariant_to_permutation(barcodes, seed):
    reference = np.array(barcodes)
    order = np.random.default_rng(seed).permutation(reference.size)
    candidate = reference[order]
    values_reference = np.arange(reference.size) * 10.0
    values_candidate = values_reference[order]

    alignment = align_barcodes(reference, candidate)

    np.testing.assert_array_equal(alignment.barcodes, reference)
    np.testing.assert_array_equal(alignment.take(candidate, side="candidate"), reference)
    np.testing.assert_array_equal(
        alignment.take(values_candidate, side="candidate"), values_reference
    )
    assert alignment.n_only_in_reference == alignment.n_only_in_candidate == 0
    assert check_alignment(alignment).status == "pass"


def test_reordered_candidate_is_flagged_not_failed():
    alignment = align_barcodes(np.array(["A-1", "B-1", "C-1"]), np.array(["C-1", "A-1", "B-1"]))

    result = check_alignment(alignment)

    assert alignment.candidate_reordered
    assert not alignment.is_identity
    np.testing.assert_array_equal(alignment.candidate_index, [1, 2, 0])
    assert result.status == "pass"
    assert "reordered" in result.description


def test_identical_order_is_identity():
    barcodes = np.array(["A-1", "B-1", "C-1"])

    alignment = align_barcodes(barcodes, barcodes.copy())

    assert alignment.is_identity
    assert not alignment.candidate_reordered


def test_one_sided_barcodes_reported_and_failed():
    reference = np.array(["A-1", "B-1", "C-1", "D-1"])
    candidate = np.array(["E-1", "C-1", "A-1"])

    alignment = align_barcodes(reference, candidate)
    result = check_alignment(alignment)

    np.testing.assert_array_equal(alignment.barcodes, ["A-1", "C-1"])
    np.testing.assert_array_equal(alignment.reference_index, [0, 2])
    np.testing.assert_array_equal(alignment.candidate_index, [2, 1])
    assert alignment.only_in_reference == ("B-1", "D-1")
    assert alignment.only_in_candidate == ("E-1",)
    assert result.status == "fail"
    assert result.observed == 3
    assert [row["key"] for row in result.evidence] == ["B-1", "D-1", "E-1"]
    assert [row["side"] for row in result.evidence] == [
        "reference only", "reference only", "candidate only"
    ]


def test_examples_capped_but_counts_complete():
    reference = np.array([f"R{index}-1" for index in range(300)] + ["SHARED-1"])
    candidate = np.array(["SHARED-1"])

    alignment = align_barcodes(reference, candidate, max_examples=10)
    result = check_alignment(alignment)

    assert alignment.n_only_in_reference == 300
    assert len(alignment.only_in_reference) == 10
    assert result.n_offending == 300
    assert result.observed == 300


@pytest.mark.parametrize(
    ("reference", "candidate", "match"),
    [
        (["A-1", "B-1", "A-1"], ["A-1"], "reference barcodes contain 1 duplicated"),
        (["A-1"], ["B-1", "B-1"], "candidate barcodes contain 1 duplicated"),
        (["A-1"], ["B-1"], "share no barcode"),
        ([], ["A-1"], "reference barcodes are empty"),
        ([[" A-1"]], ["A-1"], "expected a 1-D array"),
        ([1, 2, 3], ["A-1"], "expected strings"),
        (np.array(["A-1", None], dtype=object), ["A-1"], "inferred type"),
    ],
    ids=[
        "duplicate-reference", "duplicate-candidate", "disjoint", "empty", "two-dimensional",
        "integers", "object-with-none",
    ],
)
def test_invalid_barcodes_raise(reference, candidate, match):
    with pytest.raises(InputError, match=match):
        align_barcodes(np.asarray(reference), np.asarray(candidate))


def test_bytes_barcodes_decoded():
    alignment = align_barcodes(np.array([b"A-1", b"B-1"]), np.array(["B-1", "A-1"]))

    np.testing.assert_array_equal(alignment.barcodes, ["A-1", "B-1"])


def test_take_rejects_wrong_length():
    alignment = align_barcodes(np.array(["A-1", "B-1"]), np.array(["B-1", "A-1"]))

    with pytest.raises(InputError, match="candidate has 2 barcodes"):
        alignment.take(np.zeros(3), side="candidate")


def test_reindex_edges_maps_and_drops():
    reference = np.array(["A-1", "B-1", "C-1"])
    candidate = np.array(["C-1", "X-1", "A-1", "B-1"])
    alignment = align_barcodes(reference, candidate)
    # Candidate rows: C=0, X=1, A=2, B=3; aligned positions: A=0, B=1, C=2.
    edges = np.array([[0, 2, 1, 3], [2, 3, 0, 0]])

    mapped, dropped = alignment.reindex_edges(edges, side="candidate")

    np.testing.assert_array_equal(mapped, [[2, 0, 1], [0, 1, 2]])
    assert dropped == 1


@pytest.mark.parametrize(
    ("edges", "match"),
    [
        (np.zeros((3, 2), dtype=int), "expected an integer array of shape"),
        (np.array([[0.0], [1.0]]), "expected an integer array of shape"),
        (np.array([[0], [5]]), "outside"),
    ],
    ids=["three-rows", "float-edges", "out-of-range"],
)
def test_reindex_edges_rejects_invalid_edges(edges, match):
    alignment = align_barcodes(np.array(["A-1", "B-1"]), np.array(["A-1", "B-1"]))

    with pytest.raises(InputError, match=match):
        alignment.reindex_edges(edges, side="reference")


def test_real_slice_shuffled_and_trimmed(dlpfc_151673):
    barcodes, xy = in_tissue_positions(dlpfc_151673)
    rng = np.random.default_rng(7)
    order = rng.permutation(barcodes.size)[:-3]
    candidate_barcodes = barcodes[order]
    candidate_xy = xy[order]

    alignment = align_barcodes(barcodes, candidate_barcodes)
    result = check_alignment(alignment)

    assert alignment.n_common == barcodes.size - 3
    assert alignment.n_only_in_reference == 3
    assert set(alignment.only_in_reference) == set(np.setdiff1d(barcodes, candidate_barcodes))
    np.testing.assert_array_equal(
        alignment.take(xy, side="reference"), alignment.take(candidate_xy, side="candidate")
    )
    assert result.status == "fail"
    assert "3 only in reference" in result.description
