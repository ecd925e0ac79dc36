"""Write a synthetic slice as a Space Ranger output folder.

Folder layout (the files ``scanpy.read_visium`` and the harness loader read)::

    OUT_DIR/
      filtered_feature_bc_matrix.h5     10x HDF5 counts, in-tissue spots only
      spatial/tissue_positions_list.csv Space Ranger 1.x positions (no header),
                                        or tissue_positions.csv (with header)
      spatial/scalefactors_json.json
      spatial/tissue_full_image.tif     tiled RGB TIFF, full resolution
      spatial/tissue_hires_image.png
      spatial/tissue_lowres_image.png
      truth.txt                         barcode TAB domain, "NA" for unlabelled spots
      synthetic.json                    SyntheticSliceSpec, written last

Every file is a function of the arguments only: no timestamps are stored, so
the same arguments give byte-identical files with the same versions of numpy,
h5py, tifffile, Pillow and zlib. A folder without ``synthetic.json`` is
incomplete, for example after an interrupted run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import tifffile
from PIL import Image

from harness.errors import InputError
from harness.synth._parallel import default_workers
from harness.synth.counts import CountChunk, GeneModel, build_gene_model, iter_count_chunks
from harness.synth.domains import build_layer_model, choose_na_spots
from harness.synth.grid import SpotGrid, build_spot_grid
from harness.synth.histology import (
    TIFF_TILE_PX,
    HistologyModel,
    build_histology_model,
    iter_fullres_tiles,
    render_level,
)
from harness.synth.spec import (
    COUNTS_FILE,
    DOMAIN_NAMES,
    FIDUCIAL_DIAMETER_FULLRES_PX,
    FULLRES_FILE,
    GENERATOR_VERSION,
    HIRES_FILE,
    IMAGE_LEVELS,
    LEVEL_SCALE,
    LOWRES_FILE,
    MARKERS_PER_DOMAIN,
    MAX_GENES,
    MAX_SPOTS,
    MIN_SPOTS,
    NA_LABEL,
    POSITIONS_FILES,
    SCALEFACTORS_FILE,
    SPEC_FILE,
    SPOT_DIAMETER_FULLRES_PX,
    TRUTH_FILE,
    ImageLevelName,
    PositionsFileName,
    SyntheticSliceSpec,
)

logger = logging.getLogger(__name__)

# Chemistry string of Visium v1 count matrices (Space Ranger 1.x).
CHEMISTRY_DESCRIPTION = "Spatial 3' v1"
SOFTWARE_VERSION = f"staig-harness synthetic slice generator {GENERATOR_VERSION}"
GENOME = "synthetic"
FEATURE_TYPE = "Gene Expression"
# HDF5 storage of the count matrix: gzip level 4 with byte shuffling, as in
# Cell Ranger's matrices, in chunks of 64 Ki elements.
H5_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
H5_CHUNK_ELEMENTS = 1 << 16
# zlib level of the TIFF tiles and PNG images: level 1 writes several times
# faster than the default 6 and the files are about 10 % larger.
TIFF_ZLIB_LEVEL = 1
PNG_ZLIB_LEVEL = 1
# Raw tiles that tifffile collects per compression thread before compressing
# them. Its default buffer (512 MiB in tifffile 2026.3) would dominate memory.
TIFF_BUFFER_TILES_PER_WORKER = 8
# Uncompressed size above which the TIFF is written as BigTIFF. Classic TIFF
# offsets are 32-bit, and the compressed tiles of a larger image could pass 4 GiB.
BIGTIFF_MIN_BYTES = 2**31

# More genes than STAIG's 3000 highly variable genes, so that gene selection and the
# order of selection and normalisation change the model input.
DEFAULT_N_GENES = 4000

POSITION_COLUMNS = (
    "barcode",
    "in_tissue",
    "array_row",
    "array_col",
    "pxl_row_in_fullres",
    "pxl_col_in_fullres",
)


def write_synthetic_slice(
    out_dir: str | Path,
    *,
    n_spots: int = 2000,
    seed: int = 0,
    n_genes: int = DEFAULT_N_GENES,
    image_levels: Sequence[ImageLevelName] = IMAGE_LEVELS,
    positions_file: PositionsFileName = "tissue_positions_list.csv",
    workers: int | None = None,
) -> Path:
    """Generate a synthetic Visium slice and write it as a Space Ranger folder.

    The slice has seven layered domains (``Layer1`` to ``Layer6`` and ``WM``)
    with curved boundaries, negative-binomial counts with
    ``MARKERS_PER_DOMAIN`` marker genes per domain, and an H&E-like image whose
    colour and nucleus density depend on the domain. See the module docstring
    for the files.

    Parameters
    ----------
    out_dir
        Folder to create; it must not exist or be empty.
    n_spots
        In-tissue spots, between ``MIN_SPOTS`` (100) and ``MAX_SPOTS``
        (100,000). Default 2000. The grid around the tissue has more spots,
        marked ``in_tissue = 0`` in the positions file.
    seed
        Non-negative seed of every random stream. Default 0.
    n_genes
        Genes in the count matrix, at least ``7 * MARKERS_PER_DOMAIN`` (210)
        and at most ``MAX_GENES``. Default 3000.
    image_levels
        Images to write, any of ``"fullres"`` (tiled TIFF), ``"hires"`` and
        ``"lowres"`` (PNG). Default all three. ``scanpy.read_visium(...,
        load_images=True)`` needs both PNG levels.
    positions_file
        ``"tissue_positions_list.csv"`` (Space Ranger 1.x, no header, the
        default) or ``"tissue_positions.csv"`` (Space Ranger 2.0, with header).
    workers
        Threads that draw counts, render and compress images. Default ``None``:
        up to 8, one per CPU. The files do not depend on it.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    InputError
        When an argument is out of range or ``out_dir`` is a non-empty folder or a file.
    """
    levels = _validate_arguments(
        n_spots=n_spots,
        seed=seed,
        n_genes=n_genes,
        image_levels=image_levels,
        positions_file=positions_file,
    )
    if workers is not None:
        _check_int("workers", workers, low=1, high=None)
    threads = default_workers() if workers is None else int(workers)
    # numpy integers pass validation but are not JSON-serialisable.
    n_spots, seed, n_genes = int(n_spots), int(seed), int(n_genes)
    out = Path(out_dir)
    _prepare_folder(out)
    started = time.perf_counter()
    logger.info("Writing synthetic slice of %d spots (seed %d) to %s", n_spots, seed, out)

    grid = build_spot_grid(n_spots=n_spots, seed=seed)
    layers = build_layer_model(grid, seed=seed)
    histology = build_histology_model(layers, seed=seed)
    genes = build_gene_model(n_genes, seed=seed)

    # Count-matrix order: in-tissue spots sorted by barcode, as Space Ranger writes them.
    spot_index = np.flatnonzero(grid.in_tissue)
    spot_index = spot_index[np.argsort(grid.barcodes[spot_index], kind="stable")]
    barcodes = grid.barcodes[spot_index]
    domains = layers.label_at(
        grid.x_px[spot_index].astype(np.float64), grid.y_px[spot_index].astype(np.float64)
    )
    unlabelled = choose_na_spots(n_spots, seed=seed)
    library_id = f"synthetic_seed{seed}"

    with _log_step("count matrix"):
        chunks = iter_count_chunks(genes, domains.astype(np.intp), seed=seed, workers=threads)
        write_count_matrix(
            out / COUNTS_FILE,
            barcodes=barcodes,
            genes=genes,
            chunks=chunks,
            library_id=library_id,
        )
    write_positions(out / "spatial" / positions_file, grid)
    write_scalefactors(out / SCALEFACTORS_FILE)
    for level in levels:
        with _log_step(f"{level} image"):
            write_image(out, histology, grid, level, workers=threads)
    write_truth(out / TRUTH_FILE, barcodes=barcodes, domains=domains, unlabelled=unlabelled)

    spec = SyntheticSliceSpec(
        generator_version=GENERATOR_VERSION,
        seed=seed,
        n_spots=n_spots,
        n_genes=n_genes,
        image_levels=levels,
        positions_file=positions_file,
        library_id=library_id,
        domain_names=DOMAIN_NAMES,
        marker_genes={
            name: tuple(genes.gene_names[genes.marker_index[index]].tolist())
            for index, name in enumerate(DOMAIN_NAMES)
        },
        n_na_spots=int(unlabelled.sum()),
        grid_shape=grid.grid_shape,
        fullres_shape=grid.fullres_shape,
    )
    (out / SPEC_FILE).write_text(spec.to_json(), encoding="utf-8")
    logger.info("Wrote synthetic slice to %s in %.1f s", out, time.perf_counter() - started)
    return out


def _validate_arguments(
    *,
    n_spots: object,
    seed: object,
    n_genes: object,
    image_levels: object,
    positions_file: object,
) -> tuple[str, ...]:
    """Validate the arguments and return the image levels as a tuple.

    Raises InputError that names the first invalid argument and its value.
    """
    n_markers = len(DOMAIN_NAMES) * MARKERS_PER_DOMAIN
    _check_int("n_spots", n_spots, low=MIN_SPOTS, high=MAX_SPOTS)
    _check_int("seed", seed, low=0, high=None)
    _check_int(
        "n_genes",
        n_genes,
        low=n_markers,
        high=MAX_GENES,
        reason=f" ({len(DOMAIN_NAMES)} domains x {MARKERS_PER_DOMAIN} marker genes)",
    )
    if isinstance(image_levels, str) or not isinstance(image_levels, Iterable):
        msg = (
            f"Invalid `image_levels` {image_levels!r}: expected a sequence of level "
            f"names such as {IMAGE_LEVELS!r}."
        )
        raise InputError(msg)
    levels = tuple(image_levels)
    unknown = [level for level in levels if level not in IMAGE_LEVELS]
    if unknown or len(set(levels)) != len(levels):
        msg = (
            f"Invalid `image_levels` {levels!r}: expected distinct names from {IMAGE_LEVELS!r}."
        )
        raise InputError(msg)
    if positions_file not in POSITIONS_FILES:
        msg = f"Invalid `positions_file` {positions_file!r}: expected one of {POSITIONS_FILES!r}."
        raise InputError(msg)
    return levels


def _check_int(
    name: str, value: object, *, low: int, high: int | None, reason: str = ""
) -> None:
    """Raise InputError unless ``value`` is an int in ``[low, high]`` (bool is rejected).

    ``reason`` is appended to the expected range in the message.
    """
    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    in_range = is_int and value >= low and (high is None or value <= high)
    if not in_range:
        limits = f"at least {low}" if high is None else f"between {low} and {high}"
        msg = f"Invalid `{name}` {value!r}: expected an integer {limits}{reason}."
        raise InputError(msg)


def _prepare_folder(out: Path) -> None:
    """Create ``out`` and ``out/spatial``, raising InputError if ``out`` is a file or not empty."""
    if out.exists() and not out.is_dir():
        msg = f"Output folder {out} is a file; pass a new or empty folder."
        raise InputError(msg)
    if out.is_dir() and any(out.iterdir()):
        msg = f"Output folder {out} is not empty; pass a new or empty folder, or delete it first."
        raise InputError(msg)
    (out / "spatial").mkdir(parents=True, exist_ok=True)


@contextmanager
def _log_step(step: str) -> Iterator[None]:
    started = time.perf_counter()
    logger.debug("Writing %s", step)
    yield
    logger.debug("Wrote %s in %.2f s", step, time.perf_counter() - started)


def write_count_matrix(
    path: Path,
    *,
    barcodes: np.ndarray,
    genes: GeneModel,
    chunks: Iterable[CountChunk],
    library_id: str,
) -> None:
    """Write counts in Cell Ranger's HDF5 layout, one compressed column per barcode.

    ``matrix/shape`` is ``(n_genes, n_spots)`` and ``indptr`` runs over
    barcodes, so each barcode's counts are one CSC column (a CSR row of the
    spots x genes matrix). Dtypes follow Cell Ranger: int32 ``data`` and
    ``shape``, int64 ``indices`` and ``indptr``, fixed-length byte strings.
    Chunks are appended as they come, so the whole matrix is never in memory.

    Parameters
    ----------
    path
        HDF5 file to create.
    barcodes
        ``(n_spots,)`` barcodes, in the order of the chunks' rows.
    genes
        Gene ids and names, ``(n_genes,)`` each.
    chunks
        Consecutive CSR row blocks covering all ``n_spots`` spots.
    library_id
        Stored in the ``library_ids`` attribute.
    """
    n_genes = genes.gene_ids.size
    with h5py.File(path, "w", libver="earliest", track_order=False) as handle:
        handle.attrs["chemistry_description"] = np.bytes_(CHEMISTRY_DESCRIPTION)
        handle.attrs["filetype"] = np.bytes_("matrix")
        handle.attrs["library_ids"] = np.array([library_id], dtype="S")
        handle.attrs["original_gem_groups"] = np.array([1], dtype=np.int64)
        handle.attrs["software_version"] = np.bytes_(SOFTWARE_VERSION)
        handle.attrs["version"] = np.int64(2)

        matrix = handle.create_group("matrix", track_order=False)
        _create_dataset(matrix, "barcodes", np.asarray(barcodes, dtype="S"))
        data = _create_growing_dataset(matrix, "data", np.int32)
        indices = _create_growing_dataset(matrix, "indices", np.int64)
        row_nnz = []
        for chunk in chunks:
            _append(data, chunk.data)
            _append(indices, chunk.indices)
            row_nnz.append(chunk.row_nnz)
        nnz_per_spot = np.concatenate(row_nnz) if row_nnz else np.zeros(0, dtype=np.int64)
        if nnz_per_spot.size != barcodes.size:
            msg = f"Count chunks cover {nnz_per_spot.size} spots, expected {barcodes.size}."
            raise RuntimeError(msg)
        indptr = np.concatenate([[0], np.cumsum(nnz_per_spot)]).astype(np.int64)
        _create_dataset(matrix, "indptr", indptr)
        _create_dataset(matrix, "shape", np.array([n_genes, barcodes.size], dtype=np.int32))

        features = matrix.create_group("features", track_order=False)
        _create_dataset(features, "_all_tag_keys", np.array([b"genome"]))
        _create_dataset(features, "feature_type", _repeat_bytes(FEATURE_TYPE, n_genes))
        _create_dataset(features, "genome", _repeat_bytes(GENOME, n_genes))
        _create_dataset(features, "id", np.asarray(genes.gene_ids, dtype="S"))
        _create_dataset(features, "name", np.asarray(genes.gene_names, dtype="S"))


def _repeat_bytes(text: str, count: int) -> np.ndarray:
    return np.repeat(np.array([text], dtype="S"), count)


def _create_dataset(group: h5py.Group, name: str, values: np.ndarray) -> None:
    chunks = (max(1, min(values.size, H5_CHUNK_ELEMENTS)),)
    group.create_dataset(
        name, data=values, chunks=chunks, track_times=False, **H5_COMPRESSION
    )


def _create_growing_dataset(group: h5py.Group, name: str, dtype: type) -> h5py.Dataset:
    return group.create_dataset(
        name,
        shape=(0,),
        maxshape=(None,),
        dtype=dtype,
        chunks=(H5_CHUNK_ELEMENTS,),
        track_times=False,
        **H5_COMPRESSION,
    )


def _append(dataset: h5py.Dataset, values: np.ndarray) -> None:
    start = dataset.shape[0]
    dataset.resize((start + values.size,))
    dataset[start:] = values


def write_positions(path: Path, grid: SpotGrid) -> None:
    """Write every grid spot with its array indices and full-resolution px position.

    ``tissue_positions_list.csv`` has no header (Space Ranger 1.x);
    ``tissue_positions.csv`` has the header line of Space Ranger 2.0.
    Rows are ordered by ``(array_row, array_col)``.
    """
    table = pd.DataFrame(
        {
            "barcode": grid.barcodes,
            "in_tissue": grid.in_tissue.astype(np.int64),
            "array_row": grid.array_row,
            "array_col": grid.array_col,
            "pxl_row_in_fullres": grid.y_px,
            "pxl_col_in_fullres": grid.x_px,
        },
        columns=list(POSITION_COLUMNS),
    )
    header = path.name == "tissue_positions.csv"
    table.to_csv(path, header=header, index=False, lineterminator="\n")


def write_scalefactors(path: Path) -> None:
    """Write ``scalefactors_json.json`` with DLPFC-like diameters and PNG scales."""
    scalefactors = {
        "spot_diameter_fullres": SPOT_DIAMETER_FULLRES_PX,
        "tissue_hires_scalef": LEVEL_SCALE["hires"],
        "fiducial_diameter_fullres": FIDUCIAL_DIAMETER_FULLRES_PX,
        "tissue_lowres_scalef": LEVEL_SCALE["lowres"],
    }
    path.write_text(json.dumps(scalefactors, indent=4) + "\n", encoding="utf-8")


def write_image(
    out: Path, histology: HistologyModel, grid: SpotGrid, level: str, *, workers: int = 1
) -> None:
    """Write one image level: the tiled TIFF tile by tile, or a PNG rendered in bands."""
    if level == "fullres":
        height, width = grid.fullres_shape
        tifffile.imwrite(
            out / FULLRES_FILE,
            iter_fullres_tiles(histology, grid.fullres_shape, workers=workers),
            shape=(height, width, 3),
            dtype=np.uint8,
            photometric="rgb",
            tile=(TIFF_TILE_PX, TIFF_TILE_PX),
            compression="zlib",
            compressionargs={"level": TIFF_ZLIB_LEVEL},
            metadata=None,
            software=SOFTWARE_VERSION,
            bigtiff=height * width * 3 > BIGTIFF_MIN_BYTES,
            maxworkers=workers,
            buffersize=TIFF_BUFFER_TILES_PER_WORKER * workers * TIFF_TILE_PX**2 * 3,
        )
        return
    image = render_level(histology, level, grid.fullres_shape, workers=workers)
    path = out / (HIRES_FILE if level == "hires" else LOWRES_FILE)
    Image.fromarray(image, mode="RGB").save(path, format="PNG", compress_level=PNG_ZLIB_LEVEL)


def write_truth(
    path: Path, *, barcodes: np.ndarray, domains: np.ndarray, unlabelled: np.ndarray
) -> None:
    """Write ``barcode<TAB>label`` lines without a header, ``"NA"`` for unlabelled spots.

    Parameters
    ----------
    barcodes
        ``(n_spots,)`` in count-matrix order.
    domains
        ``(n_spots,)`` indices into ``DOMAIN_NAMES``.
    unlabelled
        ``(n_spots,)`` bool, true where the label is withheld.
    """
    names = np.asarray(DOMAIN_NAMES, dtype=object)[domains.astype(np.intp)]
    names[unlabelled] = NA_LABEL
    table = pd.DataFrame({"barcode": barcodes, "label": names})
    table.to_csv(path, sep="\t", header=False, index=False, lineterminator="\n")
