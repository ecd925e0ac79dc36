"""Diagnoses of the patches and patch_filter stages: planted divergences, real DLPFC positions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.diagnose import patch_filter, patches
from harness.diagnose.factors import match_factor, scale_candidates, window_side_candidates
from harness.diagnose.tissue import load_tissue_mask, tissue_mask_from_image
from harness.errors import InputError, MissingFileError
from tests.conftest import require_dataset
from tests.diagnose._fixtures_image import (
    SCALEFACTORS,
    build_context,
    disc_positions,
    dlpfc_positions,
    load_stage,
    make_barcodes,
    patch_pixels,
    patches_stage,
    permuted,
    write_tissue_image,
)

N_SPOTS = 120
PER_SPOT = ("centers", "boxes", "patches")


@pytest.fixture
def slice_dir(tmp_path):
    """A slice folder with a lowres PNG of a pink disc, and its load/scalefactors record."""
    folder = tmp_path / "slice"
    return folder, write_tissue_image(folder)


@pytest.fixture
def spots():
    """Barcodes and full-resolution positions on the tissue disc."""
    return make_barcodes(N_SPOTS), disc_positions(N_SPOTS, seed=7)


def _context(tmp_path, slice_dir, spots, *, reference_patches, candidate_patches, isolated=None):
    folder, scalefactors = slice_dir
    barcodes, positions = spots
    load = load_stage(barcodes, positions, scalefactors=scalefactors)
    return build_context(
        tmp_path / "runs",
        reference={"load": load, "patches": reference_patches},
        candidate={"load": load, "patches": candidate_patches},
        isolated=isolated,
        data_dir=folder,
    )


def _only(results):
    assert len(results) == 1
    return results[0]


# -- every check on identical sides ---------------------------------------------


@pytest.mark.parametrize("diagnosis", patches.DIAGNOSES, ids=lambda fn: fn.check_id)
def test_identical_sides_pass(tmp_path, slice_dir, spots, diagnosis):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions, level="fullres", scale=1.0, key_style="candidate"
        ),
    )

    result = _only(diagnosis(context, "chained"))

    assert result.status == "pass", result.report()
    assert result.check_id == diagnosis.check_id
    assert result.stage == "patches"
    assert result.diagnosis == ""


def test_centres_from_other_level_pass(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions, level="lowres", scale=0.045, key_style="candidate"
        ),
    )

    centres = _only(patches.check_centers(context, "chained"))
    window = _only(patches.check_window(context, "chained"))

    assert centres.status == "pass", centres.report()
    assert window.status == "pass", window.report()
    assert window.details["expected_candidate_side_level_px"] == 23


def test_centres_join_by_barcode(tmp_path, slice_dir, spots):
    barcodes, positions = spots
    order = np.random.default_rng(3).permutation(N_SPOTS)
    folder, scalefactors = slice_dir
    reference = {
        "load": load_stage(barcodes, positions, scalefactors=scalefactors),
        "patches": patches_stage(positions, level="fullres", scale=1.0),
    }
    candidate = {
        "load": load_stage(barcodes[order], positions[order], scalefactors=scalefactors),
        "patches": permuted(
            patches_stage(positions, level="fullres", scale=1.0), order, per_spot=PER_SPOT
        ),
    }
    context = build_context(
        tmp_path / "runs", reference=reference, candidate=candidate, data_dir=folder
    )

    for diagnosis in patches.DIAGNOSES:
        result = _only(diagnosis(context, "chained"))
        assert result.status == "pass", result.report()


# -- patches.centers --------------------------------------------------------------


def test_centres_scaled_by_hires_at_fullres(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions, level="fullres", scale=1.0, centre_scale=0.15, key_style="candidate"
        ),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith(
        "candidate patch centres = 0.150 × reference: full-resolution coordinates scaled by "
        "tissue_hires_scalef (0.15) while cutting from the fullres image"
    )
    assert "pile up in the top-left corner" in result.diagnosis
    assert result.details["scale_factor_matched"] == "tissue_hires_scalef"


def test_centres_scaled_by_hires_at_lowres(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="lowres", scale=0.045),
        candidate_patches=patches_stage(
            positions, level="lowres", scale=0.045, centre_scale=0.15, key_style="candidate"
        ),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith(
        "candidate patch centres = 3.333 × reference (= tissue_hires_scalef / "
        "tissue_lowres_scalef): "
        "candidate centres were scaled by tissue_hires_scalef (0.15) although the windows are cut "
        "from the lowres image (scale tissue_lowres_scalef 0.045)"
    )
    assert result.details["fit_level_px"]["scale"] == pytest.approx(0.15 / 0.045)


def test_centres_compared_across_levels(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions, level="lowres", scale=0.045, centre_scale=0.15, key_style="candidate"
        ),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith(
        "in full-resolution px, candidate patch centres = 3.333 × reference"
    )
    assert (
        "scaled by tissue_hires_scalef (0.15) although the windows are cut from the lowres"
        in result.diagnosis
    )
    assert "The reference cuts from the fullres image (scale 1)" in result.diagnosis
    assert "fall outside its 300 × 300 px lowres image" in result.diagnosis


def test_centres_unscaled_on_lowres(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="lowres", scale=0.045),
        candidate_patches=patches_stage(
            positions, level="lowres", scale=0.045, centre_scale=1.0, key_style="candidate"
        ),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert (
        "full-resolution coordinates were not scaled although the windows are cut from the lowres"
        in (result.diagnosis)
    )


def test_centres_with_swapped_axes(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions[:, ::-1], level="fullres", scale=1.0, key_style="candidate"
        ),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith("candidate centres have x and y swapped")


@pytest.mark.parametrize(
    ("sign", "phrase"),
    [
        (-1, "centres are the windows' top-left corners"),
        (1, "spot positions were used as the windows' top-left corners"),
    ],
    ids=["top-left recorded", "spot as corner"],
)
def test_centres_offset_by_half_window(tmp_path, slice_dir, spots, sign, phrase):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions + sign * 252, level="fullres", scale=1.0, key_style="candidate"
        ),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert result.status == "fail"
    assert "half the 504 px window" in result.diagnosis
    assert phrase in result.diagnosis


def test_centres_half_window_offset_on_lowres(tmp_path, slice_dir, spots):
    positions = spots[1]
    reference = patches_stage(positions, level="lowres", scale=0.045)
    candidate = patches_stage(positions, level="lowres", scale=0.045, key_style="candidate")
    candidate["centers"] = candidate["boxes"][:, :2].astype(np.float64)
    context = _context(
        tmp_path, slice_dir, spots, reference_patches=reference, candidate_patches=candidate
    )

    result = _only(patches.check_centers(context, "chained"))

    assert "centres are the windows' top-left corners" in result.diagnosis


def test_centres_with_plain_shift(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions + [30.0, -20.0], level="fullres", scale=1.0, key_style="candidate"
        ),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert (
        result.diagnosis
        == "candidate centres are shifted by (+30, -20) full-resolution px (scale 1)"
    )


def test_centres_without_pattern_list_worst_spots(tmp_path, slice_dir, spots):
    barcodes, positions = spots
    noisy = positions + np.random.default_rng(0).normal(0, 50, positions.shape)
    noisy[17] += 4000
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(noisy, level="fullres", scale=1.0, key_style="candidate"),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert result.diagnosis.startswith(
        "candidate centres follow no common scale, shift or x/y swap"
    )
    assert result.evidence[0]["key"] == barcodes[17]
    assert result.n_offending == N_SPOTS


def test_centres_rounded_to_pixels(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            np.round(positions), level="fullres", scale=1.0, key_style="candidate"
        ),
    )

    result = _only(patches.check_centers(context, "chained"))

    assert result.status == "fail"
    assert "within one image pixel" in result.diagnosis


def test_image_level_without_scale_raises(tmp_path, slice_dir, spots):
    positions = spots[1]
    candidate = patches_stage(positions, level="fullres", scale=1.0, key_style="candidate")
    del candidate["image_level"]["scale"]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=candidate,
    )

    with pytest.raises(InputError, match="candidate's patches/image_level has scale None"):
        patches.check_centers(context, "chained")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31 - 1),
    factor_index=st.integers(1, len(scale_candidates(SCALEFACTORS)) - 1),
)
def test_explain_names_every_known_factor(seed, factor_index):
    factor = scale_candidates(SCALEFACTORS)[factor_index]
    positions = disc_positions(60, seed=seed)
    level = patches.LevelRecord(name="fullres", scale=1.0, shape=None, window_side_fullres_px=504.0)

    diagnosis, details = patches.explain_centres(
        positions,
        positions * factor.value,
        reference_level=level,
        candidate_level=level,
        window_side_fullres_px=504.0,
        scalefactors=SCALEFACTORS,
    )

    assert factor.name in diagnosis
    assert details["scale_factor_matched"] == factor.name


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    shift=st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000)).filter(
        lambda s: np.hypot(*s) > 2 and not (abs(abs(s[0]) - 252) < 6 and abs(abs(s[1]) - 252) < 6)
    ),
)
def test_explain_reports_any_shift(seed, shift):
    positions = disc_positions(60, seed=seed)
    level = patches.LevelRecord(name="fullres", scale=1.0, shape=None, window_side_fullres_px=504.0)

    diagnosis, _ = patches.explain_centres(
        positions,
        positions + np.array(shift),
        reference_level=level,
        candidate_level=level,
        window_side_fullres_px=504.0,
        scalefactors=SCALEFACTORS,
    )

    assert diagnosis.startswith("candidate centres are shifted by")


def test_factor_matching_tolerance():
    factors = scale_candidates(SCALEFACTORS)

    assert match_factor(3.333, factors).name == "tissue_hires_scalef / tissue_lowres_scalef"
    assert match_factor(0.1514, factors).name == "tissue_hires_scalef"
    assert match_factor(0.16, factors) is None
    assert match_factor(float("nan"), factors) is None
    assert match_factor(-0.15, factors) is None


# -- patches.window ----------------------------------------------------------------


def test_window_from_spot_diameter(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions, level="fullres", scale=1.0, window_fullres_px=337.4, key_style="candidate"
        ),
    )

    result = _only(patches.check_window(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis == (
        "candidate windows are 337 full-resolution px = 3.5 × spot_diameter_fullres (96.4) "
        "instead of "
        "3.5 × 144 = 504 px"
    )
    assert result.observed == pytest.approx(abs(337 / 504 - 1))


def test_window_resized_to_other_side(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0, output_px=16),
        candidate_patches=patches_stage(
            positions, level="fullres", scale=1.0, output_px=7, key_style="candidate"
        ),
    )

    result = _only(patches.check_window(context, "chained"))

    assert result.status == "fail"
    assert result.observed == 0
    assert result.diagnosis == "candidate resizes windows to 7 px, the reference to 16 px"


def test_window_side_not_scaled_to_level(tmp_path, slice_dir, spots):
    positions = spots[1]
    candidate = patches_stage(positions, level="lowres", scale=0.045, key_style="candidate")
    left_top = np.floor(candidate["centers"] - 252).astype(np.int64)
    candidate["boxes"] = np.concatenate([left_top, left_top + 504], axis=1)
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="lowres", scale=0.045),
        candidate_patches=candidate,
    )

    result = _only(patches.check_window(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith(
        "candidate windows are 504 px in the lowres image, the full-resolution side not scaled to "
        "that level"
    )


def test_window_candidates_include_staig_side():
    sides = window_side_candidates(SCALEFACTORS)

    assert sides[0].value == 504
    assert [side.value for side in sides[1:3]] == pytest.approx([3.5 * 96.4, 96.4])


# -- patches.on_tissue ---------------------------------------------------------------


def test_on_tissue_flags_corner_windows(tmp_path, slice_dir, spots):
    barcodes, positions = spots
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions, level="fullres", scale=1.0, centre_scale=0.15, key_style="candidate"
        ),
    )

    result = _only(patches.check_on_tissue(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis == "100% of candidate windows are centred off tissue (reference: 0%)"
    assert result.observed == pytest.approx(1.0)
    assert result.n_offending == N_SPOTS
    assert result.evidence[0]["key"] in set(barcodes)


def test_on_tissue_tolerates_few_lost_windows(tmp_path, slice_dir, spots):
    positions = spots[1]
    moved = positions.copy()
    moved[:3] = [10.0, 10.0]  # 3 of 120 windows (2.5 %) moved onto the bare slide
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(moved, level="fullres", scale=1.0, key_style="candidate"),
    )

    result = _only(patches.check_on_tissue(context, "chained"))

    assert result.status == "pass"
    assert result.observed == pytest.approx(3 / N_SPOTS)
    assert result.n_offending == 3


def test_on_tissue_without_image_raises(tmp_path, slice_dir, spots):
    folder, scalefactors = slice_dir
    (folder / "spatial" / "tissue_lowres_image.png").unlink()
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions, level="fullres", scale=1.0, key_style="candidate"
        ),
    )

    with pytest.raises(MissingFileError, match="no histology image to build a tissue mask"):
        patches.check_on_tissue(context, "chained")


def test_tissue_mask_finds_disc(tmp_path):
    scalefactors = write_tissue_image(tmp_path)

    tissue = load_tissue_mask(scalefactors)

    disc_fraction = np.pi * 100**2 / 300**2
    assert tissue.level == "lowres"
    assert tissue.fraction_tissue == pytest.approx(disc_fraction, rel=0.03)
    assert tissue.on_tissue(
        np.array([[3333.0, 3333.0], [100.0, 100.0], [-5.0, 3333.0], [np.nan, 1.0]])
    ).tolist() == [
        True,
        False,
        False,
        False,
    ]


def test_tissue_mask_of_blank_slide_is_empty():
    mask, threshold = tissue_mask_from_image(np.full((50, 60, 3), 240, dtype=np.uint8))

    assert mask.shape == (50, 60)
    assert not mask.any()
    assert threshold == 0


def test_tissue_mask_rejects_grey_image():
    with pytest.raises(InputError, match="RGB uint8"):
        tissue_mask_from_image(np.zeros((10, 10), dtype=np.uint8))


# -- patches.pixels -------------------------------------------------------------------


def test_pixels_with_other_patch_side(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0, output_px=12),
        candidate_patches=patches_stage(
            positions, level="fullres", scale=1.0, output_px=6, key_style="candidate"
        ),
    )

    result = _only(patches.check_pixels(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis == (
        "candidate resizes windows to 6 px, the reference to 12 px, so the patches cannot be "
        "compared "
        "pixel by pixel"
    )


def test_pixels_differ_in_same_boxes(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions,
            level="fullres",
            scale=1.0,
            key_style="candidate",
            patches=patch_pixels(N_SPOTS, output_px=8, seed=1),
        ),
    )

    result = _only(patches.check_pixels(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith("the windows are cut at the same places (identical boxes)")


def test_pixels_differ_in_moved_boxes(tmp_path, slice_dir, spots):
    positions = spots[1]
    context = _context(
        tmp_path,
        slice_dir,
        spots,
        reference_patches=patches_stage(positions, level="fullres", scale=1.0),
        candidate_patches=patches_stage(
            positions * 0.15,
            level="fullres",
            scale=1.0,
            key_style="candidate",
            patches=patch_pixels(N_SPOTS, output_px=8, seed=1),
        ),
    )

    result = _only(patches.check_pixels(context, "chained"))

    assert result.diagnosis == (
        f"{N_SPOTS} of {N_SPOTS} windows are cut at other places (boxes differ); see "
        "patches.centers "
        "and patches.window"
    )


# -- patch_filter.filtered ----------------------------------------------------------------


def _grey(patches_rgb: np.ndarray) -> np.ndarray:
    return np.repeat(patches_rgb[..., :1], 3, axis=-1)


def test_filter_identical_sides_pass(tmp_path, slice_dir, spots):
    positions = spots[1]
    stage = patches_stage(positions, level="fullres", scale=1.0)
    filtered = {"filtered": _grey(stage["patches"])}
    folder, scalefactors = slice_dir
    load = load_stage(spots[0], positions, scalefactors=scalefactors)
    context = build_context(
        tmp_path / "runs",
        reference={"load": load, "patches": stage, "patch_filter": filtered},
        candidate={"load": load, "patches": stage, "patch_filter": filtered},
    )

    result = _only(patch_filter.check_filtered(context, "chained"))

    assert result.status == "pass", result.report()
    assert result.diagnosis == ""
    assert result.details["candidate_output_equals_input"] is False


def test_filter_skipped_at_other_size(tmp_path, slice_dir, spots):
    positions = spots[1]
    reference = patches_stage(positions, level="fullres", scale=1.0, output_px=16)
    candidate = patches_stage(
        positions, level="fullres", scale=1.0, output_px=7, key_style="candidate"
    )
    load = load_stage(spots[0], positions, scalefactors=slice_dir[1])
    context = build_context(
        tmp_path / "runs",
        reference={
            "load": load,
            "patches": reference,
            "patch_filter": {"filtered": _grey(reference["patches"])},
        },
        candidate={
            "load": load,
            "patches": candidate,
            "patch_filter": {"filtered": candidate["patches"]},
        },
    )

    result = _only(patch_filter.check_filtered(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis == (
        "the candidate applies no FFT filter: its filtered windows equal its unfiltered patches; "
        "candidate filtered windows are 7 px, the reference's 16 px"
    )


def test_filter_skipped_in_isolation(tmp_path, slice_dir, spots):
    positions = spots[1]
    reference = patches_stage(positions, level="fullres", scale=1.0)
    load = load_stage(spots[0], positions, scalefactors=slice_dir[1])
    context = build_context(
        tmp_path / "runs",
        reference={
            "load": load,
            "patches": reference,
            "patch_filter": {"filtered": _grey(reference["patches"])},
        },
        candidate={
            "load": load,
            "patches": reference,
            "patch_filter": {"filtered": _grey(reference["patches"])},
        },
        isolated={"patch_filter": {"filtered": reference["patches"]}},
    )

    result = _only(patch_filter.check_filtered(context, "isolated"))

    assert result.status == "fail"
    assert result.diagnosis.startswith("the candidate applies no FFT filter")


def test_filter_output_in_colour(tmp_path, slice_dir, spots):
    positions = spots[1]
    reference = patches_stage(positions, level="fullres", scale=1.0)
    load = load_stage(spots[0], positions, scalefactors=slice_dir[1])
    context = build_context(
        tmp_path / "runs",
        reference={
            "load": load,
            "patches": reference,
            "patch_filter": {"filtered": _grey(reference["patches"])},
        },
        candidate={
            "load": load,
            "patches": reference,
            "patch_filter": {"filtered": patch_pixels(N_SPOTS, output_px=8, seed=5)},
        },
    )

    result = _only(patch_filter.check_filtered(context, "chained"))

    assert result.status == "fail"
    assert result.diagnosis.startswith("the candidate's filtered windows are in colour")


# -- real DLPFC 151673 -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlpfc():
    return dlpfc_positions(require_dataset("dlpfc/151673"))


def test_dlpfc_lowres_centres_scaled_by_hires(tmp_path, dlpfc, dlpfc_151673):
    barcodes, positions, scalefactors = dlpfc
    hires = scalefactors["tissue_hires_scalef"]
    lowres = scalefactors["tissue_lowres_scalef"]
    shape = tuple(scalefactors["image_levels"]["lowres"]["shape"])
    load = load_stage(barcodes, positions, scalefactors=scalefactors)
    context = build_context(
        tmp_path / "runs",
        reference={
            "load": load,
            "patches": patches_stage(positions, level="lowres", scale=lowres, image_shape=shape),
        },
        candidate={
            "load": load,
            "patches": patches_stage(
                positions,
                level="lowres",
                scale=lowres,
                centre_scale=hires,
                image_shape=shape,
                key_style="candidate",
            ),
        },
        data_dir=dlpfc_151673,
    )

    centres = _only(patches.check_centers(context, "chained"))
    tissue = _only(patches.check_on_tissue(context, "chained"))

    assert centres.status == "fail"
    assert centres.diagnosis.startswith(
        "candidate patch centres = 3.333 × reference (= tissue_hires_scalef / "
        "tissue_lowres_scalef): "
        "candidate centres were scaled by tissue_hires_scalef (0.150015) although the windows are "
        "cut "
        "from the lowres image (scale tissue_lowres_scalef 0.0450045)"
    )
    assert (
        "of the candidate's centres fall outside its 600 × 600 px lowres image" in centres.diagnosis
    )
    assert tissue.status == "fail"
    assert tissue.details["reference_fraction_on_tissue"] > 0.95
    assert tissue.details["candidate_fraction_on_tissue"] < 0.2
    assert "of candidate windows are centred off tissue (reference: 2%)" in tissue.diagnosis


def test_dlpfc_fullres_centres_scaled_by_hires(tmp_path, dlpfc):
    barcodes, positions, scalefactors = dlpfc
    hires = scalefactors["tissue_hires_scalef"]
    load = load_stage(barcodes, positions, scalefactors=scalefactors)
    full = (13332, 13332)
    context = build_context(
        tmp_path / "runs",
        reference={
            "load": load,
            "patches": patches_stage(positions, level="fullres", scale=1.0, image_shape=full),
        },
        candidate={
            "load": load,
            "patches": patches_stage(
                positions,
                level="fullres",
                scale=1.0,
                centre_scale=hires,
                image_shape=full,
                key_style="candidate",
            ),
        },
    )

    centres = _only(patches.check_centers(context, "chained"))
    window = _only(patches.check_window(context, "chained"))
    tissue = _only(patches.check_on_tissue(context, "chained"))

    assert centres.diagnosis.startswith(
        "candidate patch centres = 0.150 × reference: full-resolution coordinates scaled by "
        "tissue_hires_scalef (0.150015) while cutting from the fullres image. The candidate's "
        "windows "
        "pile up in the top-left corner of its fullres image"
    )
    assert window.status == "pass"
    assert tissue.diagnosis.startswith("100% of candidate windows are centred off tissue")
