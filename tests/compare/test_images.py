"""Patch comparison: per-patch errors, side mismatch, memory maps, alignment."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from harness.compare.align import align_barcodes
from harness.compare.images import compare_patches
from harness.compare.result import Threshold
from harness.errors import InputError
from tests.compare._real import in_tissue_positions


def _patches(seed: int, n_obs: int = 10, side: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n_obs, side, side, 3), dtype=np.uint8)


@settings(max_examples=30, deadline=None)
@given(
    patches=hnp.arrays(
        np.uint8,
        st.tuples(st.integers(1, 6), st.integers(1, 5)).map(lambda t: (t[0], t[1], t[1], 3)),
    )
)
def test_patches_pass_against_themselves(patches):
    result = compare_patches(patches, patches.copy())

    assert result.status == "pass"
    assert result.observed == 0.0
    assert result.details["fraction_identical"] == 1.0


def test_uint8_difference_does_not_wrap():
    reference = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    candidate = np.full((2, 4, 4, 3), 255, dtype=np.uint8)

    result = compare_patches(reference, candidate)

    assert result.observed == 255.0
    assert result.details["max_pixel_abs_error"] == 255


def test_worst_patches_listed_by_barcode():
    reference = _patches(0, n_obs=5)
    candidate = reference.copy()
    candidate[3] = 255 - candidate[3]
    candidate[1, 0, 0, 0] ^= 1
    barcodes = np.array([f"BC{index}-1" for index in range(5)])

    result = compare_patches(reference, candidate, keys=barcodes)

    assert result.status == "fail"
    assert [row["key"] for row in result.evidence] == ["BC3-1"]
    assert result.details["worst"][1]["key"] == "BC1-1"
    assert result.details["worst"][1]["max_abs_error"] == 1
    assert result.details["n_identical"] == 3
    assert result.details["fraction_identical"] == pytest.approx(0.6)


def test_different_patch_sides_reported_as_finding():
    result = compare_patches(_patches(1, side=16), _patches(1, side=8))

    assert result.status == "error"
    assert "patch side differs: reference 16 px, candidate 8 px" in result.description
    assert result.details["patch_side_reference_px"] == 16
    assert result.details["patch_side_candidate_px"] == 8


@pytest.mark.parametrize(
    ("reference", "candidate", "match"),
    [
        (np.zeros((2, 4, 4, 3), dtype=np.float32), np.zeros((2, 4, 4, 3), dtype=np.uint8),
         "dtype float32"),
        (np.zeros((2, 4, 4), dtype=np.uint8), np.zeros((2, 4, 4), dtype=np.uint8),
         "expected \\(n_obs, S, S, 3\\)"),
        (np.zeros((2, 4, 5, 3), dtype=np.uint8), np.zeros((2, 4, 5, 3), dtype=np.uint8),
         "expected \\(n_obs, S, S, 3\\)"),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), np.zeros((3, 4, 4, 3), dtype=np.uint8),
         "patch counts differ"),
    ],
    ids=["float-dtype", "no-channels", "not-square", "count-mismatch"],
)
def test_incomparable_stacks_are_error_status(reference, candidate, match):
    result = compare_patches(reference, candidate)

    assert result.status == "error"
    assert re.search(match, result.description)


def test_memory_mapped_inputs_in_chunks(tmp_path):
    reference = _patches(2, n_obs=37, side=6)
    candidate = reference.copy()
    candidate[20:25] //= 2
    np.save(tmp_path / "reference.npy", reference)
    np.save(tmp_path / "candidate.npy", candidate)
    mapped_reference = np.load(tmp_path / "reference.npy", mmap_mode="r")
    mapped_candidate = np.load(tmp_path / "candidate.npy", mmap_mode="r")

    chunked = compare_patches(mapped_reference, mapped_candidate, chunk_patches=4)
    whole = compare_patches(reference, candidate, chunk_patches=1000)

    assert isinstance(mapped_reference, np.memmap)
    assert chunked.to_json() == whole.to_json()
    assert chunked.n_offending == 5


def test_alignment_reorders_candidate_patches():
    reference = _patches(3, n_obs=6)
    barcodes = np.array([f"BC{index}-1" for index in range(6)])
    order = np.array([5, 0, 3, 1, 4, 2])
    alignment = align_barcodes(barcodes, barcodes[order])

    aligned = compare_patches(reference, reference[order], alignment=alignment)
    by_row = compare_patches(reference, reference[order], keys=barcodes)

    assert aligned.status == "pass"
    assert by_row.status == "fail"
    assert by_row.evidence[0]["key"].startswith("BC")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"chunk_patches": 0}, "chunk_patches"),
        ({"keys": np.array(["A-1"] * 4), "alignment": "set below"}, "either `keys` or"),
        ({"keys": np.array(["A-1"])}, "keys"),
    ],
    ids=["zero-chunk", "keys-and-alignment", "keys-wrong-length"],
)
def test_invalid_arguments_raise(options, match):
    patches = _patches(4, n_obs=4)
    if options.get("alignment") == "set below":
        barcodes = np.array([f"BC{index}-1" for index in range(4)])
        options = {**options, "alignment": align_barcodes(barcodes, barcodes)}

    with pytest.raises(InputError, match=match):
        compare_patches(patches, patches, **options)


def test_alignment_must_fit_patch_counts():
    barcodes = np.array(["A-1", "B-1", "C-1"])
    alignment = align_barcodes(barcodes, barcodes)

    with pytest.raises(InputError, match="do not match the alignment"):
        compare_patches(_patches(5, n_obs=4), _patches(5, n_obs=4), alignment=alignment)


def test_threshold_moves_with_rejudge():
    reference = _patches(6, n_obs=3)
    candidate = reference.copy()
    candidate[0, :, :, 0] = np.clip(candidate[0, :, :, 0].astype(int) + 6, 0, 255)

    result = compare_patches(reference, candidate)
    loosened = result.rejudge(Threshold(5.0, "max", unit="uint8 levels", source="user"))

    assert result.status == "fail"
    assert loosened.status == "pass"


def test_real_lowres_windows_scale_bug(dlpfc_151673):
    barcodes, xy = in_tissue_positions(dlpfc_151673)
    scalefactors = json.loads((dlpfc_151673 / "spatial" / "scalefactors_json.json").read_text())
    image = np.asarray(Image.open(dlpfc_151673 / "spatial" / "tissue_lowres_image.png"))[..., :3]
    image = image.astype(np.uint8) if image.dtype == np.uint8 else (image * 255).astype(np.uint8)
    scale = scalefactors["tissue_lowres_scalef"]
    side = max(1, int(round(504 * scale)))

    def cut(centres: np.ndarray) -> np.ndarray:
        left = np.floor(centres - side / 2).astype(int)
        rows = left[:, 1, None] + np.arange(side)
        cols = left[:, 0, None] + np.arange(side)
        return image[rows[:, :, None], cols[:, None, :]]

    chosen = np.arange(0, barcodes.size, 40)
    correct = cut(xy[chosen] * scale)
    shifted = cut(xy[chosen] * scale * scalefactors["tissue_hires_scalef"])

    same = compare_patches(correct, correct.copy(), keys=barcodes[chosen])
    wrong = compare_patches(correct, shifted, keys=barcodes[chosen])

    assert same.status == "pass"
    assert wrong.status == "fail"
    assert wrong.n_offending > 0.9 * chosen.size
    assert wrong.details["patch_side_px"] == side
