"""Read a Space Ranger Visium slice folder into an AnnData with its image levels.

The AnnData follows scanpy's conventions (``scanpy.read_visium``, scanpy 1.11):
``obsm["spatial"]`` is ``(pxl_col_in_fullres, pxl_row_in_fullres)``, that is
``(x, y)`` in full-resolution pixels, and ``uns["spatial"][library_id]`` contains
``"scalefactors"`` and the ``"images"`` that exist, so ``scanpy.pl.spatial`` works.
Unlike ``scanpy.read_visium(load_images=True)``, a missing hires or lowres PNG is
not an error.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd

from harness.data import counts as counts_io
from harness.data import images as images_io
from harness.data import labels as labels_io
from harness.data._barcodes import format_examples
from harness.data.images import LEVEL_NAMES, ImageLevel, LevelName
from harness.data.positions import find_positions_file, read_tissue_positions
from harness.data.scalefactors import SCALEFACTORS_FILE, ScaleFactors, read_scalefactors
from harness.errors import InputError, MissingFileError, MissingImageLevelError, SpotJoinError

logger = logging.getLogger(__name__)

# A PNG level's size is the full-resolution size times its scale factor, rounded
# to whole pixels, so its extent in full-resolution pixels is known to within
# one level pixel. Coordinates that exceed it by less are accepted.
_ROUNDING_TOLERANCE_LEVEL_PX = 1.0

_LEVEL_FILES: Mapping[str, str] = MappingProxyType(
    {
        "fullres": "spatial/tissue_full_image.tif (or the TIFF passed as `fullres_image=`)",
        "hires": f"spatial/{images_io.HIRES_FILE}",
        "lowres": f"spatial/{images_io.LOWRES_FILE}",
    }
)


@dataclass(frozen=True)
class VisiumSlice:
    """One Visium slice: counts, spot positions, image levels and optional labels.

    The dataclass is frozen, but ``adata`` is a mutable AnnData; functions that
    change it return a new slice (see :func:`drop_unlabelled`).

    Attributes
    ----------
    adata
        Shape ``(n_obs, n_vars)`` = (in-tissue spots, genes), raw counts in ``X``
        (``X`` is ``None`` when the slice was read without counts). ``obs`` has
        ``in_tissue``, ``array_row``, ``array_col`` and, with labels, the
        categorical ``truth``. ``obsm["spatial"]`` is ``(n_obs, 2)`` float64,
        ``(x, y)`` in full-resolution pixels (px).
    scalefactors
        Contents of ``spatial/scalefactors_json.json``.
    images
        Image levels that exist, by name (``"fullres"``, ``"hires"``, ``"lowres"``).
    source
        The slice folder, absolute.
    library_id
        Name of the slice folder, the key of ``adata.uns["spatial"]``.
    labels_source
        File (and metadata column, as ``path:column``) the labels came from, or
        ``None`` without labels.
    n_dropped_unlabelled
        Number of spots removed because their label is missing (0 unless
        :func:`drop_unlabelled` was applied).
    """

    adata: ad.AnnData
    scalefactors: ScaleFactors
    images: Mapping[str, ImageLevel]
    source: Path
    library_id: str
    labels_source: str | None = None
    n_dropped_unlabelled: int = 0

    def image_level(self, name: LevelName) -> ImageLevel:
        """Return the image level ``name``.

        Raises
        ------
        MissingImageLevelError
            When the slice has no such level. The message names the expected file
            and the levels that exist.
        InputError
            When ``name`` is not ``"fullres"``, ``"hires"`` or ``"lowres"``.
        """
        if name not in LEVEL_NAMES:
            msg = f"Unknown image level {name!r}; expected one of {list(LEVEL_NAMES)}."
            raise InputError(msg)
        if name not in self.images:
            available = ", ".join(self.images) or "none"
            msg = (
                f"Slice {self.library_id!r} has no {name} image: expected "
                f"{self.source / _LEVEL_FILES[name]}. Levels that exist: {available}. "
                "Use one of those, or add the image to the slice folder."
            )
            raise MissingImageLevelError(msg)
        return self.images[name]

    def read_image(self, name: LevelName) -> np.ndarray:
        """Read a whole image level.

        Returns
        -------
        Array of shape ``(height, width, 3)``, dtype uint8, alpha dropped, grey
        replicated to three channels.
        """
        return images_io.read_level_image(self.image_level(name))

    def read_region(
        self, level: LevelName, *, left: int, top: int, right: int, bottom: int
    ) -> np.ndarray:
        """Read the rectangle ``[top, bottom) x [left, right)`` of an image level.

        Bounds are in that level's pixels (px). TIFF levels are read window by
        window, without loading the whole image.

        Returns
        -------
        Array of shape ``(bottom - top, right - left, 3)``, dtype uint8.
        """
        return images_io.read_level_region(
            self.image_level(level), left=left, top=top, right=right, bottom=bottom
        )


def read_visium_slice(
    path: Path | str,
    *,
    fullres_image: Path | str | None = None,
    labels: labels_io.LabelsOption = "auto",
    drop_na_labels: bool = False,
    require_counts: bool = True,
    spots_without_counts: Literal["raise", "drop"] = "raise",
) -> VisiumSlice:
    """Read a Space Ranger slice folder.

    Parameters
    ----------
    path
        Folder with ``filtered_feature_bc_matrix.h5`` (or the
        ``filtered_feature_bc_matrix/`` Matrix Market folder) and ``spatial/``.
    fullres_image
        Full-resolution TIFF. Default ``None`` uses
        ``spatial/tissue_full_image.tif``/``.tiff`` or the single TIFF in the
        folder or ``spatial/``; none is normal.
    labels
        Ground truth, joined by barcode into ``obs["truth"]``. Default ``"auto"``:
        ``truth.txt``, else ``metadata.tsv`` column ``layer_guess``, else none. See
        :func:`harness.data.labels.resolve_label_source` for the other forms.
    drop_na_labels
        Default ``False`` keeps unannotated spots; ``True`` applies
        :func:`drop_unlabelled` and needs labels.
    require_counts
        Default ``True``: a missing count matrix is an error. ``False`` lets a
        folder without a matrix load with ``X=None``, the in-tissue spots of the
        positions file as ``obs`` and ``features.tsv.gz`` (if present) as ``var``,
        for stages that need only images and positions.
    spots_without_counts
        What to do with in-tissue spots that have no column in the count matrix.
        Default ``"raise"``; ``"drop"`` keeps only spots with counts and logs how
        many were dropped, for subsampled matrices.

    Returns
    -------
    The slice, with ``adata`` in the row order of the count matrix.

    Raises
    ------
    MissingFileError
        When the folder, the count matrix (with ``require_counts=True``), the
        positions file or the scale factors are missing.
    SpotJoinError
        When barcodes are duplicated, or counts and in-tissue positions do not
        list the same barcodes.
    LabelJoinError
        When the labels do not name each spot exactly once.
    InputError
        For an unknown positions format, an empty matrix, coordinates outside the
        image, several full-resolution candidates, or an invalid option.
    """
    started = time.perf_counter()
    folder = Path(path).absolute()
    if not folder.is_dir():
        msg = f"Visium slice folder not found: {folder}."
        raise MissingFileError(msg)
    if spots_without_counts not in ("raise", "drop"):
        msg = (
            f"Invalid `spots_without_counts={spots_without_counts!r}`; expected 'raise' or 'drop'."
        )
        raise InputError(msg)
    logger.info("Reading Visium slice %s", folder)

    # Resolve the label option first, so that a wrong option fails before the slow reads.
    label_source = labels_io.resolve_label_source(folder, labels=labels)
    scalefactors = read_scalefactors(folder / "spatial" / SCALEFACTORS_FILE)
    levels = images_io.find_image_levels(
        folder,
        scalefactors=scalefactors,
        fullres_image=None if fullres_image is None else Path(fullres_image),
    )
    positions_path = find_positions_file(folder)
    positions = read_tissue_positions(positions_path)

    adata = _read_expression(folder, positions=positions, require_counts=require_counts)
    spot_positions = _join_positions(
        positions,
        adata.obs_names,
        positions_path=positions_path,
        spots_without_counts=spots_without_counts,
    )

    xy = spot_positions[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(dtype=np.float64)
    _check_coordinates(xy, barcodes=spot_positions.index, levels=levels)
    for column in ("in_tissue", "array_row", "array_col"):
        adata.obs[column] = spot_positions[column].to_numpy()
    adata.obsm["spatial"] = xy
    library_id = folder.name
    adata.uns["spatial"] = {library_id: _uns_spatial(scalefactors, levels)}

    if label_source is not None:
        table = labels_io.read_label_table(label_source)
        adata.obs[labels_io.LABEL_COLUMN] = labels_io.join_labels(
            table, adata.obs_names, source=label_source.describe()
        )

    visium_slice = VisiumSlice(
        adata=adata,
        scalefactors=scalefactors,
        images=MappingProxyType(dict(levels)),
        source=folder,
        library_id=library_id,
        labels_source=None if label_source is None else label_source.describe(),
    )
    if drop_na_labels:
        visium_slice = drop_unlabelled(visium_slice)

    logger.info(
        "Read slice %s: %d spots x %d genes, image levels %s, labels %s (%.2f s)",
        library_id,
        visium_slice.adata.n_obs,
        visium_slice.adata.n_vars,
        list(levels) or "none",
        visium_slice.labels_source,
        time.perf_counter() - started,
    )
    return visium_slice


def drop_unlabelled(visium_slice: VisiumSlice) -> VisiumSlice:
    """Return a copy of the slice without the spots whose label is missing.

    The number of removed spots is added to ``n_dropped_unlabelled`` and logged.

    Raises
    ------
    InputError
        When the slice has no labels, or no spot has a label.
    """
    column = labels_io.LABEL_COLUMN
    adata = visium_slice.adata
    if column not in adata.obs:
        msg = (
            f"Slice {visium_slice.library_id!r} has no labels (no obs[{column!r}]), so "
            "unlabelled spots cannot be dropped. Read it with `labels=` pointing at a label "
            "table, or do not request dropping."
        )
        raise InputError(msg)

    labelled = adata.obs[column].notna().to_numpy()
    n_dropped = int((~labelled).sum())
    if n_dropped == adata.n_obs:
        msg = (
            f"Every one of the {adata.n_obs} spots of slice {visium_slice.library_id!r} is "
            f"unlabelled in {visium_slice.labels_source}; dropping them would leave no spots."
        )
        raise InputError(msg)

    logger.info(
        "Dropped %d unlabelled spots of slice %s; %d remain",
        n_dropped,
        visium_slice.library_id,
        int(labelled.sum()),
    )
    return dataclasses.replace(
        visium_slice,
        adata=adata[labelled].copy(),
        n_dropped_unlabelled=visium_slice.n_dropped_unlabelled + n_dropped,
    )


def _read_expression(folder: Path, *, positions: pd.DataFrame, require_counts: bool) -> ad.AnnData:
    if require_counts or counts_io.has_counts(folder):
        return counts_io.read_counts(folder)

    in_tissue = positions.index[positions["in_tissue"].to_numpy() == 1]
    barcodes, var = counts_io.read_barcodes_and_features(folder)
    if barcodes is not None:
        _check_same_barcodes(
            barcodes,
            in_tissue,
            source=folder / counts_io.COUNTS_MTX_FOLDER / counts_io.MTX_BARCODES,
        )
    logger.info(
        "No count matrix in %s; reading the %d in-tissue spots without counts",
        folder,
        len(in_tissue),
    )
    obs = pd.DataFrame(index=pd.Index(in_tissue.to_numpy(dtype=str), name=None))
    return ad.AnnData(obs=obs, var=var if var is not None else pd.DataFrame(index=pd.Index([])))


def _check_same_barcodes(barcodes: pd.Index, in_tissue: pd.Index, *, source: Path) -> None:
    extra = barcodes.difference(in_tissue, sort=False)
    missing = in_tissue.difference(barcodes, sort=False)
    if len(extra) or len(missing):
        msg = (
            f"{source} and the in-tissue spots of the positions file differ: {len(extra)} "
            f"barcodes are not in-tissue spots (e.g. {format_examples(extra)}) and {len(missing)} "
            f"in-tissue spots are not listed (e.g. {format_examples(missing)})."
        )
        raise SpotJoinError(msg)


def _join_positions(
    positions: pd.DataFrame,
    barcodes: pd.Index,
    *,
    positions_path: Path,
    spots_without_counts: Literal["raise", "drop"],
) -> pd.DataFrame:
    """Return the positions of the count-matrix barcodes, in count-matrix order."""
    in_tissue = positions.index[positions["in_tissue"].to_numpy() == 1]
    not_spots = barcodes.difference(in_tissue, sort=False)
    uncounted = in_tissue.difference(barcodes, sort=False)

    problems = []
    if len(not_spots):
        absent = not_spots.difference(positions.index, sort=False)
        problems.append(
            f"{len(not_spots)} count-matrix barcodes are not in-tissue spots of "
            f"{positions_path.name} ({len(absent)} absent from it, "
            f"{len(not_spots) - len(absent)} with in_tissue=0), e.g. {format_examples(not_spots)}."
        )
    if len(uncounted) and spots_without_counts == "raise":
        problems.append(
            f"{len(uncounted)} in-tissue spots of {positions_path.name} have no counts, e.g. "
            f"{format_examples(uncounted)}; pass `spots_without_counts='drop'` if the matrix "
            "was subsampled on purpose."
        )
    if problems:
        msg = (
            f"Counts and positions of {positions_path.parent.parent} do not match by barcode: "
            + " ".join(problems)
        )
        raise SpotJoinError(msg)

    if len(uncounted):
        logger.info(
            "Dropped %d in-tissue spots without counts; %d remain", len(uncounted), len(barcodes)
        )
    return positions.loc[barcodes]


def _check_coordinates(
    xy: np.ndarray, *, barcodes: pd.Index, levels: Mapping[str, ImageLevel]
) -> None:
    """Raise unless every spot lies inside the full-resolution image extent."""
    negative = (xy < 0).any(axis=1)
    if negative.any():
        first = int(np.flatnonzero(negative)[0])
        msg = (
            f"{int(negative.sum())} of {len(xy)} spots have negative full-resolution pixel "
            f"coordinates, e.g. barcode {barcodes[first]!r} at (x, y) = {tuple(xy[first])}. "
            "Check the positions file."
        )
        raise InputError(msg)

    if not levels:
        logger.info("No image level, so spot coordinates are not checked against an image extent")
        return

    if "fullres" in levels:
        reference = levels["fullres"]
        height, width = reference.shape
    else:
        # The level with the largest scale has the smallest rounding error in full-resolution px.
        reference = max(levels.values(), key=lambda level: level.scale)
        tolerance = _ROUNDING_TOLERANCE_LEVEL_PX / reference.scale
        height, width = (extent + tolerance for extent in reference.extent_fullres)

    outside = (xy[:, 0] > width) | (xy[:, 1] > height)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        msg = (
            f"{int(outside.sum())} of {len(xy)} spots lie outside the full-resolution image "
            f"extent of {width:.0f} x {height:.0f} px (width x height, from the "
            f"{reference.name} image {reference.path.name} at scale {reference.scale:g}), e.g. "
            f"barcode {barcodes[first]!r} at (x, y) = {tuple(float(v) for v in xy[first])}. "
            "Check that positions, images and scale factors belong to the same slice."
        )
        raise InputError(msg)


def _uns_spatial(scalefactors: ScaleFactors, levels: Mapping[str, ImageLevel]) -> dict:
    """Build ``uns["spatial"][library_id]`` as scanpy's plotting functions read it.

    Only the PNG levels are stored as arrays: scanpy plots ``"hires"`` or
    ``"lowres"``, and a full-resolution image would add hundreds of MB.
    """
    entry: dict = {
        "images": {
            name: images_io.read_level_image(level)
            for name, level in levels.items()
            if name in ("hires", "lowres")
        },
        "scalefactors": scalefactors.to_dict(),
        "metadata": {},
    }
    if "fullres" in levels:
        entry["metadata"]["source_image_path"] = str(levels["fullres"].path)
    return entry
