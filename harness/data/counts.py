"""Count matrix of a Visium slice (10x HDF5 file or Matrix Market folder)."""

from __future__ import annotations

import gzip
import logging
import warnings
from pathlib import Path

import anndata as ad
import pandas as pd
import scanpy as sc

from harness.data._barcodes import duplicated_barcodes, format_examples
from harness.errors import InputError, MissingFileError, SpotJoinError

logger = logging.getLogger(__name__)

COUNTS_H5 = "filtered_feature_bc_matrix.h5"
COUNTS_MTX_FOLDER = "filtered_feature_bc_matrix"
MTX_MATRIX = "matrix.mtx.gz"
MTX_BARCODES = "barcodes.tsv.gz"
MTX_FEATURES = "features.tsv.gz"


def has_counts(folder: Path) -> bool:
    """Check whether the folder contains a filtered count matrix in either layout."""
    return (folder / COUNTS_H5).is_file() or (folder / COUNTS_MTX_FOLDER / MTX_MATRIX).is_file()


def read_counts(folder: Path) -> ad.AnnData:
    """Read the filtered count matrix of a Space Ranger slice folder.

    ``filtered_feature_bc_matrix.h5`` is read with :func:`scanpy.read_10x_h5`; when
    it is absent, the ``filtered_feature_bc_matrix/`` folder is read with
    :func:`scanpy.read_10x_mtx`. Space Ranger writes both with the same content.

    Parameters
    ----------
    folder
        The slice folder.

    Returns
    -------
    Counts of shape ``(n_obs, n_vars)`` = (spots, genes), ``obs_names`` barcodes,
    ``var_names`` gene names made unique, ``var`` with ``gene_ids`` and
    ``feature_types``.

    Raises
    ------
    MissingFileError
        When neither layout is present, or the folder lacks one of its files.
    InputError
        When the matrix has no spots or no genes.
    SpotJoinError
        When a barcode occurs more than once.
    """
    h5_path = folder / COUNTS_H5
    mtx_folder = folder / COUNTS_MTX_FOLDER
    if h5_path.is_file():
        source = h5_path
        with warnings.catch_warnings():
            # The names are made unique below, so anndata's warning would mislead.
            warnings.filterwarnings("ignore", message="Variable names are not unique")
            adata = sc.read_10x_h5(h5_path)
    elif (mtx_folder / MTX_MATRIX).is_file():
        source = mtx_folder
        missing = [
            name for name in (MTX_BARCODES, MTX_FEATURES) if not (mtx_folder / name).is_file()
        ]
        if missing:
            msg = f"Count matrix folder {mtx_folder} lacks {', '.join(missing)}."
            raise MissingFileError(msg)
        adata = sc.read_10x_mtx(mtx_folder)
    else:
        msg = (
            f"No count matrix in {folder}: expected {COUNTS_H5} or "
            f"{COUNTS_MTX_FOLDER}/{MTX_MATRIX} (with {MTX_BARCODES} and {MTX_FEATURES}). "
            "For stages that need only images and positions, pass `require_counts=False`."
        )
        raise MissingFileError(msg)

    if adata.n_obs == 0 or adata.n_vars == 0:
        msg = (
            f"Count matrix {source} is empty: {adata.n_obs} spots x {adata.n_vars} genes. "
            "Expected at least one spot and one gene."
        )
        raise InputError(msg)
    check_unique_barcodes(adata.obs_names, source=source)
    adata.var_names_make_unique()
    return adata


def read_barcodes_and_features(folder: Path) -> tuple[pd.Index | None, pd.DataFrame | None]:
    """Read ``barcodes.tsv.gz`` and ``features.tsv.gz`` of a matrix folder without a matrix.

    Returns
    -------
    The barcodes (``None`` when the file is absent) and the features as a
    ``var`` table indexed by unique gene name with ``gene_ids`` and
    ``feature_types`` (``None`` when the file is absent).
    """
    mtx_folder = folder / COUNTS_MTX_FOLDER
    barcodes_path = mtx_folder / MTX_BARCODES
    features_path = mtx_folder / MTX_FEATURES

    barcodes = None
    if barcodes_path.is_file():
        with gzip.open(barcodes_path, "rt") as handle:
            barcodes = pd.Index(handle.read().split(), name="barcode")
        check_unique_barcodes(barcodes, source=barcodes_path)

    var = None
    if features_path.is_file():
        table = pd.read_csv(features_path, sep="\t", header=None, dtype=str)
        if table.shape[1] < 3:
            msg = (
                f"Features file {features_path} has {table.shape[1]} columns; expected gene id, "
                "gene name and feature type."
            )
            raise InputError(msg)
        var = pd.DataFrame(
            {"gene_ids": table[0].to_numpy(), "feature_types": table[2].to_numpy()},
            index=pd.Index(table[1].to_numpy()),
        )
        var.index = ad.utils.make_index_unique(var.index)
    return barcodes, var


def check_unique_barcodes(barcodes: pd.Index, *, source: Path) -> None:
    """Raise :class:`SpotJoinError` when a barcode occurs more than once."""
    duplicated = duplicated_barcodes(barcodes)
    if len(duplicated):
        msg = (
            f"{len(duplicated)} barcodes occur more than once in {source}, e.g. "
            f"{format_examples(duplicated)}. Each spot must have one column of counts."
        )
        raise SpotJoinError(msg)
