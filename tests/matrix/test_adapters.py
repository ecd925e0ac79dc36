"""Image artifacts crossing between the sides are resized to the consumer's own size."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.artifacts.store import RunStore
from harness.errors import InputError
from harness.matrix.adapters import (
    Adapt,
    resize_square_images,
    run_adapt,
    size_mismatches,
    square_image_sizes,
)


def store_patches(root, side_px, *, n=5, value=None, seed=0):
    rng = np.random.default_rng(seed)
    patches = (
        np.full((n, side_px, side_px, 3), value, dtype=np.uint8)
        if value is not None
        else rng.integers(0, 256, size=(n, side_px, side_px, 3), dtype=np.uint8)
    )
    centers = rng.normal(size=(n, 2))
    RunStore(root).write_stage("patches", {"patches": patches, "centers": centers})
    return patches, centers


@settings(max_examples=30, deadline=None)
@given(
    value=st.integers(0, 255),
    side=st.integers(4, 40),
    size=st.integers(4, 40),
    n=st.integers(1, 3),
)
def test_constant_images_stay_constant_at_any_size(value, side, size, n):
    images = np.full((n, side, side, 3), value, dtype=np.uint8)
    out = resize_square_images(images, size)
    assert out.shape == (n, size, size, 3)
    assert out.dtype == np.uint8
    assert np.all(out == value)


@settings(max_examples=20, deadline=None)
@given(side=st.integers(2, 32), seed=st.integers(0, 2**16))
def test_same_size_is_identity(side, seed):
    images = np.random.default_rng(seed).integers(0, 256, size=(2, side, side, 3), dtype=np.uint8)
    assert np.array_equal(resize_square_images(images, side), images)


def test_halves_stay_separate_when_shrunk_and_enlarged():
    images = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    images[:, :, 32:] = 200
    for size in (16, 224):
        out = resize_square_images(images, size)
        assert out[0, size // 2, : size // 4].max() == 0
        assert out[0, size // 2, -size // 4 :].min() == 200


def test_resize_works_in_chunks_without_mixing_images():
    images = np.arange(300, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 3), np.uint8)
    out = resize_square_images(images, 5)
    assert np.array_equal(out[:, 2, 2, 0], np.arange(300, dtype=np.uint8))


@pytest.mark.parametrize(
    ("images", "size"),
    [
        (np.zeros((2, 8, 6, 3), np.uint8), 4),
        (np.zeros((2, 8, 8, 3), np.float32), 4),
        (np.zeros((8, 8, 3), np.uint8), 4),
        (np.zeros((2, 8, 8, 3), np.uint8), 0),
    ],
)
def test_bad_images_are_rejected(images, size):
    with pytest.raises(InputError, match="expected"):
        resize_square_images(images, size)


def test_sizes_of_stored_stages(tmp_path):
    store_patches(tmp_path / "ref", 16)
    store_patches(tmp_path / "cand", 8)
    assert square_image_sizes(tmp_path / "ref", "patches") == {"patches": 16}
    folders = {
        "reference": {"patches": tmp_path / "ref"},
        "candidate": {"patches": tmp_path / "cand"},
    }
    assert size_mismatches(folders, ["load", "patches"]) == {
        "patches": {"patches": {"reference": 16, "candidate": 8}}
    }
    store_patches(tmp_path / "cand", 16)
    assert size_mismatches(folders, ["patches"]) == {}


def test_missing_stage_names_the_folder(tmp_path):
    with pytest.raises(InputError, match="no stored stage 'patches'"):
        square_image_sizes(tmp_path / "empty", "patches")


def test_adapt_resizes_records_and_reuses(tmp_path):
    _, centers = store_patches(tmp_path / "cand", 8, value=90)
    store_patches(tmp_path / "ref", 16)
    step = Adapt(
        "patches",
        source=str(tmp_path / "cand"),
        like=str(tmp_path / "ref"),
        out_dir=str(tmp_path / "resized"),
    )
    assert run_adapt(step) is True
    record = RunStore(tmp_path / "resized").read_stage("patches")
    patches = record.load("patches")
    assert patches.shape == (5, 16, 16, 3)
    assert np.all(patches == 90)
    assert np.array_equal(record.load("centers"), centers)
    adapted = record.manifest["adapted"]
    assert adapted["resized"] == {"patches": [8, 16]}
    assert adapted["source"] == str(tmp_path / "cand")
    assert set(adapted["source_sha256"]) == {"patches/patches", "patches/centers"}
    assert run_adapt(step) is False

    store_patches(tmp_path / "cand", 8, value=30)
    assert run_adapt(step) is True
    assert np.all(RunStore(tmp_path / "resized").read_stage("patches").load("patches") == 30)


def test_adapt_without_source_fails_and_writes_nothing(tmp_path):
    store_patches(tmp_path / "ref", 16)
    step = Adapt(
        "patches", source=str(tmp_path / "none"), like=str(tmp_path / "ref"), out_dir=str(tmp_path / "out")
    )
    with pytest.raises(InputError, match="no stored stage 'patches'"):
        run_adapt(step)
    assert not (tmp_path / "out").exists()


def test_adapt_manifest_is_json(tmp_path):
    store_patches(tmp_path / "cand", 8)
    store_patches(tmp_path / "ref", 12)
    run_adapt(Adapt("patches", str(tmp_path / "cand"), str(tmp_path / "ref"), str(tmp_path / "out")))
    manifest = json.loads((tmp_path / "out" / "patches" / "manifest.json").read_text())
    assert manifest["adapted"]["resized"] == {"patches": [8, 12]}
