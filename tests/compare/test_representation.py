"""Linear CKA and kNN overlap: invariances, degenerate inputs, result statuses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.compare.representation import (
    compare_cka,
    compare_knn_overlap,
    knn_overlap,
    linear_cka,
)
from harness.compare.result import Threshold
from harness.errors import InputError

seeds = st.integers(0, 2**32 - 1)


def _random_rotation(rng: np.random.Generator, width: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(width, width)))
    return q * np.sign(np.diag(r))


@settings(max_examples=40, deadline=None)
@given(seed=seeds, n_obs=st.integers(5, 80), width=st.integers(1, 12))
def test_cka_equals_one_for_identical_inputs(seed, n_obs, width):
    x = np.random.default_rng(seed).normal(size=(n_obs, width))

    assert linear_cka(x, x.copy()) == pytest.approx(1.0, abs=1e-12)
    assert compare_cka(x, x.copy()).status == "pass"


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-1e3, 1e3),
)
def test_cka_invariant_to_rotation_and_scaling(seed, scale, shift):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 6))
    rotated = scale * x @ _random_rotation(rng, 6) + shift

    assert linear_cka(x, rotated) == pytest.approx(1.0, abs=1e-9)


def test_cka_below_one_for_unrelated_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    y = rng.normal(size=(500, 8))

    value = linear_cka(x, y)

    assert value < 0.2
    assert compare_cka(x, y).status == "fail"


def test_cka_not_invariant_to_anisotropic_scaling():
    x = np.random.default_rng(1).normal(size=(300, 4))
    stretched = x * np.array([10.0, 1.0, 1.0, 1.0])

    assert linear_cka(x, stretched) < 0.99


def test_cka_accepts_different_widths():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 5))
    padded = np.hstack([x, np.zeros((100, 3))]) @ _random_rotation(rng, 8)

    assert linear_cka(x, padded) == pytest.approx(1.0, abs=1e-10)


def test_cka_avoids_spot_by_spot_matrix():
    # 60000 x 60000 float64 would need 29 GB; the feature-space form needs 4 x 4.
    x = np.random.default_rng(3).normal(size=(60_000, 4))

    assert linear_cka(x, 2 * x) == pytest.approx(1.0)


def test_cka_undefined_for_constant_side():
    x = np.random.default_rng(4).normal(size=(20, 3))
    constant = np.full((20, 3), 0.1)

    result = compare_cka(x, constant)

    assert np.isnan(linear_cka(x, constant))
    assert result.status == "fail"
    assert "zero variance" in result.description


@settings(max_examples=25, deadline=None)
@given(seed=seeds, width=st.integers(2, 6))
def test_knn_overlap_invariant_to_rotation(seed, width):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, width))
    moved = 3.7 * x @ _random_rotation(rng, width) - 12.0

    overlap = knn_overlap(x, moved, k=10)

    np.testing.assert_array_equal(overlap, np.ones(80))
    assert compare_knn_overlap(x, moved, k=10).status == "pass"


def test_knn_overlap_low_for_unrelated_inputs():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 3))
    y = rng.normal(size=(400, 3))

    overlap = knn_overlap(x, y, k=15)

    assert overlap.mean() < 0.2


def test_knn_overlap_counts_shared_neighbours():
    # Moving spot 4 far away changes spot 3's two nearest neighbours from {2, 4} to {2, 1}.
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    y = np.array([[0.0], [1.0], [2.0], [3.0], [40.0]])

    fraction = knn_overlap(x, y, k=2)
    jaccard = knn_overlap(x, y, k=2, overlap="jaccard")

    assert fraction[3] == 0.5
    assert jaccard[3] == pytest.approx(1 / 3)
    assert fraction[0] == 1.0


def test_knn_evidence_lists_lowest_spots():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(100, 2))
    y = x.copy()
    y[:5] = rng.normal(size=(5, 2)) * 10
    barcodes = np.array([f"BC{index:03d}-1" for index in range(100)])

    result = compare_knn_overlap(x, y, k=5, keys=barcodes,
                                 threshold=Threshold(0.99, "min", source="user"))

    assert result.status == "fail"
    assert result.evidence[0]["overlap"] <= result.evidence[-1]["overlap"]
    assert {row["key"] for row in result.evidence} >= {f"BC00{index}-1" for index in range(5)}


@pytest.mark.parametrize(
    ("function", "arguments", "match"),
    [
        (knn_overlap, {"k": 0}, "expected an integer >= 1"),
        (knn_overlap, {"k": 20}, "only 20 spots"),
        (knn_overlap, {"overlap": "dice"}, "overlap"),
    ],
    ids=["k-zero", "k-too-large", "unknown-overlap"],
)
def test_knn_invalid_arguments_raise(function, arguments, match):
    x = np.random.default_rng(7).normal(size=(20, 2))

    with pytest.raises(InputError, match=match):
        function(x, x, **arguments)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((5, 2)), np.zeros((6, 2)), "5 and 6 rows"),
        (np.zeros(5), np.zeros(5), "shape"),
        (np.array([[np.nan, 1.0], [1.0, 2.0]]), np.zeros((2, 2)), "non-finite"),
    ],
    ids=["row-mismatch", "one-dimensional", "nan"],
)
def test_cka_invalid_inputs_raise(x, y, match):
    with pytest.raises(InputError, match=match):
        linear_cka(x, y)


@pytest.mark.parametrize("comparator", [compare_cka, compare_knn_overlap], ids=["cka", "knn"])
def test_row_mismatch_is_error_status(comparator):
    result = comparator(np.zeros((10, 2)), np.zeros((11, 2)))

    assert result.status == "error"
    assert "(10, 2)" in result.description
    assert "(11, 2)" in result.description


@pytest.mark.parametrize("comparator", [compare_cka, compare_knn_overlap], ids=["cka", "knn"])
def test_nan_rows_fail_with_evidence(comparator):
    x = np.random.default_rng(8).normal(size=(30, 3))
    y = x.copy()
    y[4, 1] = np.nan

    result = comparator(x, y, threshold=Threshold(0.0, "min", source="user"))

    assert result.status == "fail"
    assert result.evidence[0]["key"] == 4
    assert result.evidence[0]["nonfinite_candidate"] is True


def test_knn_too_few_spots_errors():
    x = np.random.default_rng(9).normal(size=(10, 2))

    result = compare_knn_overlap(x, x, k=15)

    assert result.status == "error"
    assert "k=15" in result.description
