"""Helpers shared by the comparators: input validation, evidence labels, threshold masks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.compare.result import Threshold
from harness.errors import InputError


def row_keys(keys: Any, *, n_rows: int) -> np.ndarray | None:
    """Validate evidence labels: ``None`` or shape ``(n_rows,)``, one barcode or gene per row."""
    if keys is None:
        return None
    array = np.asarray(keys)
    if array.shape != (n_rows,):
        msg = (
            f"`keys` has shape {array.shape}; expected ({n_rows},), one label (barcode or "
            "gene) per row of the compared arrays"
        )
        raise InputError(msg)
    return array


def key_of(keys: np.ndarray | None, index: int) -> Any:
    """Return the label of row ``index``: its key, or the row index when there are no keys."""
    return int(index) if keys is None else keys[index]


def accepted_mask(threshold: Threshold, values: np.ndarray) -> np.ndarray:
    """Return, per value, whether ``threshold`` accepts it (NaN is never accepted)."""
    if threshold.direction == "max":
        return values <= threshold.value
    return values >= threshold.value


def as_strings(values: Any, *, name: str) -> np.ndarray:
    """Return 1-D string values (barcodes, gene names) as a unicode array.

    Raises
    ------
    InputError
        When ``values`` is not 1-D or contains values other than strings.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        msg = f"{name} have shape {array.shape}; expected a 1-D array of strings"
        raise InputError(msg)
    if array.size == 0:
        return array.astype(str)
    if array.dtype.kind == "S":
        return np.char.decode(array, "utf-8")
    if array.dtype.kind == "U":
        return array
    if array.dtype.kind == "O":
        kind = pd.api.types.infer_dtype(array, skipna=False)
        if kind in ("string", "empty"):
            return array.astype(str)
        msg = f"{name} are objects of inferred type {kind!r}; expected strings"
        raise InputError(msg)
    msg = f"{name} have dtype {array.dtype}; expected strings"
    raise InputError(msg)


def duplicated_values(array: np.ndarray) -> np.ndarray:
    """Return each value that occurs more than once, once, sorted."""
    unique, counts = np.unique(array, return_counts=True)
    return unique[counts > 1]


def format_examples(values: Any, *, limit: int = 5) -> str:
    """Format up to ``limit`` values as ``'A', 'B', ...`` (with ``...`` when cut)."""
    items = list(np.asarray(values)[: limit + 1].tolist())
    listed = ", ".join(repr(str(value)) for value in items[:limit])
    return listed + (", ..." if len(items) > limit else "")
