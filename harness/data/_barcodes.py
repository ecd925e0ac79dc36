"""Barcode-set helpers shared by the count, position and label readers."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

# How many offending barcodes an error message lists.
MAX_EXAMPLES = 5


def format_examples(barcodes: Iterable[str], *, limit: int = MAX_EXAMPLES) -> str:
    """Format up to ``limit`` barcodes as ``'A', 'B', ...`` (with ``...`` when cut)."""
    items = list(barcodes)
    listed = ", ".join(repr(str(barcode)) for barcode in items[:limit])
    return listed + (", ..." if len(items) > limit else "")


def duplicated_barcodes(barcodes: pd.Index | pd.Series) -> pd.Index:
    """Return each barcode that occurs more than once, once, in order of first occurrence."""
    values = pd.Index(barcodes)
    return values[values.duplicated(keep="first")].unique()
