"""Ground-truth spot labels: where they come from, how they are read and joined.

Labels are joined to spots by barcode, never by row order. A label table must name
every spot of the slice exactly once and no other barcode.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from harness.data._barcodes import duplicated_barcodes, format_examples
from harness.errors import InputError, LabelJoinError, MissingFileError

logger = logging.getLogger(__name__)

TRUTH_FILE = "truth.txt"
METADATA_FILE = "metadata.tsv"
# spatialLIBD's manual layer annotation of the DLPFC slices (Maynard et al., 2021).
METADATA_LABEL_COLUMN = "layer_guess"
METADATA_PREFIX = "metadata:"
METADATA_BARCODE_COLUMN = "barcode"
# Label values that mean "not annotated" (R writes NA, pandas writes nan).
MISSING_LABEL_VALUES = ("NA", "", "nan")
LABEL_COLUMN = "truth"

LabelsOption = Literal["auto", "truth"] | str | Path | None


@dataclass(frozen=True)
class LabelSource:
    """A label table: a two-column barcode/label file, or one column of a metadata table.

    Attributes
    ----------
    path
        The file.
    column
        Metadata column holding the labels, or ``None`` for a headerless
        ``barcode<TAB>label`` file such as ``truth.txt``.
    """

    path: Path
    column: str | None = None

    def describe(self) -> str:
        """Return ``path`` or ``path:column``, as recorded in ``VisiumSlice.labels_source``."""
        return str(self.path) if self.column is None else f"{self.path}:{self.column}"


def resolve_label_source(folder: Path, *, labels: LabelsOption) -> LabelSource | None:
    """Decide which label table of a slice folder to read.

    Parameters
    ----------
    folder
        The slice folder.
    labels
        ``"auto"`` (default of the loaders): ``truth.txt`` if present, else the
        ``layer_guess`` column of ``metadata.tsv`` if present, else no labels.
        ``"truth"``: ``truth.txt``, which must exist. ``"metadata:<column>"``: that
        column of ``metadata.tsv``. A :class:`~pathlib.Path`: a headerless
        ``barcode<TAB>label`` file. ``None``: no labels.

    Returns
    -------
    The label source, or ``None`` for no labels.

    Raises
    ------
    MissingFileError
        When the requested file does not exist.
    InputError
        When ``labels`` is not one of the forms above, or the metadata column
        does not exist.
    """
    truth_path = folder / TRUTH_FILE
    metadata_path = folder / METADATA_FILE

    if labels is None:
        return None
    if isinstance(labels, Path):
        if not labels.is_file():
            msg = f"Label file not found: `labels={str(labels)!r}`."
            raise MissingFileError(msg)
        return LabelSource(path=labels)
    if labels == "auto":
        if truth_path.is_file():
            return LabelSource(path=truth_path)
        if metadata_path.is_file() and METADATA_LABEL_COLUMN in _metadata_columns(metadata_path):
            return _metadata_source(metadata_path, column=METADATA_LABEL_COLUMN)
        logger.info(
            "No labels for %s: neither %s nor a %r column in %s",
            folder,
            TRUTH_FILE,
            METADATA_LABEL_COLUMN,
            METADATA_FILE,
        )
        return None
    if labels == "truth":
        if not truth_path.is_file():
            msg = f"`labels='truth'` needs {truth_path}, which does not exist."
            raise MissingFileError(msg)
        return LabelSource(path=truth_path)
    if isinstance(labels, str) and labels.startswith(METADATA_PREFIX):
        column = labels.removeprefix(METADATA_PREFIX)
        if not metadata_path.is_file():
            msg = f"`labels={labels!r}` needs {metadata_path}, which does not exist."
            raise MissingFileError(msg)
        columns = _metadata_columns(metadata_path)
        if column not in columns:
            msg = (
                f"`labels={labels!r}`: {metadata_path} has no column {column!r}; its columns "
                f"are {columns}."
            )
            raise InputError(msg)
        return _metadata_source(metadata_path, column=column)

    msg = (
        f"Invalid `labels={labels!r}`: expected 'auto', 'truth', 'metadata:<column>', None, "
        "or a pathlib.Path to a barcode<TAB>label file (wrap a file name in Path(...))."
    )
    raise InputError(msg)


def read_label_table(source: LabelSource) -> pd.Series:
    """Read a label table as it is, duplicates and foreign barcodes included.

    Returns
    -------
    Labels (str, or ``pd.NA`` for the values of :data:`MISSING_LABEL_VALUES`)
    indexed by barcode, in file order.

    Raises
    ------
    InputError
        When the file is empty or not of the expected layout.
    """
    try:
        if source.column is None:
            table = pd.read_csv(
                source.path,
                sep="\t",
                header=None,
                dtype=str,
                keep_default_na=False,
                quoting=csv.QUOTE_NONE,
            )
        else:
            table = pd.read_csv(
                source.path,
                sep="\t",
                dtype=str,
                keep_default_na=False,
                usecols=[METADATA_BARCODE_COLUMN, source.column],
            )
    except pd.errors.EmptyDataError as exc:
        msg = f"Label file {source.path} is empty."
        raise InputError(msg) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        msg = f"Label file {source.describe()} cannot be read as a tab-separated table: {exc}."
        raise InputError(msg) from exc

    if source.column is None:
        if table.shape[1] != 2:
            msg = (
                f"Label file {source.path} has {table.shape[1]} tab-separated columns; "
                "expected 2 (barcode, label) and no header."
            )
            raise InputError(msg)
        barcodes, values = table[0], table[1]
    else:
        barcodes, values = table[METADATA_BARCODE_COLUMN], table[source.column]

    values = values.str.strip()
    values = values.mask(values.isin(MISSING_LABEL_VALUES), pd.NA)
    index = pd.Index(barcodes.str.strip().to_numpy(), name="barcode")
    return pd.Series(values.to_numpy(), index=index, name=LABEL_COLUMN, dtype=object)


def join_labels(labels: pd.Series, spots: pd.Index, *, source: str) -> pd.Series:
    """Align labels to the spots of a slice by barcode.

    Parameters
    ----------
    labels
        Labels indexed by barcode, as from :func:`read_label_table`.
    spots
        Barcodes of the slice (``adata.obs_names``), shape ``(n_obs,)``.
    source
        Where the labels come from, for error messages.

    Returns
    -------
    Categorical labels indexed by ``spots`` in their order, ``NaN`` where a spot
    is unannotated; categories sorted.

    Raises
    ------
    LabelJoinError
        When a barcode has more than one label, a spot has no label row, or a
        label row names a barcode that is not a spot. The message counts each
        case and shows up to five barcodes.
    """
    duplicated = duplicated_barcodes(labels.index)
    unique_barcodes = labels.index.unique()
    unlabelled = spots.difference(unique_barcodes, sort=False)
    foreign = unique_barcodes.difference(spots, sort=False)

    if len(duplicated) or len(unlabelled) or len(foreign):
        msg = _join_error_message(
            source=source,
            n_spots=len(spots),
            duplicated=duplicated,
            unlabelled=unlabelled,
            foreign=foreign,
        )
        raise LabelJoinError(msg)

    aligned = labels.reindex(spots)
    categories = np.sort(aligned.dropna().unique().astype(str))
    values = pd.Categorical(aligned.to_numpy(), categories=categories)
    return pd.Series(values, index=spots, name=LABEL_COLUMN)


def _join_error_message(
    *,
    source: str,
    n_spots: int,
    duplicated: pd.Index,
    unlabelled: pd.Index,
    foreign: pd.Index,
) -> str:
    sentences = [f"Labels in {source} do not match the spots of the slice by barcode."]
    if len(duplicated):
        sentences.append(
            f"{len(duplicated)} barcodes have more than one label row, e.g. "
            f"{format_examples(duplicated)}."
        )
    if len(unlabelled) or len(foreign):
        sentences.append(f"{n_spots - len(unlabelled)} of {n_spots} spots have a label.")
    if len(unlabelled):
        sentences.append(
            f"{len(unlabelled)} spots have no label row, e.g. {format_examples(unlabelled)}."
        )
    if len(foreign):
        sentences.append(
            f"{len(foreign)} labels name barcodes that are not spots of this slice, e.g. "
            f"{format_examples(foreign)}."
        )
    if len(unlabelled) and len(foreign):
        sentences.append(
            "The label file may belong to another slice: pass this slice's own file as `labels=`."
        )
    elif len(foreign):
        sentences.append("Remove the rows of barcodes that are not in-tissue spots.")
    elif len(unlabelled):
        sentences.append("Add a row for each spot, with NA where a spot is unannotated.")
    if len(duplicated):
        sentences.append("Keep one label row per barcode.")
    return " ".join(sentences)


def _metadata_source(path: Path, *, column: str) -> LabelSource:
    if METADATA_BARCODE_COLUMN not in _metadata_columns(path):
        msg = (
            f"Metadata table {path} has no {METADATA_BARCODE_COLUMN!r} column, so its labels "
            "cannot be joined to spots by barcode. Add the column or pass a "
            "barcode<TAB>label file as `labels=Path(...)`."
        )
        raise InputError(msg)
    return LabelSource(path=path, column=column)


def _metadata_columns(path: Path) -> list[str]:
    with path.open() as handle:
        header = handle.readline().rstrip("\r\n")
    return header.split("\t")
