"""Mean change of the final ARI over seeds, with a Student-t confidence interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.95


def mean_interval(
    values: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float]:
    """Return the mean of ``values`` and the bounds of its two-sided confidence interval.

    The interval is ``mean ± t(n - 1) · s / sqrt(n)`` with the sample standard
    deviation ``s``; seeds are independent draws of the training's randomness.
    With one value the bounds are NaN (no spread is known); with no value,
    everything is NaN.

    Raises
    ------
    ValueError
        When ``confidence`` is not strictly between 0 and 1 or a value is not finite.
    """
    if not 0.0 < confidence < 1.0:
        msg = f"confidence {confidence}: expected a number strictly between 0 and 1"
        raise ValueError(msg)
    array = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(array)):
        msg = f"values {list(values)}: every ΔARI must be finite"
        raise ValueError(msg)
    if array.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(array.mean())
    if array.size == 1:
        return mean, math.nan, math.nan
    half = float(
        stats.t.ppf(0.5 + confidence / 2, df=array.size - 1)
        * array.std(ddof=1)
        / math.sqrt(array.size)
    )
    return mean, mean - half, mean + half
