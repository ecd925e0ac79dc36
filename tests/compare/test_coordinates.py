"""Point-set comparison: per-spot errors and the scale-and-translation fit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.compare.coordinates import compare_coordinates, fit_scale_translation
from harness.compare.result import MAX_EVIDENCE_ROWS, Threshold
from harness.errors import InputError
from tests.compare._real import in_tissue_positions

seeds = st.integers(0, 2**32 - 1)


def _points(seed: int, n_obs: int = 200) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 13_000, size=(n_obs, 2))


@settings(max_examples=60, deadline=None)
@given(
    seed=seeds,
    scale=st.floats(0.01, 10.0),
    tx=st.floats(-5_000, 5_000),
    ty=st.floats(-5_000, 5_000),
)
@example(seed=0, scale=0.15, tx=0.0, ty=0.0)
@example(seed=1, scale=3.33, tx=-120.5, ty=48.25)
def test_fit_recovers_scale_and_translation(seed, scale, tx, ty):
    reference = _points(seed)
    candidate = scale * reference + np.array([tx, ty])

    fit = fit_scale_translation(reference, candidate)

    assert fit.scale == pytest.approx(scale, rel=1e-9)
    assert fit.translation == pytest.approx((tx, ty), abs=1e-6)
    assert fit.scale_x == pytest.approx(scale, rel=1e-9)
    assert fit.scale_y == pytest.approx(scale, rel=1e-9)
    assert fit.residual_rms_px == pytest.approx(0.0, abs=1e-6)
    assert not fit.swap_reduces_residual


def test_fit_reports_per_axis_scales():
    reference = _points(2)
    candidate = reference * np.array([0.15, 0.045]) + np.array([10.0, -3.0])

    fit = fit_scale_translation(reference, candidate)

    assert fit.scale_x == pytest.approx(0.15)
    assert fit.scale_y == pytest.approx(0.045)
    assert fit.translation_axes == pytest.approx((10.0, -3.0))
    assert fit.residual_rms_axes_px == pytest.approx(0.0, abs=1e-9)
    assert fit.residual_rms_px > 1.0


@settings(max_examples=30, deadline=None)
@given(seed=seeds, scale=st.floats(0.05, 5.0))
def test_fit_detects_swapped_axes(seed, scale):
    reference = _points(seed)
    candidate = scale * reference[:, ::-1] + 7.0

    fit = fit_scale_translation(reference, candidate)

    assert fit.swap_reduces_residual
    assert fit.swapped_scale == pytest.approx(scale, rel=1e-9)
    assert fit.swapped_residual_rms_px == pytest.approx(0.0, abs=1e-6)


def test_real_slice_fit_recovers_hires_scale(dlpfc_151673):
    _, xy = in_tissue_positions(dlpfc_151673)

    fit = fit_scale_translation(xy, xy * 0.150015)
    result = compare_coordinates(xy, xy * 0.150015)

    assert fit.scale == pytest.approx(0.150015, rel=1e-12)
    assert result.status == "fail"
    assert result.details["fit"]["scale"] == pytest.approx(0.150015)
    assert "0.150015 * reference" in result.description


def test_fit_scale_undefined_for_coincident_reference():
    reference = np.ones((5, 2))

    fit = fit_scale_translation(reference, _points(3, n_obs=5))

    assert np.isnan(fit.scale)
    assert not fit.swap_reduces_residual


@pytest.mark.parametrize(
    ("reference", "candidate", "match"),
    [
        (np.zeros((5, 3)), np.zeros((5, 3)), "numeric \\(n_obs, 2\\)"),
        (np.zeros((1, 2)), np.zeros((1, 2)), "at least 2"),
        (np.zeros((5, 2)), np.zeros((4, 2)), "shapes"),
        (np.array([[np.inf, 0.0], [1.0, 1.0]]), np.zeros((2, 2)), "non-finite"),
    ],
    ids=["three-columns", "single-point", "row-mismatch", "infinite"],
)
def test_fit_invalid_inputs_raise(reference, candidate, match):
    with pytest.raises(InputError, match=match):
        fit_scale_translation(reference, candidate)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, n_obs=st.integers(1, 50))
def test_points_pass_against_themselves(seed, n_obs):
    points = _points(seed, n_obs)

    result = compare_coordinates(points, points.copy())

    assert result.status == "pass"
    assert result.observed == 0.0


def test_errors_reported_worst_first_by_barcode():
    reference = _points(4, n_obs=6)
    candidate = reference.copy()
    candidate[1] += [3.0, 4.0]
    candidate[4] += [0.0, 0.5]
    barcodes = np.array([f"BC{index}-1" for index in range(6)])

    result = compare_coordinates(reference, candidate, keys=barcodes,
                                 threshold=Threshold(0.1, "max", unit="px", source="user"))

    assert result.status == "fail"
    assert result.observed == pytest.approx(5.0)
    assert [row["key"] for row in result.evidence] == ["BC1-1", "BC4-1"]
    assert result.evidence[0]["error_px"] == pytest.approx(5.0)
    assert result.details["median_error_px"] == 0.0
    assert "5 px > 0.1 px" in result.description


def test_evidence_capped_for_many_moved_spots():
    reference = _points(5, n_obs=500)

    result = compare_coordinates(reference, reference + 1.0)

    assert len(result.evidence) == MAX_EVIDENCE_ROWS
    assert result.n_offending == 500


def test_nan_coordinates_fail_whatever_threshold():
    reference = _points(6, n_obs=4)
    candidate = reference.copy()
    candidate[2, 0] = np.nan

    result = compare_coordinates(reference, candidate,
                                 threshold=Threshold(np.inf, "max", unit="px", source="user"))

    assert result.status == "fail"
    assert result.evidence[0]["key"] == 2


@pytest.mark.parametrize(
    ("reference_shape", "candidate_shape"),
    [((5, 2), (6, 2)), ((5, 2), (5, 3)), ((0, 2), (0, 2))],
    ids=["row-mismatch", "three-columns", "empty"],
)
def test_bad_shapes_are_error_status(reference_shape, candidate_shape):
    result = compare_coordinates(np.zeros(reference_shape), np.zeros(candidate_shape))

    assert result.status == "error"
    assert str(candidate_shape) in result.description
