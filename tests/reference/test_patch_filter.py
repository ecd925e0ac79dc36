"""Patch filter stage: exact agreement with literal per-patch implementations of STAIG's filter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from harness.config import RunConfig
from harness.errors import InputError
from reference.image.fft_filter import filter_patches, to_grayscale
from reference.stages import patch_filter as patch_filter_stage
from tests.reference._image_fakes import FakeContext, quick_params, shared_folder, textured_image


def staig_io_filter(rgb: np.ndarray) -> np.ndarray:
    """STAIG's filter through its own file round trips: PNG in, grey read, float32 PNG out."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    grey = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    grey = cv2.GaussianBlur(grey, (5, 5), 0)
    spectrum = np.fft.fftshift(np.fft.fft2(grey))
    mask = np.zeros(grey.shape, np.uint8)
    mask[245:275, 245:275] = 1
    filtered = np.abs(np.fft.ifft2(np.fft.ifftshift(spectrum * mask)))
    filtered = cv2.GaussianBlur(filtered, (15, 15), 0)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.float32(filtered), cv2.COLOR_GRAY2RGB))
    assert ok
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)


def spec_text_filter(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The filter as the steps are written, with cvtColor grey; also returns the float image."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    grey = cv2.GaussianBlur(grey, (5, 5), 0)
    shifted = np.fft.fftshift(np.fft.fft2(grey))
    low_pass = np.zeros_like(shifted)
    for i in range(245, 275):
        for j in range(245, 275):
            low_pass[i, j] = shifted[i, j]
    filtered = np.abs(np.fft.ifft2(np.fft.ifftshift(low_pass)))
    filtered = cv2.GaussianBlur(filtered, (15, 15), 0)
    as_float32 = filtered.astype(np.float32)
    out = np.clip(np.rint(as_float32), 0, 255).astype(np.uint8)
    return np.repeat(out[:, :, None], 3, axis=2), as_float32


def sample_patches() -> np.ndarray:
    """Noise, tissue-like texture, a sharp black/white edge (overshoots 255), and plain white."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    texture = np.asarray(Image.fromarray(textured_image(40, 40, seed=1)).resize((512, 512), Image.Resampling.BILINEAR))
    edge = np.zeros((512, 512, 3), np.uint8)
    edge[:, 256:] = 255
    white = np.full((512, 512, 3), 255, np.uint8)
    return np.stack([noise, texture, edge, white])


def test_filter_matches_staig_file_round_trip():
    patches = sample_patches()
    filtered = filter_patches(patches)
    for index, patch in enumerate(patches):
        np.testing.assert_array_equal(filtered[index], staig_io_filter(patch), err_msg=f"patch {index}")


def test_cvtcolor_filter_matches_spec_text():
    patches = sample_patches()
    filtered = filter_patches(patches, grayscale="cvtcolor")
    overshoot = False
    for index, patch in enumerate(patches):
        expected, as_float = spec_text_filter(patch)
        np.testing.assert_array_equal(filtered[index], expected, err_msg=f"patch {index}")
        overshoot |= bool(as_float.max() > 255.5)
    assert overshoot, "no sample exercised saturation at 255"


def test_grayscale_methods_differ_by_rounding():
    rgb = np.random.default_rng(2).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    libpng = to_grayscale(rgb, method="libpng").astype(int)
    cvt = to_grayscale(rgb, method="cvtcolor").astype(int)
    difference = cvt - libpng
    assert set(np.unique(difference)) <= {0, 1}
    assert 0.3 < (difference == 1).mean() < 0.7
    grey = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)[None]
    assert (to_grayscale(grey, method="libpng")[0, 0] == np.arange(256)).all()


def test_filtered_channels_are_equal():
    filtered = filter_patches(sample_patches()[:2])
    assert filtered.dtype == np.uint8
    assert filtered.shape == (2, 512, 512, 3)
    assert (filtered[..., 0] == filtered[..., 1]).all()
    assert (filtered[..., 1] == filtered[..., 2]).all()


def test_white_patch_stays_white():
    white = np.full((1, 512, 512, 3), 255, np.uint8)
    assert (filter_patches(white) == 255).all()


def test_filter_reads_memory_map(tmp_path):
    patches = sample_patches()
    np.save(tmp_path / "patches.npy", patches)
    mapped = np.load(tmp_path / "patches.npy", mmap_mode="r")
    np.testing.assert_array_equal(filter_patches(mapped), filter_patches(patches))


def test_stage_returns_filtered_and_config():
    patches = sample_patches()[:2]
    result = patch_filter_stage.run({"patches/patches": patches}, FakeContext(config=RunConfig()), quick_params())
    np.testing.assert_array_equal(result["filtered"], filter_patches(patches))
    assert result["config"]["band"] == {"start": 245, "stop": 275, "frame": "fftshift-ed spectrum"}
    assert result["config"]["grayscale"].startswith("libpng")


def test_stage_other_patch_size_raises():
    patches = np.zeros((2, 256, 256, 3), np.uint8)
    with pytest.raises(InputError, match="patch_size is 256 px"):
        patch_filter_stage.run({"patches/patches": patches}, FakeContext(config=RunConfig()), quick_params(patch_size=256))


@pytest.mark.parametrize(
    "patches",
    [np.zeros((2, 256, 256, 3), np.uint8), np.zeros((2, 512, 512, 3), np.float32), np.zeros((512, 512, 3), np.uint8)],
    ids=["256px", "float32", "no-batch-axis"],
)
def test_invalid_patches_raise(patches):
    with pytest.raises(InputError, match="Invalid patches"):
        filter_patches(patches)


def test_dlpfc_patch_matches_staig_round_trip():
    folder = shared_folder("dlpfc/151673", marker="spatial/tissue_lowres_image.png")
    image = np.asarray(Image.open(folder / "spatial" / "tissue_lowres_image.png").convert("RGB"))
    window = image[300:323, 280:303]  # a 23 px window inside the tissue
    patch = np.asarray(Image.fromarray(window).resize((512, 512), Image.Resampling.BILINEAR))
    filtered = filter_patches(patch[None])
    np.testing.assert_array_equal(filtered[0], staig_io_filter(patch))
    assert 0 < filtered.mean() < 255
