"""STAIG's low-pass patch filter (strict) and its absence (legacy)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from candidate.pipeline import StaigFusion
from candidate.stages.patch_filter import lowpass_filter
from harness.errors import InputError


def staig_filter_one(patch: np.ndarray) -> np.ndarray:
    """The filter written out step by step with numpy's FFT, as STAIG's notebook does it."""
    grey = cv2.GaussianBlur(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    shifted = np.fft.fftshift(np.fft.fft2(grey))
    mask = np.zeros((512, 512), dtype=np.uint8)
    mask[245:275, 245:275] = 1
    magnitude = np.abs(np.fft.ifft2(np.fft.ifftshift(shifted * mask)))
    blurred = np.float32(cv2.GaussianBlur(magnitude, (15, 15), 0))
    # cv2.imencode saturates float images to uint8, as cv2.imwrite does.
    _, encoded = cv2.imencode(".png", cv2.cvtColor(blurred, cv2.COLOR_GRAY2BGR))
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def tissue_like_patches() -> np.ndarray:
    rng = np.random.default_rng(7)
    coarse = rng.integers(0, 256, size=(6, 40, 40, 3), dtype=np.uint8)
    return np.stack(
        [cv2.resize(tile, (512, 512), interpolation=cv2.INTER_LINEAR) for tile in coarse]
    )


def test_lowpass_matches_staig_steps(tissue_like_patches: np.ndarray) -> None:
    expected = np.stack([staig_filter_one(patch) for patch in tissue_like_patches])

    filtered = lowpass_filter(tissue_like_patches)

    assert filtered.dtype == np.uint8
    np.testing.assert_array_equal(filtered, expected)


def test_lowpass_output_is_grey(tissue_like_patches: np.ndarray) -> None:
    filtered = lowpass_filter(tissue_like_patches)

    np.testing.assert_array_equal(filtered[..., 0], filtered[..., 1])
    np.testing.assert_array_equal(filtered[..., 0], filtered[..., 2])


def test_lowpass_removes_fine_detail() -> None:
    stripes = np.zeros((1, 512, 512, 3), dtype=np.uint8)
    stripes[:, :, ::2, :] = 255

    filtered = lowpass_filter(stripes)

    # The 2-px stripes lie at the highest frequency and vanish; the mean survives.
    assert filtered.std() < 2.0
    assert abs(float(filtered.mean()) - 127.5) < 2.0


@pytest.mark.parametrize(
    "patches",
    [
        np.zeros((2, 224, 224, 3), dtype=np.uint8),
        np.zeros((2, 512, 512, 3), dtype=np.float32),
        np.zeros((512, 512, 3), dtype=np.uint8),
    ],
    ids=["side-224", "float32", "3-d"],
)
def test_lowpass_rejects_wrong_patches(patches: np.ndarray) -> None:
    with pytest.raises(InputError, match="512"):
        lowpass_filter(patches)


def test_legacy_filter_returns_patches_unchanged(make_context) -> None:
    context = make_context(slice_config="151673")
    patches = np.random.default_rng(1).integers(0, 256, size=(3, 224, 224, 3), dtype=np.uint8)

    outputs = StaigFusion(profile="legacy").stage_patch_filter(
        {"patches/patches": patches}, context
    )

    np.testing.assert_array_equal(outputs["filtered"], patches)
    assert outputs["config"]["filter"] == "none"


def test_strict_filter_records_fft_lowpass(make_context, tissue_like_patches: np.ndarray) -> None:
    context = make_context(slice_config="151673")

    outputs = StaigFusion(profile="strict").stage_patch_filter(
        {"patches/patches": tissue_like_patches[:2]}, context
    )

    assert outputs["config"]["filter"] == "fft_lowpass"
    assert outputs["config"]["mask_rows_cols"] == [245, 275]
