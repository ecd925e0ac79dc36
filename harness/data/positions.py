"""Spot positions of a Visium slice (``spatial/tissue_positions*.csv``).

Space Ranger 1.x writes ``tissue_positions_list.csv`` without a header. Space
Ranger 2.0 and later write ``tissue_positions.csv`` with a header line. Both
hold the same six columns, listed in :data:`POSITION_COLUMNS`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.data._barcodes import duplicated_barcodes, format_examples
from harness.errors import InputError, MissingFileError, SpotJoinError

POSITION_COLUMNS = (
    "barcode",
    "in_tissue",
    "array_row",
    "array_col",
    "pxl_row_in_fullres",
    "pxl_col_in_fullres",
)
POSITIONS_FILES = ("tissue_positions.csv", "tissue_positions_list.csv")

_INTEGER_COLUMNS = ("in_tissue", "array_row", "array_col")
_PIXEL_COLUMNS = ("pxl_row_in_fullres", "pxl_col_in_fullres")


def find_positions_file(folder: Path) -> Path:
    """Return the positions file of a slice folder.

    Raises
    ------
    MissingFileError
        When ``spatial/`` contains neither positions file.
    InputError
        When it contains both, because they may disagree.
    """
    candidates = [folder / "spatial" / name for name in POSITIONS_FILES]
    found = [path for path in candidates if path.is_file()]
    if not found:
        msg = (
            f"Spot positions not found in {folder / 'spatial'}: expected "
            f"{POSITIONS_FILES[0]} (Space Ranger 2+) or {POSITIONS_FILES[1]} (Space Ranger 1.x)."
        )
        raise MissingFileError(msg)
    if len(found) > 1:
        msg = (
            f"Both {found[0]} and {found[1]} exist, so the slice's spot positions are "
            "ambiguous. Remove the one that does not belong to this slice."
        )
        raise InputError(msg)
    return found[0]


def read_tissue_positions(path: Path) -> pd.DataFrame:
    """Read a Space Ranger positions file, with or without its header line.

    The format is detected from the first line: a header must name exactly the
    columns of :data:`POSITION_COLUMNS` (in any order), and a headerless file must
    have six comma-separated fields in that order.

    Parameters
    ----------
    path
        ``tissue_positions.csv`` or ``tissue_positions_list.csv``.

    Returns
    -------
    One row per spot of the capture area (in and out of tissue), indexed by
    barcode, with int64 columns ``in_tissue``, ``array_row``, ``array_col`` and
    float64 columns ``pxl_row_in_fullres``, ``pxl_col_in_fullres`` in
    full-resolution pixels (px).

    Raises
    ------
    InputError
        When the header or column count is not the expected one, or a value is
        missing or not a number.
    SpotJoinError
        When a barcode occurs more than once.
    """
    with path.open() as handle:
        first_line = handle.readline().rstrip("\r\n")
    fields = [field.strip() for field in first_line.split(",")]
    expected = ", ".join(POSITION_COLUMNS)

    # In a headerless file the second field is in_tissue, always 0 or 1.
    has_header = "barcode" in fields or (len(fields) > 1 and fields[1] not in ("0", "1"))
    if has_header and sorted(fields) != sorted(POSITION_COLUMNS):
        msg = (
            f"Unknown positions format in {path}: the header is {first_line!r}; expected the "
            f"columns {expected}."
        )
        raise InputError(msg)
    if not has_header and len(fields) != len(POSITION_COLUMNS):
        msg = (
            f"Unknown positions format in {path}: the first line has {len(fields)} "
            f"comma-separated fields; expected {len(POSITION_COLUMNS)} columns without a "
            f"header ({expected}) or a header line naming them."
        )
        raise InputError(msg)

    try:
        table = pd.read_csv(
            path,
            header=0 if has_header else None,
            names=None if has_header else list(POSITION_COLUMNS),
            dtype=str,
            keep_default_na=False,
        )
    except pd.errors.ParserError as exc:
        msg = f"Unknown positions format in {path}: {exc}. Expected the columns {expected}."
        raise InputError(msg) from exc
    if table.empty:
        msg = f"Positions file {path} lists no spots."
        raise InputError(msg)

    positions = _parse_columns(table, path=path)

    duplicated = duplicated_barcodes(positions.index)
    if len(duplicated):
        msg = (
            f"{len(duplicated)} barcodes occur more than once in {path}, e.g. "
            f"{format_examples(duplicated)}. Each spot must have one position."
        )
        raise SpotJoinError(msg)
    return positions


def _parse_columns(table: pd.DataFrame, *, path: Path) -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {}
    for name in _INTEGER_COLUMNS + _PIXEL_COLUMNS:
        text = table[name].str.strip()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if name in _INTEGER_COLUMNS:
            bad |= values != np.round(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            msg = (
                f"Column {name!r} of {path} has {int(bad.sum())} missing or non-numeric values, "
                f"e.g. {table[name].iloc[first]!r} for barcode {table['barcode'].iloc[first]!r}. "
                f"Expected {'integers' if name in _INTEGER_COLUMNS else 'finite numbers'}."
            )
            raise InputError(msg)
        columns[name] = values.astype(np.int64) if name in _INTEGER_COLUMNS else values

    outside = ~np.isin(columns["in_tissue"], (0, 1))
    if outside.any():
        msg = (
            f"Column 'in_tissue' of {path} has {int(outside.sum())} values other than 0 and 1, "
            f"e.g. for barcode {table['barcode'].iloc[int(np.flatnonzero(outside)[0])]!r}."
        )
        raise InputError(msg)

    index = pd.Index(table["barcode"].str.strip(), name="barcode")
    return pd.DataFrame(columns, index=index)
