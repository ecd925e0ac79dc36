"""Tests of the synthetic Visium slice generator (harness.synth)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.spatial import cKDTree

from harness.errors import CorruptArtifactError, InputError
from harness.synth import (
    DOMAIN_NAMES,
    GENERATOR_VERSION,
    default_synthetic_slice,
    read_synthetic_spec,
    write_synthetic_slice,
)
from harness.synth.domains import BACKGROUND, NA_FRACTION, build_layer_model
from harness.synth.writer import DEFAULT_N_GENES
from harness.synth.grid import (
    COL_STEP_PX,
    ROW_STEP_PX,
    SPOT_PITCH_PX,
    build_spot_grid,
    make_barcodes,
)
from harness.synth.histology import build_histology_model, level_shape
from harness.synth.spec import LEVEL_SCALE, MARKERS_PER_DOMAIN

N_SPOTS = 500
BARCODE_PATTERN = re.compile(r"^[ACGT]{16}-1$")


def _digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _read_truth(folder: Path) -> pd.Series:
    table = pd.read_csv(
        folder / "truth.txt",
        sep="\t",
        header=None,
        names=["barcode", "label"],
        keep_default_na=False,
        dtype=str,
    )
    return table.set_index("barcode")["label"]


def _read_visium(folder: Path):
    with warnings.catch_warnings():
        # scanpy 1.11 deprecates read_visium in favour of squidpy.
        warnings.simplefilter("ignore", FutureWarning)
        return sc.read_visium(folder, load_images=True)


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_slice(
        tmp_path_factory.mktemp("slice") / "seed0", n_spots=N_SPOTS, seed=0, workers=2
    )


@pytest.fixture(scope="module")
def adata(slice_dir: Path):
    return _read_visium(slice_dir)


@pytest.fixture(scope="module")
def fullres(slice_dir: Path) -> np.ndarray:
    return tifffile.imread(slice_dir / "spatial" / "tissue_full_image.tif")


# --- Space Ranger folder as scanpy reads it ---------------------------------


def test_scanpy_reads_counts_and_images(slice_dir: Path, adata) -> None:
    spec = read_synthetic_spec(slice_dir)
    library = adata.uns["spatial"][spec.library_id]

    assert adata.shape == (N_SPOTS, DEFAULT_N_GENES)
    assert (adata.obs["in_tissue"] == 1).all()
    assert library["images"]["hires"].shape == (*level_shape("hires", spec.fullres_shape), 3)
    assert library["images"]["lowres"].shape == (*level_shape("lowres", spec.fullres_shape), 3)
    assert library["scalefactors"] == {
        "spot_diameter_fullres": 96.4,
        "tissue_hires_scalef": 0.15,
        "fiducial_diameter_fullres": 144.6,
        "tissue_lowres_scalef": 0.045,
    }


def test_scanpy_counts_are_integers(adata) -> None:
    values = adata.X.data
    assert adata.X.nnz > 0
    assert np.array_equal(values, np.round(values))
    assert values.min() >= 1


def test_count_matrix_has_cell_ranger_layout(slice_dir: Path) -> None:
    with h5py.File(slice_dir / "filtered_feature_bc_matrix.h5", "r") as handle:
        matrix = handle["matrix"]
        n_genes, n_barcodes = matrix["shape"][:]
        indptr = matrix["indptr"][:]
        indices = matrix["indices"][:]

        assert (n_genes, n_barcodes) == (DEFAULT_N_GENES, N_SPOTS)
        assert matrix["data"].dtype == np.int32
        assert matrix["indices"].dtype == np.int64
        assert indptr.dtype == np.int64
        assert matrix["shape"].dtype == np.int32
        assert indptr.shape == (N_SPOTS + 1,)
        assert indptr[-1] == matrix["data"].shape[0]
        assert np.all(np.diff(indptr) >= 0)
        assert indices.max() < n_genes
        assert matrix["features/feature_type"][0] == b"Gene Expression"
        assert list(matrix["features/_all_tag_keys"][:]) == [b"genome"]
        assert handle.attrs["filetype"] == b"matrix"

    # Within a barcode's column the gene indices must ascend, as Cell Ranger writes them.
    rows = np.repeat(np.arange(N_SPOTS), np.diff(indptr))
    same_row = rows[1:] == rows[:-1]
    assert np.all(np.diff(indices)[same_row] > 0)


def test_count_matrix_datasets_match_dlpfc(slice_dir: Path, dlpfc_151673: Path) -> None:
    def layout(path: Path) -> dict[str, str]:
        found = {}
        with h5py.File(path, "r") as handle:
            handle.visititems(
                lambda name, item: found.__setitem__(name, item.dtype.kind)
                if isinstance(item, h5py.Dataset)
                else None
            )
        return found

    assert layout(slice_dir / "filtered_feature_bc_matrix.h5") == layout(
        dlpfc_151673 / "filtered_feature_bc_matrix.h5"
    )


def test_scanpy_read_10x_h5_matches_matrix(slice_dir: Path, adata) -> None:
    counts = sc.read_10x_h5(slice_dir / "filtered_feature_bc_matrix.h5")
    assert list(counts.obs_names) == list(adata.obs_names)
    assert (counts.X != adata.X).nnz == 0
    assert counts.var["gene_ids"].iloc[0] == "SYNG00001"
    assert counts.var_names.is_unique


def test_barcodes_look_like_10x(adata) -> None:
    barcodes = adata.obs_names
    assert barcodes.is_unique
    assert all(BARCODE_PATTERN.match(barcode) for barcode in barcodes)
    assert list(barcodes) == sorted(barcodes)


def test_make_barcodes_unique_for_many() -> None:
    barcodes = make_barcodes(200_000, seed=3)
    assert len(set(barcodes.tolist())) == 200_000
    assert BARCODE_PATTERN.match(barcodes[0])


# --- Grid geometry -----------------------------------------------------------


def _read_positions(folder: Path) -> pd.DataFrame:
    return pd.read_csv(
        folder / "spatial" / "tissue_positions_list.csv",
        header=None,
        names=["barcode", "in_tissue", "array_row", "array_col", "y", "x"],
        index_col="barcode",
    )


def test_positions_surround_tissue_with_margin(slice_dir: Path, adata) -> None:
    positions = _read_positions(slice_dir)
    spec = read_synthetic_spec(slice_dir)
    n_rows, n_cols = spec.grid_shape
    in_tissue = positions[positions["in_tissue"] == 1]

    assert len(in_tissue) == N_SPOTS
    assert set(in_tissue.index) == set(adata.obs_names)
    assert len(positions) > 1.5 * N_SPOTS
    assert in_tissue["array_row"].between(2, n_rows - 3).all()
    assert in_tissue["array_col"].between(2, n_cols - 3).all()
    assert ((positions["array_row"] % 2) == (positions["array_col"] % 2)).all()
    height, width = spec.fullres_shape
    assert positions["x"].between(300, width - 300).all()
    assert positions["y"].between(300, height - 300).all()


def test_scanpy_spatial_matches_positions(slice_dir: Path, adata) -> None:
    positions = _read_positions(slice_dir).loc[adata.obs_names]
    expected = positions[["x", "y"]].to_numpy(dtype=np.float64)
    assert np.array_equal(adata.obsm["spatial"].astype(np.float64), expected)


def test_positions_form_hexagonal_lattice(slice_dir: Path) -> None:
    positions = _read_positions(slice_dir)
    keyed = positions.reset_index().set_index(["array_row", "array_col"])
    rows = keyed.index.get_level_values(0)
    cols = keyed.index.get_level_values(1)
    right = keyed.reindex(pd.MultiIndex.from_arrays([rows, cols + 2]))
    below = keyed.reindex(pd.MultiIndex.from_arrays([rows + 1, cols + 1]))
    dx = right["x"].to_numpy() - keyed["x"].to_numpy()
    dy = below["y"].to_numpy() - keyed["y"].to_numpy()
    dx_below = below["x"].to_numpy() - keyed["x"].to_numpy()

    assert np.nanmax(np.abs(dx - SPOT_PITCH_PX)) <= 1.0
    assert np.nanmax(np.abs(dy - ROW_STEP_PX)) <= 1.0
    assert np.nanmax(np.abs(dx_below - COL_STEP_PX)) <= 1.0


def test_spot_spacing_matches_dlpfc(slice_dir: Path, dlpfc_151673: Path) -> None:
    def median_neighbour_distance(path: Path) -> float:
        table = pd.read_csv(path, header=None)
        xy = table[[5, 4]].to_numpy(dtype=np.float64)
        distance, _ = cKDTree(xy).query(xy, k=2)
        return float(np.median(distance[:, 1]))

    real = median_neighbour_distance(dlpfc_151673 / "spatial" / "tissue_positions_list.csv")
    synthetic = median_neighbour_distance(slice_dir / "spatial" / "tissue_positions_list.csv")
    assert abs(synthetic - real) / real < 0.01


@settings(max_examples=15, deadline=None)
@given(n_spots=st.integers(100, 60_000), seed=st.integers(0, 2**32))
def test_grid_holds_exact_spot_count(n_spots: int, seed: int) -> None:
    grid = build_spot_grid(n_spots=n_spots, seed=seed)
    layers = build_layer_model(grid, seed=seed)
    x = grid.x_px.astype(np.float64)
    y = grid.y_px.astype(np.float64)
    labels = layers.label_at(x, y)

    assert int(grid.in_tissue.sum()) == n_spots
    assert np.array_equal(labels >= 0, grid.in_tissue)
    counts = np.bincount(labels[grid.in_tissue], minlength=len(DOMAIN_NAMES))
    assert counts.min() >= 0.05 * n_spots
    distance, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    assert np.allclose(distance[:, 1], SPOT_PITCH_PX, atol=1.0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), spot=st.integers(0, 10_000))
def test_spot_label_equals_pixel_label(seed: int, spot: int) -> None:
    grid = build_spot_grid(n_spots=2000, seed=seed)
    layers = build_layer_model(grid, seed=seed)
    index = spot % grid.x_px.size
    x, y = int(grid.x_px[index]), int(grid.y_px[index])
    rows = np.arange(y - 40, y + 41, dtype=np.float64)[:, None]
    cols = np.arange(x - 40, x + 41, dtype=np.float64)[None, :]

    window = layers.label_at(cols, rows)
    spot_label = layers.label_at(np.array([float(x)]), np.array([float(y)]))[0]
    assert window[40, 40] == spot_label


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 50),
    left=st.integers(0, 12_000),
    top=st.integers(0, 10_000),
    size=st.integers(8, 600),
)
def test_constant_label_agrees_with_pixels(seed: int, left: int, top: int, size: int) -> None:
    grid = build_spot_grid(n_spots=3000, seed=seed)
    layers = build_layer_model(grid, seed=seed)
    x = np.arange(left, left + size, dtype=np.float64)[None, :]
    y = np.arange(top, top + size, dtype=np.float64)[:, None]

    constant = layers.constant_label(
        x_min=float(x[0, 0]), x_max=float(x[0, -1]), y_min=float(y[0, 0]), y_max=float(y[-1, 0])
    )
    if constant is not None:
        assert np.all(layers.label_at(x, y) == constant)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 50),
    left=st.integers(0, 12_000),
    top=st.integers(0, 10_000),
    size=st.integers(8, 600),
)
def test_label_grid_equals_label_at(seed: int, left: int, top: int, size: int) -> None:
    grid = build_spot_grid(n_spots=3000, seed=seed)
    layers = build_layer_model(grid, seed=seed)
    x = np.arange(left, left + size, dtype=np.float64)[None, :]
    y = np.arange(top, top + size, dtype=np.float64)[:, None]

    expected = layers.label_at(x, y)
    labels = np.broadcast_to(layers.label_grid(x, y), expected.shape)
    assert np.array_equal(labels, expected)


# --- Determinism --------------------------------------------------------------


def test_same_seed_gives_identical_files(slice_dir: Path, tmp_path: Path) -> None:
    # One thread here and two in the fixture: threading must not change a byte.
    again = write_synthetic_slice(tmp_path / "again", n_spots=N_SPOTS, seed=0, workers=1)
    assert _digests(again) == _digests(slice_dir)


def test_other_seed_changes_every_data_file(slice_dir: Path, tmp_path: Path) -> None:
    # The TIFF is left out to save time; the PNGs show that the image follows the seed.
    other = write_synthetic_slice(
        tmp_path / "other", n_spots=N_SPOTS, seed=1, image_levels=("hires", "lowres")
    )
    first, second = _digests(slice_dir), _digests(other)
    assert set(second) == set(first) - {"spatial/tissue_full_image.tif"}
    unchanged = {name for name in second if first[name] == second[name]}
    assert unchanged == {"spatial/scalefactors_json.json"}


# --- Domains and labels ---------------------------------------------------------


def test_truth_has_seven_domains_and_na(slice_dir: Path, adata) -> None:
    truth = _read_truth(slice_dir)
    spec = read_synthetic_spec(slice_dir)

    assert list(truth.index) == list(adata.obs_names)
    assert set(truth) == {*DOMAIN_NAMES, "NA"}
    assert (truth == "NA").sum() == spec.n_na_spots == max(1, round(NA_FRACTION * N_SPOTS))
    assert spec.n_na_spots <= 0.02 * N_SPOTS


def test_domains_form_contiguous_bands(slice_dir: Path, adata) -> None:
    truth = _read_truth(slice_dir).loc[adata.obs_names]
    xy = adata.obsm["spatial"].astype(np.float64)
    labelled = (truth != "NA").to_numpy()
    tree = cKDTree(xy[labelled])
    _, neighbours = tree.query(xy[labelled], k=7)
    labels = truth.to_numpy()[labelled]

    # Share of the 6 nearest neighbours in the same domain: about 0.8 for these
    # bands, about 0.2 for labels shuffled over the same spots.
    same = (labels[neighbours[:, 1:]] == labels[:, None]).mean()
    assert same > 0.7


def test_markers_are_higher_in_own_domain(slice_dir: Path, adata) -> None:
    spec = read_synthetic_spec(slice_dir)
    truth = _read_truth(slice_dir).loc[adata.obs_names].to_numpy()
    counts = adata.X.toarray() if sp.issparse(adata.X) else adata.X
    normalised = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)

    for domain in DOMAIN_NAMES:
        markers = adata.var_names.get_indexer(spec.marker_genes[domain])
        assert len(markers) == MARKERS_PER_DOMAIN
        assert np.all(markers >= 0)
        score = normalised[:, markers].mean(axis=1)
        inside = score[truth == domain].mean()
        outside = score[(truth != domain) & (truth != "NA")].mean()
        assert inside - outside > 0.5, domain


def test_counts_are_sparse_like_visium(adata) -> None:
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    zero_share = 1.0 - adata.X.nnz / np.prod(adata.shape)
    assert 0.7 < zero_share < 0.95
    assert 500 < np.median(totals) < 3000
    assert np.percentile(totals, 95) / np.percentile(totals, 5) > 3


# --- Image ----------------------------------------------------------------------


def _mean_colour_at_spots(image: np.ndarray, xy: np.ndarray, radius: int) -> np.ndarray:
    rows = np.rint(xy[:, 1]).astype(int)
    cols = np.rint(xy[:, 0]).astype(int)
    offsets = np.arange(-radius, radius + 1)
    window = image[
        rows[:, None, None] + offsets[None, :, None], cols[:, None, None] + offsets[None, None, :]
    ]
    return window.reshape(len(xy), -1, 3).mean(axis=1)


def test_tiff_is_tiled_compressed_rgb(slice_dir: Path, fullres: np.ndarray) -> None:
    spec = read_synthetic_spec(slice_dir)
    with tifffile.TiffFile(slice_dir / "spatial" / "tissue_full_image.tif") as tiff:
        page = tiff.pages[0]
        assert page.is_tiled
        assert (page.tilelength, page.tilewidth) == (512, 512)
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert page.photometric == tifffile.PHOTOMETRIC.RGB
    assert fullres.shape == (*spec.fullres_shape, 3)
    assert fullres.dtype == np.uint8


def test_image_colour_differs_between_domains(slice_dir: Path, adata, fullres: np.ndarray) -> None:
    truth = _read_truth(slice_dir).loc[adata.obs_names].to_numpy()
    colours = _mean_colour_at_spots(fullres, adata.obsm["spatial"].astype(np.float64), radius=30)
    per_domain = np.array([colours[truth == domain].mean(axis=0) for domain in DOMAIN_NAMES])
    gaps = np.linalg.norm(per_domain[:, None, :] - per_domain[None, :, :], axis=-1)

    assert gaps.max() > 40
    # Layer1 and WM are pale, the dense middle layers are darker.
    brightness = dict(zip(DOMAIN_NAMES, per_domain.mean(axis=1), strict=True))
    assert brightness["WM"] > brightness["Layer4"] + 15
    assert brightness["Layer1"] > brightness["Layer2"] + 15


def test_background_is_near_white(slice_dir: Path, adata, fullres: np.ndarray) -> None:
    spec = read_synthetic_spec(slice_dir)
    hires = adata.uns["spatial"][spec.library_id]["images"]["hires"]
    for corner in (fullres[:300, :300], fullres[-300:, -300:], (hires[:40, :40] * 255)):
        pixels = corner.reshape(-1, 3).astype(np.float64)
        assert pixels.mean(axis=0).min() > 235
        assert pixels.std(axis=0).max() < 5


@pytest.mark.parametrize("level", ["hires", "lowres"])
def test_png_level_matches_downsampled_tiff(
    slice_dir: Path, adata, fullres: np.ndarray, level: str
) -> None:
    scale = LEVEL_SCALE[level]
    name = f"tissue_{level}_image.png"
    image = np.asarray(Image.open(slice_dir / "spatial" / name), dtype=np.float64)
    xy = adata.obsm["spatial"].astype(np.float64)
    # Compare 5 x 5 level pixels with the full-resolution area they cover.
    radius = 2
    level_colour = _mean_colour_at_spots(image, np.rint(xy * scale), radius=radius)
    full_radius = int(round((radius + 0.5) / scale))
    full_colour = _mean_colour_at_spots(fullres, np.rint(xy * scale) / scale, radius=full_radius)
    difference = level_colour - full_colour

    assert np.abs(difference.mean(axis=0)).max() < 2.0
    assert np.abs(difference).mean(axis=0).max() < 8.0


# --- Spec, options and arguments -----------------------------------------------


def test_spec_records_parameters(slice_dir: Path) -> None:
    spec = read_synthetic_spec(slice_dir)
    raw = json.loads((slice_dir / "synthetic.json").read_text())

    assert (spec.seed, spec.n_spots, spec.n_genes) == (0, N_SPOTS, DEFAULT_N_GENES)
    assert spec.domain_names == DOMAIN_NAMES
    assert spec.image_levels == ("fullres", "hires", "lowres")
    assert raw["generator_version"] == spec.generator_version
    markers = [gene for genes in spec.marker_genes.values() for gene in genes]
    assert len(set(markers)) == len(DOMAIN_NAMES) * MARKERS_PER_DOMAIN


def test_level_subset_and_new_positions_format(tmp_path: Path) -> None:
    folder = write_synthetic_slice(
        tmp_path / "lowres_only",
        n_spots=150,
        seed=4,
        n_genes=300,
        image_levels=("lowres",),
        positions_file="tissue_positions.csv",
    )
    spatial = sorted(path.name for path in (folder / "spatial").iterdir())
    assert spatial == ["scalefactors_json.json", "tissue_lowres_image.png", "tissue_positions.csv"]
    header = (folder / "spatial" / "tissue_positions.csv").read_text().splitlines()[0]
    assert header == "barcode,in_tissue,array_row,array_col,pxl_row_in_fullres,pxl_col_in_fullres"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        adata = sc.read_visium(folder, load_images=False)
    assert adata.shape == (150, 300)


def test_nuclei_do_not_depend_on_tiling() -> None:
    grid = build_spot_grid(n_spots=400, seed=2)
    model = build_histology_model(build_layer_model(grid, seed=2), seed=2)
    top = int(grid.tissue.center_y) - 300
    left = int(grid.tissue.center_x) - 300

    whole = model._nucleus_alpha(top=top, left=left, height=600, width=600)
    part = model._nucleus_alpha(top=top + 250, left=left + 250, height=100, width=100)
    assert whole.max() == 1.0
    assert np.array_equal(whole[250:350, 250:350], part)


def test_background_tile_has_no_nuclei() -> None:
    grid = build_spot_grid(n_spots=400, seed=2)
    layers = build_layer_model(grid, seed=2)
    model = build_histology_model(layers, seed=2)

    tile = model.render(level="fullres", top=0, left=0, height=256, width=256)
    assert layers.constant_label(x_min=0, x_max=255, y_min=0, y_max=255) == BACKGROUND
    assert tile.min() > 230


INVALID_ARGUMENTS = [
    pytest.param({"n_spots": 0}, "0", id="zero-spots"),
    pytest.param({"n_spots": -5}, "-5", id="negative-spots"),
    pytest.param({"n_spots": 99}, "99", id="too-few-spots"),
    pytest.param({"n_spots": 100_001}, "100001", id="too-many-spots"),
    pytest.param({"n_spots": 500.0}, "500.0", id="float-spots"),
    pytest.param({"n_spots": True}, "True", id="bool-spots"),
    pytest.param({"seed": -1}, "-1", id="negative-seed"),
    pytest.param({"seed": "0"}, "'0'", id="string-seed"),
    pytest.param({"n_genes": 209}, "209", id="genes-below-markers"),
    pytest.param({"n_genes": 40_001}, "40001", id="too-many-genes"),
    pytest.param({"image_levels": ("fullres", "bogus")}, "'bogus'", id="unknown-level"),
    pytest.param({"image_levels": ("hires", "hires")}, "'hires', 'hires'", id="repeated-level"),
    pytest.param({"image_levels": "hires"}, "'hires'", id="level-string"),
    pytest.param({"positions_file": "spots.csv"}, "'spots.csv'", id="unknown-positions-file"),
    pytest.param({"workers": 0}, "0", id="zero-workers"),
]


@pytest.mark.parametrize(("arguments", "shown"), INVALID_ARGUMENTS)
def test_invalid_argument_raises_input_error(
    tmp_path: Path, arguments: dict, shown: str
) -> None:
    with pytest.raises(InputError, match=re.escape(shown)) as raised:
        write_synthetic_slice(tmp_path / "out", **arguments)
    name = next(iter(arguments))
    assert f"`{name}`" in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_numpy_integer_arguments_are_accepted(tmp_path: Path) -> None:
    folder = write_synthetic_slice(
        tmp_path / "numpy",
        n_spots=np.int64(120),
        seed=np.uint32(3),
        n_genes=np.int32(250),
        image_levels=["lowres"],
    )
    spec = read_synthetic_spec(folder)
    assert (spec.n_spots, spec.seed, spec.n_genes) == (120, 3, 250)


def test_non_empty_folder_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(InputError, match="not empty"):
        write_synthetic_slice(tmp_path, n_spots=100)
    assert (tmp_path / "keep.txt").read_text() == "user data"


# --- Cache -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache")
    default_synthetic_slice(root, n_spots=110, seed=5)
    return root


def _copy_cache(cache_root: Path, destination: Path) -> Path:
    shutil.copytree(cache_root, destination)
    return destination


def test_default_slice_is_generated_once(cache_root: Path) -> None:
    folder = cache_root / f"{GENERATOR_VERSION}-110-5"
    stamp = (folder / "truth.txt").stat().st_mtime_ns
    again = default_synthetic_slice(cache_root, n_spots=110, seed=5)

    assert again == folder
    assert (folder / ".complete.json").is_file()
    assert (folder / "truth.txt").stat().st_mtime_ns == stamp
    assert read_synthetic_spec(folder).n_spots == 110
    assert [path.name for path in cache_root.iterdir()] == [folder.name]


def test_default_slice_uses_cache_env(
    cache_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_cache(cache_root, tmp_path / "synthetic")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    folder = default_synthetic_slice(n_spots=110, seed=5)
    assert folder == tmp_path / "synthetic" / f"{GENERATOR_VERSION}-110-5"


def test_changed_cached_file_is_detected(cache_root: Path, tmp_path: Path) -> None:
    root = _copy_cache(cache_root, tmp_path / "cache")
    with (root / f"{GENERATOR_VERSION}-110-5" / "truth.txt").open("a") as handle:
        handle.write("extra\n")
    with pytest.raises(CorruptArtifactError, match="truth.txt"):
        default_synthetic_slice(root, n_spots=110, seed=5)


def test_default_slice_rejects_bad_spots(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="`n_spots` '../x'"):
        default_synthetic_slice(tmp_path, n_spots="../x")
    assert list(tmp_path.iterdir()) == []


def test_cache_folder_without_marker_is_rejected(cache_root: Path, tmp_path: Path) -> None:
    root = _copy_cache(cache_root, tmp_path / "cache")
    (root / f"{GENERATOR_VERSION}-110-5" / ".complete.json").unlink()
    with pytest.raises(CorruptArtifactError, match="Delete the folder"):
        default_synthetic_slice(root, n_spots=110, seed=5)
