"""Patch centres, windows and padding of both staig_fusion profiles."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candidate.pipeline import StaigFusion
from candidate.stages.patches import cut_windows, level_side, window_boxes
from harness.config import RunConfig
from harness.errors import MissingImageLevelError
from harness.implementation import StageContext

WINDOW_FULLRES_PX = 504


def run_patches(profile: str, context, *, n_spots: int | None = None) -> tuple[dict, dict]:
    """Run load and patches; ``n_spots`` keeps the first spots only, to save memory."""
    pipeline = StaigFusion(profile=profile)
    loaded = pipeline.stage_load({}, context)
    if n_spots is not None:
        loaded["barcodes"] = loaded["barcodes"][:n_spots]
        loaded["spatial"] = loaded["spatial"][:n_spots]
    inputs = {f"load/{name}": value for name, value in loaded.items()}
    return loaded, pipeline.stage_patches(inputs, context)


@pytest.fixture(scope="module")
def synthetic_patches(synthetic_slice: Path) -> dict[str, tuple[dict, dict, StageContext]]:
    """Load and patches outputs of both profiles on the synthetic slice, computed once."""
    results = {}
    for profile in ("legacy", "strict"):
        context = StageContext(
            config=RunConfig(device="cpu"), device="cpu", side="candidate", data_dir=synthetic_slice
        )
        results[profile] = (*run_patches(profile, context), context)
    return results


def expected_reference_centres(spatial: np.ndarray, scale: float) -> np.ndarray:
    return spatial * scale


def test_legacy_centres_fullres_scaled_by_hires(synthetic_slice: Path, synthetic_patches) -> None:
    loaded, outputs, context = synthetic_patches["legacy"]
    hires = json.loads((synthetic_slice / "spatial" / "scalefactors_json.json").read_text())[
        "tissue_hires_scalef"
    ]
    spatial = context.visium_slice().adata[loaded["barcodes"]].obsm["spatial"]
    reference = expected_reference_centres(spatial, 1.0)

    assert outputs["image_level"]["name"] == "fullres"
    np.testing.assert_allclose(outputs["centers"], reference * hires, rtol=1e-12)
    np.testing.assert_allclose(outputs["centers"] / reference, 0.15, rtol=1e-9)
    assert outputs["patches"].shape == (len(spatial), 224, 224, 3)
    assert outputs["config"]["filter"] == "none"


def test_strict_centres_follow_window_rule(synthetic_patches) -> None:
    loaded, outputs, _ = synthetic_patches["strict"]
    spatial = loaded["spatial"]

    np.testing.assert_array_equal(outputs["centers"], spatial)
    expected_left_top = np.floor(spatial - WINDOW_FULLRES_PX / 2).astype(np.int64)
    np.testing.assert_array_equal(outputs["boxes"][:, :2], expected_left_top)
    np.testing.assert_array_equal(outputs["boxes"][:, 2:], expected_left_top + WINDOW_FULLRES_PX)
    assert outputs["patches"].shape == (len(spatial), 512, 512, 3)
    assert outputs["image_level"]["window_side_px"] == WINDOW_FULLRES_PX


def test_legacy_windows_crowd_top_left(synthetic_patches) -> None:
    _, legacy, _ = synthetic_patches["legacy"]
    _, strict, _ = synthetic_patches["strict"]

    # Legacy windows crowd into the top-left 15 % of the image.
    legacy_spread = np.ptp(legacy["centers"], axis=0)
    strict_spread = np.ptp(strict["centers"], axis=0)
    np.testing.assert_allclose(legacy_spread / strict_spread, 0.15, rtol=1e-9)


def test_dlpfc_legacy_centres_hires_over_lowres(dlpfc_151673: Path, make_context) -> None:
    context = make_context(dlpfc_151673)
    loaded, outputs = run_patches("legacy", context, n_spots=600)
    scalefactors = loaded["scalefactors"]
    lowres_frame = loaded["spatial"] * scalefactors["tissue_lowres_scalef"]
    expected_ratio = scalefactors["tissue_hires_scalef"] / scalefactors["tissue_lowres_scalef"]

    assert outputs["image_level"]["name"] == "lowres"
    np.testing.assert_allclose(outputs["centers"] / lowres_frame, expected_ratio, rtol=1e-9)
    assert expected_ratio == pytest.approx(3.333, abs=1e-3)
    # Most legacy windows land outside the 600 x 600 lowres image and are padded.
    assert outputs["image_level"]["padded_windows"] > len(lowres_frame) // 2


def test_dlpfc_strict_uses_lowres_frame(dlpfc_151673: Path, make_context) -> None:
    context = make_context(dlpfc_151673)
    loaded, outputs = run_patches("strict", context, n_spots=100)
    scale = loaded["scalefactors"]["tissue_lowres_scalef"]
    side = max(1, round(WINDOW_FULLRES_PX * scale))

    np.testing.assert_allclose(outputs["centers"], loaded["spatial"] * scale, rtol=1e-12)
    assert outputs["image_level"]["padded_windows"] == 0
    assert outputs["image_level"]["window_side_px"] == side == 23
    assert outputs["image_level"]["upsampled"] is True


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(min_value=-1e4, max_value=1e5, allow_nan=False),
    y=st.floats(min_value=-1e4, max_value=1e5, allow_nan=False),
    side=st.integers(min_value=1, max_value=600),
)
def test_window_box_contains_centre(x: float, y: float, side: int) -> None:
    box = window_boxes(np.array([[x, y]]), side=side)[0]

    assert box[2] - box[0] == side
    assert box[3] - box[1] == side
    assert box[0] <= x - side / 2 < box[0] + 1
    assert box[1] <= y - side / 2 < box[1] + 1


@pytest.mark.parametrize(
    ("scale", "expected"),
    [(1.0, 504), (0.150015, 76), (0.0450045, 23), (0.0001, 1)],
    ids=["fullres", "hires", "lowres", "tiny"],
)
def test_level_side_rounds_scaled_window(scale: float, expected: int) -> None:
    assert level_side(WINDOW_FULLRES_PX, scale) == expected


class _ArraySlice:
    """The two methods of VisiumSlice that cut_windows uses, over an in-memory image."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def image_level(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(shape=self.image.shape[:2])

    def read_region(
        self, level: str, *, left: int, top: int, right: int, bottom: int
    ) -> np.ndarray:
        return self.image[top:bottom, left:right]


def test_cut_windows_pads_outside_white() -> None:
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    boxes = np.array([[-5, -5, 5, 5], [10, 5, 20, 15], [100, 100, 110, 110]], dtype=np.int64)

    patches, n_padded = cut_windows(_ArraySlice(image), "lowres", boxes, output_px=10)

    assert n_padded == 2
    assert (patches[0, :5, :, :] == 255).all()
    assert (patches[0, 5:, 5:, :] == 0).all()
    assert (patches[1] == 0).all()
    assert (patches[2] == 255).all()


def test_cut_windows_keeps_pixel_positions() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    boxes = np.array([[3, 7, 13, 17], [40, 30, 50, 40]], dtype=np.int64)

    patches, n_padded = cut_windows(_ArraySlice(image), "hires", boxes, output_px=10)

    assert n_padded == 0
    np.testing.assert_array_equal(patches[0], image[7:17, 3:13])
    np.testing.assert_array_equal(patches[1], image[30:40, 40:50])


def test_patches_without_image_raise(synthetic_slice: Path, make_context, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "no_images"
    shutil.copytree(synthetic_slice, folder)
    for name in ("tissue_full_image.tif", "tissue_hires_image.png", "tissue_lowres_image.png"):
        (folder / "spatial" / name).unlink()
    context = make_context(folder)

    with pytest.raises(MissingImageLevelError, match="no histology image"):
        run_patches("strict", context)
