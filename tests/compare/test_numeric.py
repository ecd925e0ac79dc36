"""Element-wise array comparison: tolerances, NaN/inf policy, dtypes, shapes, evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness.compare.numeric import compare_arrays
from harness.compare.result import MAX_EVIDENCE_ROWS, Threshold
from harness.errors import InputError

nan, inf = math.nan, math.inf


@pytest.mark.parametrize(
    ("reference", "candidate", "options", "status", "n_differing"),
    [
        ([1.0, 2.0], [1.0, 2.0], {}, "pass", 0),
        ([1000.0], [1000.01], {}, "pass", 0),
        ([1000.0], [1000.0101], {}, "fail", 1),
        ([0.0], [1e-8], {}, "pass", 0),
        ([0.0], [2e-8], {}, "fail", 1),
        ([1.0, 2.0], [1.1, 2.0], {"atol": 0.2}, "pass", 0),
        ([1.0, 2.0], [1.04, 2.2], {"rtol": 0.05, "atol": 0.0}, "fail", 1),
        ([nan, 1.0], [nan, 1.0], {}, "fail", 1),
        ([nan, 1.0], [nan, 1.0], {"equal_nan": True}, "pass", 0),
        ([nan, 1.0], [1.0, 1.0], {"equal_nan": True}, "fail", 1),
        ([inf, -inf], [inf, -inf], {}, "fail", 2),
        ([inf, -inf], [inf, -inf], {"equal_inf": True}, "pass", 0),
        ([inf], [-inf], {"equal_inf": True}, "fail", 1),
        ([inf], [1e308], {"equal_inf": True}, "fail", 1),
    ],
    ids=[
        "identical", "within-rtol", "beyond-rtol", "within-atol-at-zero", "beyond-atol-at-zero",
        "loose-atol", "tight-rtol", "nan-both-default", "nan-both-opt-in",
        "nan-one-side-opt-in", "inf-matching-default", "inf-matching-opt-in",
        "inf-opposite-signs", "inf-against-finite",
    ],
)
def test_element_policy_table(reference, candidate, options, status, n_differing):
    result = compare_arrays(np.array(reference), np.array(candidate), **options)

    assert result.status == status
    assert result.details["n_differing"] == n_differing


def test_nan_fails_despite_permissive_threshold():
    reference = np.zeros(1000)
    candidate = reference.copy()
    candidate[10] = np.nan

    result = compare_arrays(reference, candidate, threshold=Threshold(0.5, "max", source="user"))

    assert result.status == "fail"
    assert "NaN at 0 reference and 1 candidate elements" in result.description
    assert result.rejudge(Threshold(1.0, "max")).status == "fail"


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6)),
)
def test_nan_always_fails_by_default(values):
    values = values.copy()
    values.flat[0] = np.nan

    assert compare_arrays(values, values.copy()).status == "fail"


@settings(max_examples=80, deadline=None)
@given(
    values=hnp.arrays(
        st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.int64]),
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    ),
)
def test_array_passes_against_itself(values):
    """With NaN and infinity opted in, any array equals itself; by default only finite ones."""
    opted_in = compare_arrays(values, values.copy(), equal_nan=True, equal_inf=True)
    default = compare_arrays(values, values.copy())

    assert opted_in.status == "pass"
    finite = bool(np.isfinite(values.astype(np.float64)).all())
    assert (default.status == "pass") == finite


def test_unsigned_integers_do_not_wrap():
    reference = np.array([[0, 255]], dtype=np.uint8)
    candidate = np.array([[255, 0]], dtype=np.uint8)

    result = compare_arrays(reference, candidate)

    assert result.details["max_abs_error"] == 255.0
    assert result.details["dtype_reference"] == "uint8"


def test_mixed_dtypes_recorded_and_compared():
    result = compare_arrays(np.arange(4, dtype=np.int64), np.arange(4, dtype=np.float32))

    assert result.status == "pass"
    assert result.details["dtype_reference"] == "int64"
    assert result.details["dtype_candidate"] == "float32"


@pytest.mark.parametrize(
    ("reference_shape", "candidate_shape"),
    [((5, 3), (5, 4)), ((5, 3), (3, 5)), ((6,), (6, 1)), ((), (1,))],
    ids=["wider", "transposed", "extra-axis", "scalar-vs-vector"],
)
def test_shape_mismatch_is_error_not_exception(reference_shape, candidate_shape):
    result = compare_arrays(np.zeros(reference_shape), np.zeros(candidate_shape))

    assert result.status == "error"
    assert str(reference_shape) in result.description
    assert str(candidate_shape) in result.description
    assert result.details["shape_candidate"] == list(candidate_shape)


def test_empty_arrays_are_error():
    result = compare_arrays(np.zeros((0, 16)), np.zeros((0, 16)))

    assert result.status == "error"
    assert "nothing to compare" in result.description


def test_string_array_is_error():
    result = compare_arrays(np.array(["a", "b"]), np.array(["a", "b"]))

    assert result.status == "error"
    assert "not numeric" in result.description


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"rtol": -1e-5}, "rtol"),
        ({"atol": math.nan}, "atol"),
        ({"keys": np.array(["A", "B"])}, "keys"),
    ],
    ids=["negative-rtol", "nan-atol", "keys-wrong-length"],
)
def test_invalid_arguments_raise(options, match):
    with pytest.raises(InputError, match=match):
        compare_arrays(np.zeros((3, 2)), np.zeros((3, 2)), **options)


def test_failure_text_shows_stats_tolerance():
    reference = np.zeros((4, 3))
    candidate = reference.copy()
    candidate[1, 2] = 0.5
    candidate[3, 0] = -2.0
    barcodes = np.array(["AAAC-1", "AAAG-1", "AACA-1", "AACC-1"])

    result = compare_arrays(reference, candidate, keys=barcodes)
    text = result.report()

    assert "2/12 elements (in 2/4 rows)" in result.description
    assert "atol 1e-08 + rtol 1e-05" in result.description
    assert "shape: [4, 3]" in text
    assert result.details["max_abs_error"] == 2.0
    assert result.details["mean_abs_error"] == 1.25
    assert result.details["n_rel_error_undefined"] == 2
    assert "where the reference is 0" in result.details["rel_error_note"]
    assert [row["key"] for row in result.evidence] == ["AACC-1", "AAAG-1"]
    assert result.evidence[0]["column"] == 0
    assert result.evidence[0]["candidate"] == -2.0


def test_tiny_fraction_not_shown_zero():
    reference = np.zeros(5000)
    candidate = reference.copy()
    candidate[0] = 1.0

    result = compare_arrays(reference, candidate)

    assert "fraction_differing 0.0002 > 0" in result.description


def test_relative_statistics_over_differing_elements():
    reference = np.array([1.0, 2.0, 4.0, 10.0])
    candidate = np.array([1.0, 2.2, 4.8, 10.0])

    result = compare_arrays(reference, candidate)

    assert result.details["max_rel_error"] == pytest.approx(0.2)
    assert result.details["mean_rel_error"] == pytest.approx(0.15)
    assert result.details["median_abs_error"] == pytest.approx(0.5)
    assert result.details["atol_to_pass"] == pytest.approx(0.8)
    assert result.details["rtol_to_pass"] == pytest.approx(0.2)


def test_evidence_capped_at_hundred_rows():
    reference = np.zeros((250, 2))
    candidate = reference + np.arange(250)[:, None] + 1.0
    barcodes = np.array([f"SPOT{index:03d}-1" for index in range(250)])

    result = compare_arrays(reference, candidate, keys=barcodes)

    assert len(result.evidence) == MAX_EVIDENCE_ROWS
    assert result.n_offending == 250
    assert result.evidence[0]["key"] == "SPOT249-1"
    assert result.evidence[0]["n_differing"] == 2


def test_fraction_threshold_can_allow_some_differences():
    reference = np.zeros(100)
    candidate = reference.copy()
    candidate[:3] = 1.0

    result = compare_arrays(reference, candidate, threshold=Threshold(0.05, "max", source="user"))

    assert result.status == "pass"
    assert result.observed == pytest.approx(0.03)
    assert result.rejudge(Threshold(0.01, "max")).status == "fail"


def test_sparse_identical_matrices_pass():
    matrix = sp.random(200, 300, density=0.05, random_state=3, format="csr")

    result = compare_arrays(matrix, matrix.copy())

    assert result.status == "pass"
    assert result.details["sparse"] is True
    assert result.details["n_elements"] == 60_000


def test_sparse_difference_located_exactly():
    reference = sp.random(50, 40, density=0.1, random_state=4, format="csr")
    candidate = reference.tolil()
    candidate[7, 13] = 5.0
    genes_or_spots = np.array([f"BC{index}-1" for index in range(50)])

    result = compare_arrays(reference, candidate.tocsr(), keys=genes_or_spots)

    assert result.status == "fail"
    assert result.details["n_differing"] == 1
    assert result.evidence[0]["key"] == "BC7-1"
    assert result.evidence[0]["column"] == 13


def test_sparse_against_dense_side():
    dense = np.array([[0, 2], [3, 0]], dtype=np.int64)

    result = compare_arrays(sp.csr_array(dense), dense)

    assert result.status == "pass"


def test_sparse_nan_fails_by_default():
    reference = sp.csr_array(np.array([[0.0, np.nan], [1.0, 0.0]]))

    assert compare_arrays(reference, reference.copy()).status == "fail"
    assert compare_arrays(reference, reference.copy(), equal_nan=True).status == "pass"


special_floats = st.sampled_from([0.0, 1.0, -2.5, 1e-9, nan, inf, -inf])


@settings(max_examples=60, deadline=None)
@given(
    reference=hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 5)),
                         elements=special_floats),
    noise=st.integers(0, 2**16),
    chunk=st.integers(1, 9),
    equal_nan=st.booleans(),
)
def test_chunked_judgement_equals_whole_array_judgement(reference, noise, chunk, equal_nan):
    import harness.compare.numeric as numeric

    rng = np.random.default_rng(noise)
    candidate = reference.copy()
    flip = rng.random(reference.shape) < 0.4
    candidate[flip] = rng.choice([0.0, 1.0, 3.0, nan, inf], size=int(flip.sum()))
    whole = compare_arrays(reference, candidate, equal_nan=equal_nan)
    saved = numeric.CHUNK_ELEMENTS
    numeric.CHUNK_ELEMENTS = chunk
    try:
        chunked = compare_arrays(reference, candidate, equal_nan=equal_nan)
    finally:
        numeric.CHUNK_ELEMENTS = saved
    assert chunked.status == whole.status
    assert chunked.observed == whole.observed
    assert chunked.n_offending == whole.n_offending
    assert chunked.forced_failure == whole.forced_failure
    assert np.array_equal(
        np.array([list(row.values())[1:] for row in chunked.evidence], dtype=float),
        np.array([list(row.values())[1:] for row in whole.evidence], dtype=float),
        equal_nan=True,
    )
    for key, value in whole.details.items():
        other = chunked.details[key]
        if isinstance(value, float):
            assert other == pytest.approx(value, nan_ok=True, rel=1e-12), key
        else:
            assert other == value, key


def test_rows_of_many_chunks_rank_together():
    import harness.compare.numeric as numeric

    reference = np.zeros((300, 4))
    candidate = reference.copy()
    candidate[:, 1] = np.arange(300) / 100.0
    saved = numeric.CHUNK_ELEMENTS
    numeric.CHUNK_ELEMENTS = 8
    try:
        result = compare_arrays(reference, candidate, keys=np.array([f"s{i}" for i in range(300)]))
    finally:
        numeric.CHUNK_ELEMENTS = saved
    assert result.n_offending == 299
    assert len(result.evidence) == MAX_EVIDENCE_ROWS
    assert result.evidence[0]["key"] == "s299"
    assert [row["key"] for row in result.evidence[:3]] == ["s299", "s298", "s297"]
    assert result.details["max_abs_error"] == pytest.approx(2.99)
    assert result.details["median_abs_error"] == pytest.approx(1.5)
