"""Patches stage: window geometry, white padding, level choice, against a per-pixel oracle."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from harness.config import RunConfig
from harness.data.visium import read_visium_slice
from harness.errors import InputError, MissingImageLevelError
from harness.implementation import StageContext
from reference.image.cutting import cut_patches, extract_windows
from reference.image.windows import WINDOW_SIDE_FULLRES_PX, crosses_border, window_geometry, window_side
from reference.stages import patches as patches_stage
from tests.reference._image_fakes import (
    FakeContext,
    FakeSlice,
    quick_params,
    shared_folder,
    textured_image,
)

# 151673's scale factors (scalefactors_json.json).
HIRES_SCALE = 0.150015
LOWRES_SCALE = 0.0450045


def oracle_patch(
    image: np.ndarray, x: float, y: float, *, scale: float, patch_size: int
) -> tuple[np.ndarray, tuple[int, int, int, int], bool]:
    """Cut one window row by row, straight from the window rule."""
    height, width = image.shape[:2]
    side = max(1, round(504 * scale))
    left = math.floor(x * scale - side / 2)
    top = math.floor(y * scale - side / 2)
    window = np.full((side, side, 3), 255, dtype=np.uint8)
    first_col, last_col = max(left, 0), min(left + side, width)  # image columns inside the window
    padded = first_col != left or last_col != left + side
    for row in range(side):
        source_row = top + row
        if not 0 <= source_row < height:
            padded = True
            continue
        if last_col > first_col:
            window[row, first_col - left:last_col - left] = image[source_row, first_col:last_col]
    resized = Image.fromarray(window).resize((patch_size, patch_size), Image.Resampling.BILINEAR)
    return np.asarray(resized), (left, top, left + side, top + side), padded


def run_stage(fake: FakeSlice, spatial: np.ndarray, *, patch_size: int) -> dict:
    inputs = {
        "load/barcodes": np.array([f"SPOT{i}" for i in range(len(spatial))]),
        "load/spatial": spatial,
        "load/scalefactors": fake.scalefactors_artifact(),
    }
    context = FakeContext(config=RunConfig(), slice=fake)
    return patches_stage.run(inputs, context, quick_params(patch_size=patch_size))


def test_window_side_per_level():
    assert WINDOW_SIDE_FULLRES_PX == 504
    assert window_side(1.0) == 504
    assert window_side(HIRES_SCALE) == 76  # 75.61 px
    assert window_side(LOWRES_SCALE) == 23  # 22.68 px
    assert window_side(1e-6) == 1


def test_fullres_left_matches_staig_truncation():
    xy = np.array([[1000.7, 2000.2], [252.0, 252.0], [5000.0, 300.9]])
    geometry = window_geometry(xy, scale=1.0)
    staig_left = [int(x - 252) for x in xy[:, 0]]
    staig_top = [int(y - 252) for y in xy[:, 1]]
    assert geometry.boxes[:, 0].tolist() == staig_left
    assert geometry.boxes[:, 1].tolist() == staig_top
    assert (geometry.boxes[:, 2] - geometry.boxes[:, 0]).tolist() == [504, 504, 504]


@pytest.mark.parametrize(
    ("level", "scale", "image_shape", "patch_size"),
    [("fullres", 1.0, (1100, 1000), 64), ("hires", HIRES_SCALE, (300, 260), 96), ("lowres", LOWRES_SCALE, (90, 80), 512)],
)
def test_stage_matches_pixel_oracle(level, scale, image_shape, patch_size):
    image = textured_image(*image_shape, seed=3)
    fake = FakeSlice({level: (image, scale)})
    height, width = image_shape
    # Interior spots and spots on every border and corner, in full-resolution px.
    full_w, full_h = width / scale, height / scale
    spatial = np.array([
        [full_w / 2, full_h / 2], [full_w * 0.3 + 0.4, full_h * 0.6 + 0.7],
        [0.0, full_h / 2], [full_w - 0.5, full_h / 2], [full_w / 3, 0.2], [full_w / 2, full_h - 1],
        [0.0, 0.0], [full_w - 1, full_h - 1],
    ])

    result = run_stage(fake, spatial, patch_size=patch_size)

    expected_padded = 0
    for index, (x, y) in enumerate(spatial):
        patch, box, padded = oracle_patch(image, x, y, scale=scale, patch_size=patch_size)
        np.testing.assert_array_equal(result["patches"][index], patch, err_msg=f"spot {index}")
        assert tuple(result["boxes"][index]) == box
        expected_padded += padded
    np.testing.assert_array_equal(result["centers"], spatial * scale)
    assert result["patches"].shape == (len(spatial), patch_size, patch_size, 3)
    assert result["patches"].dtype == np.uint8
    assert result["centers"].dtype == np.float64
    assert result["boxes"].dtype == np.int64
    record = result["image_level"]
    assert record["level"] == level
    assert record["scale"] == scale
    assert record["image_shape"] == [height, width]
    assert record["padded_windows"] == expected_padded == 6
    assert record["window_side_px"] == window_side(scale)
    assert record["window_side_fullres_px"] == 504
    assert ("note" in record) == (level != "fullres")


def test_padding_is_white_outside_image():
    image = np.zeros((50, 50, 3), dtype=np.uint8)
    boxes = np.array([[-5, -3, 15, 17], [40, 45, 60, 65]])
    windows = extract_windows(image, boxes)
    assert windows.shape == (2, 20, 20, 3)
    assert (windows[0, :3] == 255).all()
    assert (windows[0, :, :5] == 255).all()
    assert (windows[0, 3:, 5:] == 0).all()
    assert (windows[1, 5:] == 255).all()
    assert (windows[1, :, 10:] == 255).all()
    assert (windows[1, :5, :10] == 0).all()


def test_stage_prefers_fullres_then_hires():
    image = textured_image(60, 60, seed=1)
    spatial = np.array([[100.0, 120.0]])
    both = FakeSlice({"lowres": (image, 0.2), "hires": (image, 0.4)})
    assert run_stage(both, spatial, patch_size=16)["image_level"]["level"] == "hires"
    all_three = FakeSlice({"lowres": (image, 0.2), "fullres": (image, 1.0), "hires": (image, 0.4)})
    assert run_stage(all_three, spatial, patch_size=16)["image_level"]["level"] == "fullres"


def test_stage_warns_for_downscaled_level(caplog):
    fake = FakeSlice({"lowres": (textured_image(40, 40, seed=2), LOWRES_SCALE)})
    with caplog.at_level(logging.WARNING, logger="reference.stages.patches"):
        result = run_stage(fake, np.array([[400.0, 400.0]]), patch_size=16)
    assert "no full-resolution image" in caplog.text
    assert "upsampled" in result["image_level"]["note"]
    assert "lowres" in result["image_level"]["note"]


def test_stage_without_image_raises():
    inputs = {
        "load/barcodes": np.array(["A"]),
        "load/spatial": np.array([[1.0, 1.0]]),
        "load/scalefactors": {"image_levels": {}},
    }
    context = FakeContext(config=RunConfig(), slice=FakeSlice({}))
    with pytest.raises(MissingImageLevelError, match="needs a histology image"):
        patches_stage.run(inputs, context, quick_params())


def test_stage_level_missing_from_slice_raises():
    fake = FakeSlice({"lowres": (textured_image(40, 40, seed=2), 0.1)})
    inputs = {
        "load/barcodes": np.array(["A"]),
        "load/spatial": np.array([[100.0, 100.0]]),
        "load/scalefactors": {"image_levels": {"hires": {"scale": 0.3, "shape": [40, 40]}}},
    }
    with pytest.raises(MissingImageLevelError, match="hires"):
        patches_stage.run(inputs, FakeContext(config=RunConfig(), slice=fake), quick_params())


def test_stage_scale_mismatch_raises():
    fake = FakeSlice({"lowres": (textured_image(40, 40, seed=2), 0.1)})
    scalefactors = fake.scalefactors_artifact()
    scalefactors["image_levels"]["lowres"]["scale"] = 0.2
    inputs = {
        "load/barcodes": np.array(["A"]),
        "load/spatial": np.array([[100.0, 100.0]]),
        "load/scalefactors": scalefactors,
    }
    with pytest.raises(InputError, match="Rerun the load stage"):
        patches_stage.run(inputs, FakeContext(config=RunConfig(), slice=fake), quick_params())


def test_stage_length_mismatch_raises():
    fake = FakeSlice({"lowres": (textured_image(40, 40, seed=2), 0.1)})
    inputs = {
        "load/barcodes": np.array(["A", "B"]),
        "load/spatial": np.array([[100.0, 100.0]]),
        "load/scalefactors": fake.scalefactors_artifact(),
    }
    with pytest.raises(InputError, match="2 entries but load/spatial has 1"):
        patches_stage.run(inputs, FakeContext(config=RunConfig(), slice=fake), quick_params())


def test_non_finite_coordinates_raise():
    with pytest.raises(InputError, match="NaN or infinite"):
        window_geometry(np.array([[1.0, np.nan]]), scale=1.0)
    with pytest.raises(InputError, match="finite number > 0"):
        window_geometry(np.array([[1.0, 1.0]]), scale=0.0)


def test_bands_read_each_row_range_once():
    image = textured_image(400, 90, seed=5)
    spatial = np.column_stack([np.full(12, 450.0), np.linspace(0, 3990, 12)])  # full-res px
    geometry = window_geometry(spatial, scale=0.1)  # 50 px windows
    fake = FakeSlice({"hires": (image, 0.1)})

    def read(left, top, right, bottom):
        return fake.read_region("hires", left=left, top=top, right=right, bottom=bottom)

    patches = cut_patches(read, geometry.boxes, image_shape=(400, 90), patch_size=24, band_rows=120)
    for index, (x, y) in enumerate(spatial):
        expected, _, _ = oracle_patch(image, x, y, scale=0.1, patch_size=24)
        np.testing.assert_array_equal(patches[index], expected)
    assert len(fake.region_reads) > 1
    assert all(bottom - top <= 120 for _, _, top, _, bottom in fake.region_reads)
    assert all((left, right) == (0, 90) for _, left, _, right, _ in fake.region_reads)


def test_window_wholly_outside_is_white():
    image = textured_image(30, 30, seed=6)

    def read(left, top, right, bottom):
        return image[top:bottom, left:right]

    boxes = np.array([[5, 100, 15, 110], [5, 5, 15, 15]])
    patches = cut_patches(read, boxes, image_shape=(30, 30), patch_size=8)
    assert (patches[0] == 255).all()
    assert not (patches[1] == 255).all()


@settings(max_examples=60, deadline=None)
@given(
    xy=st.lists(
        st.tuples(st.floats(0, 20000, allow_nan=False), st.floats(0, 20000, allow_nan=False)),
        min_size=1, max_size=30,
    ),
    scale=st.floats(0.01, 1.0),
    image_shape=st.tuples(st.integers(1, 20000), st.integers(1, 20000)),
)
def test_geometry_properties(xy, scale, image_shape):
    spatial = np.array(xy, dtype=np.float64)
    geometry = window_geometry(spatial, scale=scale)
    side = geometry.side_px
    left, top, right, bottom = geometry.boxes.T

    assert ((right - left) == side).all()
    assert ((bottom - top) == side).all()
    # floor() puts the spot centre at most one pixel right of / below the box centre.
    offset = geometry.centers - np.column_stack([(left + right) / 2, (top + bottom) / 2])
    assert (offset >= -1e-9).all()
    assert (offset < 1 + 1e-9).all()

    height, width = image_shape
    expected = [l < 0 or t < 0 or r > width or b > height for l, t, r, b in geometry.boxes.tolist()]
    assert crosses_border(geometry.boxes, image_shape=image_shape).tolist() == expected


@settings(max_examples=40, deadline=None)
@given(
    image_shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    corners=st.lists(st.tuples(st.integers(-8, 14), st.integers(-8, 14)), min_size=1, max_size=5),
    side=st.integers(1, 9),
)
def test_extract_windows_matches_pixel_loop(image_shape, corners, side):
    image = textured_image(*image_shape, seed=7)
    boxes = np.array([[left, top, left + side, top + side] for left, top in corners])
    windows = extract_windows(image, boxes)
    height, width = image_shape
    for index, (left, top) in enumerate(corners):
        for row in range(side):
            for col in range(side):
                inside = 0 <= top + row < height and 0 <= left + col < width
                expected = image[top + row, left + col] if inside else [255, 255, 255]
                assert windows[index, row, col].tolist() == list(expected)


def test_dlpfc_lowres_patches_match_oracle():
    folder = shared_folder("dlpfc/151673", marker="filtered_feature_bc_matrix.h5")
    context = StageContext(config=RunConfig(), device="cpu", side="reference", data_dir=folder)
    visium = context.visium_slice()
    spatial = visium.adata.obsm["spatial"]
    subset = np.arange(0, visium.adata.n_obs, 150)
    levels = {
        name: {"scale": level.scale, "shape": list(level.shape), "path": str(level.path)}
        for name, level in visium.images.items()
    }
    inputs = {
        "load/barcodes": visium.adata.obs_names.to_numpy()[subset],
        "load/spatial": spatial[subset],
        "load/scalefactors": {"image_levels": levels},
    }

    result = patches_stage.run(inputs, context, quick_params())

    record = result["image_level"]
    assert record["level"] == "lowres"
    assert record["window_side_px"] == 23
    assert record["image_shape"] == [600, 600]
    assert "upsampled" in record["note"]
    assert result["patches"].shape == (len(subset), 512, 512, 3)
    image = visium.read_image("lowres")
    for row in (0, len(subset) // 2, len(subset) - 1):
        x, y = spatial[subset[row]]
        expected, box, _ = oracle_patch(image, x, y, scale=LOWRES_SCALE, patch_size=512)
        np.testing.assert_array_equal(result["patches"][row], expected)
        assert tuple(result["boxes"][row]) == box
    # H&E tissue: darker than the white background on average.
    assert result["patches"].mean() < 230


def test_intestine_hires_patches_match_oracle():
    folder = shared_folder("mouse_intestine_image_only", marker="spatial/tissue_hires_image.png")
    visium = read_visium_slice(folder, require_counts=False)
    context = StageContext(
        config=RunConfig(), device="cpu", side="reference", data_dir=folder, _slice=visium
    )
    spatial = visium.adata.obsm["spatial"]
    # Spots nearest each image border, plus a spread of interior spots.
    subset = np.unique(np.concatenate([
        np.argmin(spatial, axis=0), np.argmax(spatial, axis=0), np.arange(0, len(spatial), 200),
    ]))
    levels = {
        name: {"scale": level.scale, "shape": list(level.shape), "path": str(level.path)}
        for name, level in visium.images.items()
    }
    inputs = {
        "load/barcodes": visium.adata.obs_names.to_numpy()[subset],
        "load/spatial": spatial[subset],
        "load/scalefactors": {"image_levels": levels},
    }

    result = patches_stage.run(inputs, context, quick_params(patch_size=128))

    record = result["image_level"]
    scale = visium.scalefactors.tissue_hires_scalef
    assert record["level"] == "hires"
    assert record["window_side_px"] == round(504 * scale)
    image = visium.read_image("hires")
    n_padded = 0
    for row, spot in enumerate(subset):
        x, y = spatial[spot]
        expected, box, padded = oracle_patch(image, x, y, scale=scale, patch_size=128)
        np.testing.assert_array_equal(result["patches"][row], expected)
        assert tuple(result["boxes"][row]) == box
        n_padded += padded
    assert record["padded_windows"] == n_padded


def test_synthetic_fullres_tiff_patches(tmp_path):
    from harness.synth.writer import write_synthetic_slice

    folder = write_synthetic_slice(
        tmp_path / "slice", n_spots=100, seed=4, n_genes=210, image_levels=("fullres",), workers=1
    )
    context = StageContext(config=RunConfig(), device="cpu", side="reference", data_dir=folder)
    visium = context.visium_slice()
    spatial = visium.adata.obsm["spatial"]
    subset = np.arange(0, visium.adata.n_obs, 9)
    level = visium.image_level("fullres")
    inputs = {
        "load/barcodes": visium.adata.obs_names.to_numpy()[subset],
        "load/spatial": spatial[subset],
        "load/scalefactors": {
            "image_levels": {"fullres": {"scale": 1.0, "shape": list(level.shape), "path": str(level.path)}}
        },
    }

    result = patches_stage.run(inputs, context, quick_params(patch_size=32))

    record = result["image_level"]
    assert record["level"] == "fullres"
    assert record["window_side_px"] == 504
    assert "note" not in record
    image = visium.read_image("fullres")
    for row in (0, len(subset) - 1):
        x, y = spatial[subset[row]]
        expected, box, _ = oracle_patch(image, x, y, scale=1.0, patch_size=32)
        np.testing.assert_array_equal(result["patches"][row], expected)
        assert tuple(result["boxes"][row]) == box
