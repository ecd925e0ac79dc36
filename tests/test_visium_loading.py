"""Reading Space Ranger slice folders: real datasets, image levels and bad inputs."""

from __future__ import annotations

import gzip
import os
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import tifffile
from scipy import io as sparse_io
from scipy import sparse

from harness.data import ScaleFactors, read_visium_slice
from harness.data.images import find_image_levels, read_level_image, read_level_region
from harness.errors import InputError, MissingFileError, MissingImageLevelError, SpotJoinError

SHARED_DATA = Path(
    os.environ.get(
        "HARNESS_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)
POSITIONS_LIST = Path("spatial") / "tissue_positions_list.csv"
POSITIONS_HEADER = (
    "barcode",
    "in_tissue",
    "array_row",
    "array_col",
    "pxl_row_in_fullres",
    "pxl_col_in_fullres",
)


def shared_dataset(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"real Visium data not found at {path}; set HARNESS_SHARED_DATA")
    return path


def read_positions_table(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / POSITIONS_LIST, header=None, dtype=str, keep_default_na=False)


def write_positions_table(folder: Path, table: pd.DataFrame) -> None:
    table.to_csv(folder / POSITIONS_LIST, header=False, index=False)


def write_10x_h5(path: Path, counts: np.ndarray, *, barcodes: list[str], genes: list[str]) -> None:
    """Write a counts matrix of shape (n_obs, n_vars) in the 10x HDF5 layout (version 3)."""
    matrix = sparse.csc_matrix(np.asarray(counts).T)  # the file stores genes x barcodes
    with h5py.File(path, "w") as handle:
        group = handle.create_group("matrix")
        group["barcodes"] = np.array(barcodes, dtype="S")
        group["data"] = matrix.data.astype(np.int32)
        group["indices"] = matrix.indices.astype(np.int64)
        group["indptr"] = matrix.indptr.astype(np.int64)
        group["shape"] = np.array(matrix.shape, dtype=np.int32)
        features = group.create_group("features")
        features["id"] = np.array(genes, dtype="S")
        features["name"] = np.array(genes, dtype="S")
        features["feature_type"] = np.array([b"Gene Expression"] * len(genes))
        features["genome"] = np.array([b"GRCh38"] * len(genes))
        features["_all_tag_keys"] = np.array([b"genome"])


@pytest.fixture
def consistent_slice(tmp_path: Path) -> Path:
    """Copy of the 100-spot scanpy fixture whose in-tissue spots are exactly its counted spots."""
    folder = tmp_path / "scanpy_human"
    shutil.copytree(shared_dataset("visium_fixtures", "scanpy_human"), folder)

    counts = sc.read_10x_h5(folder / "filtered_feature_bc_matrix.h5")
    table = read_positions_table(folder)
    table[1] = np.where(table[0].isin(counts.obs_names), "1", "0")
    write_positions_table(folder, table)
    return folder


# Real datasets


DATASETS = [
    pytest.param(("dlpfc", "151673"), {}, 3639, 5000, {"lowres"}, id="dlpfc-151673"),
    pytest.param(("dlpfc", "151674"), {}, 3673, 5000, {"lowres"}, id="dlpfc-151674"),
    pytest.param(("dlpfc", "151675"), {}, 3592, 5000, {"lowres"}, id="dlpfc-151675"),
    pytest.param(("dlpfc", "151676"), {}, 3460, 5000, {"lowres"}, id="dlpfc-151676"),
    pytest.param(
        ("cytassist_mouse_placenta",), {}, 2898, 19465, {"lowres"}, id="cytassist-header-format"
    ),
    pytest.param(
        ("mouse_intestine_image_only",),
        {"require_counts": False},
        1607,
        32285,
        {"hires", "lowres"},
        id="image-only",
    ),
    pytest.param(
        ("visium_fixtures", "scanpy_human"),
        {"spots_without_counts": "drop"},
        100,
        100,
        {"hires", "lowres"},
        id="scanpy-fixture",
    ),
    pytest.param(
        ("visium_fixtures", "seurat_mouse_brain"), {}, 2695, 100, {"lowres"}, id="seurat-fixture"
    ),
]


@pytest.mark.parametrize(("parts", "options", "n_obs", "n_vars", "levels"), DATASETS)
def test_real_dataset_loads_expected_shape(parts, options, n_obs, n_vars, levels):
    visium_slice = read_visium_slice(shared_dataset(*parts), **options)
    adata = visium_slice.adata

    assert adata.shape == (n_obs, n_vars)
    assert set(visium_slice.images) == levels
    assert visium_slice.library_id == parts[-1]
    assert adata.obsm["spatial"].shape == (n_obs, 2)
    assert adata.obsm["spatial"].dtype == np.float64
    assert (adata.obs["in_tissue"] == 1).all()
    assert adata.obs_names.is_unique
    assert adata.var_names.is_unique
    assert set(adata.uns["spatial"][parts[-1]]["images"]) == levels - {"fullres"}


def test_image_only_slice_has_no_counts():
    folder = shared_dataset("mouse_intestine_image_only")
    visium_slice = read_visium_slice(folder, require_counts=False)

    positions = pd.read_csv(folder / POSITIONS_LIST, header=None, index_col=0)
    in_tissue = positions.index[positions[1] == 1]
    assert visium_slice.adata.X is None
    assert list(visium_slice.adata.obs_names) == list(in_tissue)
    assert visium_slice.image_level("hires").shape == (1970, 2000)


def test_image_only_slice_needs_opt_in():
    with pytest.raises(MissingFileError, match=r"filtered_feature_bc_matrix\.h5.*matrix\.mtx\.gz"):
        read_visium_slice(shared_dataset("mouse_intestine_image_only"))


def test_dlpfc_drop_unlabelled_keeps_3611():
    visium_slice = read_visium_slice(shared_dataset("dlpfc", "151673"), drop_na_labels=True)

    assert visium_slice.adata.n_obs == 3611
    assert visium_slice.n_dropped_unlabelled == 28
    assert visium_slice.adata.obs["truth"].notna().all()


def test_dlpfc_positions_join_by_barcode():
    folder = shared_dataset("dlpfc", "151673")
    visium_slice = read_visium_slice(folder)

    # Columns 4 and 5 of the file are pxl_row (y) and pxl_col (x).
    positions = pd.read_csv(folder / POSITIONS_LIST, header=None, index_col=0)
    expected = positions.loc[visium_slice.adata.obs_names, [5, 4]].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(visium_slice.adata.obsm["spatial"], expected)
    np.testing.assert_array_equal(
        visium_slice.adata.obs["array_row"], positions.loc[visium_slice.adata.obs_names, 2]
    )


def test_header_positions_keep_float_pixels():
    folder = shared_dataset("cytassist_mouse_placenta")
    visium_slice = read_visium_slice(folder)

    positions = pd.read_csv(folder / "spatial" / "tissue_positions.csv", index_col="barcode")
    expected = positions.loc[
        visium_slice.adata.obs_names, ["pxl_col_in_fullres", "pxl_row_in_fullres"]
    ].to_numpy()
    np.testing.assert_array_equal(visium_slice.adata.obsm["spatial"], expected)
    assert visium_slice.scalefactors.extra == {"regist_target_img_scalef": 1.0}
    assert (
        visium_slice.adata.uns["spatial"]["cytassist_mouse_placenta"]["scalefactors"][
            "regist_target_img_scalef"
        ]
        == 1.0
    )


def test_dlpfc_scalefactors_and_lowres_level():
    visium_slice = read_visium_slice(shared_dataset("dlpfc", "151673"))
    lowres = visium_slice.image_level("lowres")

    assert visium_slice.scalefactors.spot_diameter_fullres == pytest.approx(96.40082438014726)
    assert visium_slice.scalefactors.tissue_hires_scalef == pytest.approx(0.150015)
    assert lowres.scale == pytest.approx(0.045004502)
    assert lowres.shape == (600, 600)
    assert lowres.extent_fullres == pytest.approx((13332, 13332), abs=1)


def test_missing_hires_names_file_and_levels():
    visium_slice = read_visium_slice(shared_dataset("dlpfc", "151673"))

    with pytest.raises(MissingImageLevelError, match=r"tissue_hires_image\.png.*lowres"):
        visium_slice.image_level("hires")
    with pytest.raises(MissingImageLevelError, match="fullres_image"):
        visium_slice.read_image("fullres")


def test_unknown_level_name_raises():
    visium_slice = read_visium_slice(shared_dataset("dlpfc", "151673"))

    with pytest.raises(InputError, match="'medium'"):
        visium_slice.image_level("medium")


def test_png_levels_read_as_rgb_uint8():
    scanpy_slice = read_visium_slice(
        shared_dataset("visium_fixtures", "scanpy_human"), spots_without_counts="drop"
    )
    dlpfc_slice = read_visium_slice(shared_dataset("dlpfc", "151673"))

    hires = scanpy_slice.read_image("hires")  # stored as RGBA
    lowres = dlpfc_slice.read_image("lowres")
    assert hires.shape == (2000, 2000, 3)
    assert hires.dtype == np.uint8
    assert lowres.shape == (600, 600, 3)
    assert lowres.dtype == np.uint8
    assert lowres.std() > 0

    region = dlpfc_slice.read_region("lowres", left=100, top=200, right=150, bottom=230)
    np.testing.assert_array_equal(region, lowres[200:230, 100:150])


def test_region_outside_level_raises():
    visium_slice = read_visium_slice(shared_dataset("dlpfc", "151673"))

    with pytest.raises(InputError, match="600 px wide"):
        visium_slice.read_region("lowres", left=590, top=0, right=610, bottom=10)


def test_spatial_matches_scanpy_read_visium():
    folder = shared_dataset("visium_fixtures", "scanpy_human")
    ours = read_visium_slice(folder, spots_without_counts="drop").adata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # read_visium is deprecated in scanpy 1.11
        theirs = sc.read_visium(folder)

    aligned = pd.DataFrame(theirs.obsm["spatial"], index=theirs.obs_names).loc[ours.obs_names]
    np.testing.assert_array_equal(ours.obsm["spatial"], aligned.to_numpy(dtype=np.float64))
    assert ours.uns["spatial"]["scanpy_human"]["scalefactors"] == pytest.approx(
        theirs.uns["spatial"]["custom"]["scalefactors"]
    )


# Bad and alternative inputs built from the 100-spot fixture


def test_consistent_fixture_loads(consistent_slice):
    visium_slice = read_visium_slice(consistent_slice)

    assert visium_slice.adata.shape == (100, 100)
    assert visium_slice.labels_source is None
    assert "truth" not in visium_slice.adata.obs


def test_in_tissue_spots_without_counts_raise():
    with pytest.raises(SpotJoinError, match="4135 in-tissue spots of tissue_positions_list.csv"):
        read_visium_slice(shared_dataset("visium_fixtures", "scanpy_human"))


def test_missing_counts_names_both_layouts(consistent_slice):
    (consistent_slice / "filtered_feature_bc_matrix.h5").unlink()

    with pytest.raises(
        MissingFileError, match=r"filtered_feature_bc_matrix\.h5 or filtered_feature_bc_matrix/"
    ):
        read_visium_slice(consistent_slice)


def test_mtx_folder_matches_h5(consistent_slice):
    h5_path = consistent_slice / "filtered_feature_bc_matrix.h5"
    expected = read_visium_slice(consistent_slice).adata
    counts = sc.read_10x_h5(h5_path)
    mtx_folder = consistent_slice / "filtered_feature_bc_matrix"
    mtx_folder.mkdir()
    with gzip.open(mtx_folder / "matrix.mtx.gz", "wb") as handle:
        sparse_io.mmwrite(handle, sparse.csr_matrix(counts.X).T.tocoo())
    with gzip.open(mtx_folder / "barcodes.tsv.gz", "wt") as handle:
        handle.write("\n".join(counts.obs_names) + "\n")
    with gzip.open(mtx_folder / "features.tsv.gz", "wt") as handle:
        rows = zip(
            counts.var["gene_ids"], counts.var_names, counts.var["feature_types"], strict=True
        )
        handle.write("".join(f"{gene_id}\t{name}\t{kind}\n" for gene_id, name, kind in rows))
    h5_path.unlink()

    obtained = read_visium_slice(consistent_slice).adata
    assert list(obtained.obs_names) == list(expected.obs_names)
    assert list(obtained.var_names) == list(expected.var_names)
    np.testing.assert_array_equal(obtained.X.toarray(), expected.X.toarray())
    np.testing.assert_array_equal(obtained.obsm["spatial"], expected.obsm["spatial"])


def test_missing_positions_raise(consistent_slice):
    (consistent_slice / POSITIONS_LIST).unlink()

    with pytest.raises(
        MissingFileError, match=r"tissue_positions\.csv.*tissue_positions_list\.csv"
    ):
        read_visium_slice(consistent_slice)


def test_positions_with_extra_column_raise(consistent_slice):
    table = read_positions_table(consistent_slice)
    table[6] = "0"
    write_positions_table(consistent_slice, table)

    with pytest.raises(
        InputError,
        match=r"tissue_positions_list\.csv.*7 comma-separated fields.*pxl_col_in_fullres",
    ):
        read_visium_slice(consistent_slice)


def test_positions_with_unknown_header_raise(consistent_slice):
    table = read_positions_table(consistent_slice)
    table.columns = ["barcode", "in_tissue", "row", "col", "y", "x"]
    table.to_csv(consistent_slice / POSITIONS_LIST, index=False)

    with pytest.raises(InputError, match=r"header is 'barcode,in_tissue,row,col,y,x'.*array_row"):
        read_visium_slice(consistent_slice)


def test_positions_with_header_match_headerless(consistent_slice):
    expected = read_visium_slice(consistent_slice).adata
    table = read_positions_table(consistent_slice)
    table.columns = list(POSITIONS_HEADER)
    # Columns in another order must still be read by name.
    table = table[list(reversed(POSITIONS_HEADER))]
    table.to_csv(consistent_slice / "spatial" / "tissue_positions.csv", index=False)
    (consistent_slice / POSITIONS_LIST).unlink()

    obtained = read_visium_slice(consistent_slice).adata
    np.testing.assert_array_equal(obtained.obsm["spatial"], expected.obsm["spatial"])
    np.testing.assert_array_equal(obtained.obs["array_col"], expected.obs["array_col"])


def test_both_positions_files_raise(consistent_slice):
    shutil.copy(
        consistent_slice / POSITIONS_LIST, consistent_slice / "spatial" / "tissue_positions.csv"
    )

    with pytest.raises(InputError, match="ambiguous"):
        read_visium_slice(consistent_slice)


def test_non_numeric_position_raises(consistent_slice):
    table = read_positions_table(consistent_slice)
    table.iloc[3, 4] = "twelve"
    write_positions_table(consistent_slice, table)

    with pytest.raises(InputError, match="'pxl_row_in_fullres'.*'twelve'"):
        read_visium_slice(consistent_slice)


def test_duplicated_position_barcodes_raise(consistent_slice):
    table = read_positions_table(consistent_slice)
    table = pd.concat([table, table.iloc[[0, 1]]], ignore_index=True)
    write_positions_table(consistent_slice, table)

    with pytest.raises(SpotJoinError, match="2 barcodes occur more than once"):
        read_visium_slice(consistent_slice)


@pytest.mark.filterwarnings("ignore:Observation names are not unique")
def test_duplicated_count_barcodes_raise(consistent_slice):
    with h5py.File(consistent_slice / "filtered_feature_bc_matrix.h5", "r+") as handle:
        barcodes = handle["matrix/barcodes"][()]
        barcodes[1] = barcodes[0]
        handle["matrix/barcodes"][...] = barcodes

    with pytest.raises(SpotJoinError, match=r"1 barcodes occur more than once in .*\.h5"):
        read_visium_slice(consistent_slice)


def test_counted_barcodes_missing_from_positions(consistent_slice):
    counts = sc.read_10x_h5(consistent_slice / "filtered_feature_bc_matrix.h5")
    table = read_positions_table(consistent_slice)
    removed = list(counts.obs_names[:3])
    write_positions_table(consistent_slice, table[~table[0].isin(removed)])

    with pytest.raises(
        SpotJoinError, match="3 count-matrix barcodes are not in-tissue spots"
    ) as info:
        read_visium_slice(consistent_slice)
    assert all(barcode in str(info.value) for barcode in removed)


def test_spot_outside_image_raises(consistent_slice):
    table = read_positions_table(consistent_slice)
    row = int(np.flatnonzero(table[1] == "1")[0])
    table.iloc[row, 5] = "14000"
    write_positions_table(consistent_slice, table)

    with pytest.raises(InputError, match=rf"1 of 100 spots lie outside.*{table.iloc[row, 0]}"):
        read_visium_slice(consistent_slice)


def test_negative_coordinate_raises(consistent_slice):
    table = read_positions_table(consistent_slice)
    row = int(np.flatnonzero(table[1] == "1")[0])
    table.iloc[row, 4] = "-3"
    write_positions_table(consistent_slice, table)

    with pytest.raises(InputError, match="1 of 100 spots have negative"):
        read_visium_slice(consistent_slice)


@pytest.mark.parametrize(("n_obs", "n_vars"), [(100, 0), (0, 5)], ids=["no-genes", "no-spots"])
def test_empty_matrix_raises(consistent_slice, n_obs, n_vars):
    counts = sc.read_10x_h5(consistent_slice / "filtered_feature_bc_matrix.h5")
    write_10x_h5(
        consistent_slice / "filtered_feature_bc_matrix.h5",
        np.zeros((n_obs, n_vars)),
        barcodes=list(counts.obs_names[:n_obs]),
        genes=[f"GENE{i}" for i in range(n_vars)],
    )

    with pytest.raises(InputError, match=rf"is empty: {n_obs} spots x {n_vars} genes"):
        read_visium_slice(consistent_slice)


def test_missing_scalefactors_raise(consistent_slice):
    (consistent_slice / "spatial" / "scalefactors_json.json").unlink()

    with pytest.raises(MissingFileError, match=r"scalefactors_json\.json"):
        read_visium_slice(consistent_slice)


def test_scalefactors_without_key_raise(consistent_slice):
    path = consistent_slice / "spatial" / "scalefactors_json.json"
    path.write_text('{"spot_diameter_fullres": 89.4, "tissue_hires_scalef": 0.15}')

    with pytest.raises(InputError, match="fiducial_diameter_fullres.*tissue_lowres_scalef"):
        read_visium_slice(consistent_slice)


def test_missing_png_levels_are_normal(consistent_slice):
    (consistent_slice / "spatial" / "tissue_hires_image.png").unlink()
    (consistent_slice / "spatial" / "tissue_lowres_image.png").unlink()

    visium_slice = read_visium_slice(consistent_slice)
    assert dict(visium_slice.images) == {}
    assert visium_slice.adata.uns["spatial"]["scanpy_human"]["images"] == {}
    with pytest.raises(MissingImageLevelError, match="Levels that exist: none"):
        visium_slice.image_level("lowres")


def test_positions_only_folder_without_counts(consistent_slice):
    (consistent_slice / "filtered_feature_bc_matrix.h5").unlink()

    visium_slice = read_visium_slice(consistent_slice, require_counts=False)
    assert visium_slice.adata.shape == (100, 0)
    assert visium_slice.adata.X is None


# Full-resolution TIFF


@pytest.fixture
def fullres_slice(consistent_slice) -> tuple[Path, np.ndarray]:
    """The consistent fixture shrunk tenfold, with a tiled 1400 x 1400 px full-resolution TIFF."""
    table = read_positions_table(consistent_slice)
    for column in (4, 5):
        table[column] = (table[column].astype(int) // 10).astype(str)
    write_positions_table(consistent_slice, table)
    (consistent_slice / "spatial" / "tissue_hires_image.png").unlink()
    (consistent_slice / "spatial" / "tissue_lowres_image.png").unlink()

    pixels = np.random.default_rng(0).integers(0, 256, size=(1400, 1400, 3), dtype=np.uint8)
    tifffile.imwrite(
        consistent_slice / "spatial" / "tissue_full_image.tif",
        pixels,
        photometric="rgb",
        tile=(256, 256),
    )
    return consistent_slice, pixels


def test_fullres_tiff_level_found(fullres_slice):
    folder, pixels = fullres_slice
    visium_slice = read_visium_slice(folder)
    level = visium_slice.image_level("fullres")

    assert level.shape == (1400, 1400)
    assert level.scale == 1.0
    np.testing.assert_array_equal(visium_slice.read_image("fullres"), pixels)
    assert "fullres" not in visium_slice.adata.uns["spatial"]["scanpy_human"]["images"]


def test_fullres_region_reads_only_tiles(fullres_slice, monkeypatch):
    folder, pixels = fullres_slice
    visium_slice = read_visium_slice(folder)

    def reject_whole_read(*args, **kwargs):
        msg = "the whole TIFF page was decoded"
        raise AssertionError(msg)

    monkeypatch.setattr(tifffile.TiffPage, "asarray", reject_whole_read)
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", reject_whole_read)
    region = visium_slice.read_region("fullres", left=300, top=1000, right=812, bottom=1300)
    np.testing.assert_array_equal(region, pixels[1000:1300, 300:812])


def test_spot_outside_fullres_raises(fullres_slice):
    folder, _ = fullres_slice
    table = read_positions_table(folder)
    row = int(np.flatnonzero(table[1] == "1")[0])
    table.iloc[row, 4] = "1401"
    write_positions_table(folder, table)

    with pytest.raises(InputError, match=r"1400 x 1400 px.*fullres image tissue_full_image\.tif"):
        read_visium_slice(folder)


def test_several_tiff_candidates_raise(fullres_slice):
    folder, pixels = fullres_slice
    (folder / "spatial" / "tissue_full_image.tif").rename(folder / "slide_a.tif")
    tifffile.imwrite(folder / "spatial" / "slide_b.tiff", pixels)

    with pytest.raises(
        InputError, match=r"2 candidate.*slide_a\.tif.*slide_b\.tiff.*fullres_image="
    ):
        read_visium_slice(folder)
    chosen = read_visium_slice(folder, fullres_image=folder / "slide_a.tif")
    assert chosen.image_level("fullres").path == folder / "slide_a.tif"


def test_missing_explicit_fullres_raises(consistent_slice):
    with pytest.raises(MissingFileError, match="fullres_image='.*nowhere.tif'"):
        read_visium_slice(consistent_slice, fullres_image=consistent_slice / "nowhere.tif")


SCALEFACTORS = ScaleFactors(
    spot_diameter_fullres=90.0,
    fiducial_diameter_fullres=140.0,
    tissue_hires_scalef=0.15,
    tissue_lowres_scalef=0.045,
)

TIFF_LAYOUTS = [
    pytest.param(np.arange(60 * 80, dtype=np.uint8).reshape(60, 80), {}, id="grey"),
    pytest.param(
        np.arange(60 * 80 * 4, dtype=np.uint8).reshape(60, 80, 4), {"photometric": "rgb"}, id="rgba"
    ),
    pytest.param(
        np.arange(3 * 60 * 80, dtype=np.uint8).reshape(3, 60, 80),
        {"photometric": "rgb", "planarconfig": "separate"},
        id="planar-rgb",
    ),
]


@pytest.mark.parametrize(("stored", "options"), TIFF_LAYOUTS)
def test_tiff_layouts_read_as_rgb(tmp_path, stored, options):
    path = tmp_path / "image.tif"
    tifffile.imwrite(path, stored, **options)
    level = find_image_levels(tmp_path, scalefactors=SCALEFACTORS, fullres_image=path)["fullres"]

    if stored.ndim == 2:
        expected = np.repeat(stored[:, :, np.newaxis], 3, axis=2)
    elif stored.shape[0] == 3:
        expected = np.moveaxis(stored, 0, -1)
    else:
        expected = stored[:, :, :3]
    assert level.shape == (60, 80)
    np.testing.assert_array_equal(read_level_image(level), expected)
    np.testing.assert_array_equal(
        read_level_region(level, left=10, top=20, right=30, bottom=50), expected[20:50, 10:30]
    )


def test_sixteen_bit_tiff_raises(tmp_path):
    path = tmp_path / "image.tif"
    tifffile.imwrite(path, np.zeros((20, 30, 3), dtype=np.uint16), photometric="rgb")
    level = find_image_levels(tmp_path, scalefactors=SCALEFACTORS, fullres_image=path)["fullres"]

    with pytest.raises(InputError, match="dtype uint16; expected uint8"):
        read_level_image(level)
