"""load.barcodes and load.spatial: the spots each side keeps, and their coordinates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.positions import find_positions_file, read_tissue_positions
from harness.diagnose import load

from ._fixtures_graph import barcodes, hex_grid, load_stage, make_context

SPATIAL = hex_grid(10, 12) + np.array([1000.0, 2000.0])
NAMES = barcodes(SPATIAL.shape[0])
SCALEFACTORS = {"tissue_hires_scalef": 0.150015, "tissue_lowres_scalef": 0.0450045,
                "spot_diameter_fullres": 96.4, "fiducial_diameter_fullres": 144.6}


def judge(tmp_path, candidate_names, candidate_spatial, *, reference_config=None,
          candidate_labels=None):
    reference = {"load": load_stage(NAMES, SPATIAL, scalefactors=SCALEFACTORS,
                                    **({"config": reference_config} if reference_config else {}))}
    extra = {} if candidate_labels is None else {"labels": candidate_labels}
    candidate = {"load": load_stage(candidate_names, candidate_spatial, **extra)}
    context = make_context(tmp_path, reference, candidate)
    [barcodes_check] = load.check_barcodes(context, "chained")
    [spatial_check] = load.check_spatial(context, "chained")
    assert barcodes_check.check_id == "load.barcodes"
    assert spatial_check.check_id == "load.spatial"
    return barcodes_check, spatial_check


def test_same_spots_pass(tmp_path):
    barcodes_check, spatial_check = judge(tmp_path, NAMES, SPATIAL)
    assert barcodes_check.status == "pass"
    assert barcodes_check.diagnosis == ""
    assert spatial_check.status == "pass"


def test_reordered_spots_pass_with_note(tmp_path):
    order = np.random.default_rng(0).permutation(NAMES.size)
    barcodes_check, spatial_check = judge(tmp_path, NAMES[order], SPATIAL[order])
    assert barcodes_check.status == "pass"
    assert "another order, which is not a divergence" in barcodes_check.diagnosis
    assert spatial_check.status == "pass"


def test_kept_unlabelled_spots_named(tmp_path):
    extra = barcodes(4, prefix="NA")
    names = np.concatenate([NAMES, extra])
    spatial = np.concatenate([SPATIAL, np.full((4, 2), 5.0)])
    labels = np.array(["L1"] * NAMES.size + ["NA", "nan", "", "NA"])
    barcodes_check, _ = judge(tmp_path, names, spatial,
                              reference_config={"n_spots_dropped_unlabelled": 4},
                              candidate_labels=labels)
    assert barcodes_check.status == "fail"
    assert barcodes_check.observed == 4
    assert "0 barcodes are only in the reference and 4 only in the candidate" in (
        barcodes_check.diagnosis
    )
    assert "the candidate keeps NA-labelled spots that the reference drops" in (
        barcodes_check.diagnosis
    )
    assert "dropped exactly 4 spots" in barcodes_check.diagnosis


def test_disjoint_barcodes_error(tmp_path):
    barcodes_check, _ = judge(tmp_path, barcodes(NAMES.size, prefix="OTHER"), SPATIAL)
    assert barcodes_check.status == "error"
    assert "share no barcode" in barcodes_check.description


def test_hires_scaled_coordinates_named(tmp_path):
    _, spatial_check = judge(tmp_path, NAMES, SPATIAL * 0.150015)
    assert spatial_check.status == "fail"
    assert spatial_check.diagnosis.startswith(
        "candidate coordinates = 0.150015 = tissue_hires_scalef (0.150015) × reference"
    )


def test_swapped_axes_named(tmp_path):
    _, spatial_check = judge(tmp_path, NAMES, SPATIAL[:, ::-1].copy())
    assert spatial_check.status == "fail"
    assert spatial_check.diagnosis.startswith("the candidate's x and y are swapped:")


def test_offset_named(tmp_path):
    _, spatial_check = judge(tmp_path, NAMES, SPATIAL + np.array([252.0, 252.0]))
    assert spatial_check.status == "fail"
    assert spatial_check.diagnosis == (
        "candidate coordinates are the reference's shifted by (252, 252) px"
    )


def test_unequal_axes_named(tmp_path):
    _, spatial_check = judge(tmp_path, NAMES, SPATIAL * np.array([1.0, 0.5]))
    assert spatial_check.status == "fail"
    assert "scales x by 1 and y by 0.5" in spatial_check.diagnosis


def test_scattered_errors_named(tmp_path):
    moved = SPATIAL + np.random.default_rng(1).normal(scale=30.0, size=SPATIAL.shape)
    _, spatial_check = judge(tmp_path, NAMES, moved)
    assert spatial_check.status == "fail"
    assert "no common scale, offset or x/y swap explains it" in spatial_check.diagnosis


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_dropped=st.integers(0, 10))
def test_subset_and_order_found(tmp_path_factory, seed, n_dropped):
    rng = np.random.default_rng(seed)
    remaining = rng.permutation(NAMES.size)[: NAMES.size - n_dropped]
    barcodes_check, spatial_check = judge(
        tmp_path_factory.mktemp("subset"), NAMES[remaining], SPATIAL[remaining]
    )
    assert barcodes_check.observed == n_dropped
    assert barcodes_check.details["n_only_in_reference"] == n_dropped
    assert spatial_check.status == "pass"


def test_real_positions_swapped(dlpfc_151673, tmp_path):
    table = read_tissue_positions(find_positions_file(dlpfc_151673))
    table = table[table["in_tissue"] == 1]
    names = table.index.to_numpy().astype(str)
    xy = table[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(np.float64)
    row_col = table[["pxl_row_in_fullres", "pxl_col_in_fullres"]].to_numpy(np.float64)
    context = make_context(tmp_path, {"load": load_stage(names, xy)},
                           {"load": load_stage(names, row_col)})
    [result] = load.check_spatial(context, "chained")
    assert result.status == "fail"
    assert result.diagnosis.startswith("the candidate's x and y are swapped:")
    assert result.n_offending == pytest.approx(names.size, rel=0.01)
