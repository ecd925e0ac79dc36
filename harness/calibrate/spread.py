"""The reference's seed-to-seed spread, and the thresholds derived from it.

Two runs of the reference that differ only in the training seed are compared
with the same diagnoses ``harness diff`` applies to a candidate, so a
calibrated threshold bounds exactly the number the diff later judges:

* ``train.embedding:cka`` and ``train.embedding:knn_overlap`` (linear CKA and
  mean 15-nearest-neighbour overlap of the embeddings),
* ``cluster.domains:ari`` and ``refine.agreement:ari`` (ARI between the
  domains before and after refinement),
* ``metrics.ari:ari_gap`` (difference of the final ARIs against the ground
  truth; its sign depends on the pair's order, so the absolute value counts).

Threshold rule (documented default, margin 0.05): for a similarity, the
minimum over seed pairs minus the margin, floored at 0; for the ARI gap, the
maximum over seed pairs plus the margin. Every measured pair of reference
seeds therefore passes its own thresholds, and a candidate fails only when
it differs from the reference by more than that. NOTE: with few seeds the minimum
over pairs is itself noisy, so the margin is a documented default, not a
derived bound.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.artifacts.store import StageRecord
from harness.compare.result import CheckResult
from harness.diff.context import DiffContext
from harness.diff.thresholds import DEFAULTS, ThresholdBook

logger = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.05
"""Absolute margin added to the measured spread (similarities and ARI gap alike)."""

MEASURES: tuple[str, ...] = (
    "train.embedding:cka",
    "train.embedding:knn_overlap",
    "cluster.domains:ari",
    "refine.agreement:ari",
    "metrics.ari:ari_gap",
)
"""The calibrated thresholds, as ``CHECK:METRIC`` keys of :data:`harness.diff.thresholds.DEFAULTS`."""


@dataclass(frozen=True)
class Spread:
    """One measure over all seed pairs.

    Attributes
    ----------
    key
        ``CHECK:METRIC``.
    values
        One value per pair of seeds, in the order of :attr:`pairs`.
    pairs
        The seed pairs measured.
    """

    key: str
    values: tuple[float, ...]
    pairs: tuple[tuple[int, int], ...]

    def summary(self) -> dict[str, Any]:
        """Return min, mean, max and the per-pair values as JSON types."""
        array = np.asarray(self.values, dtype=float)
        return {
            "min": float(array.min()),
            "mean": float(array.mean()),
            "max": float(array.max()),
            "n_pairs": len(self.values),
            "pairs": [
                {"seeds": list(pair), "value": value}
                for pair, value in zip(self.pairs, self.values, strict=True)
            ],
        }


def measure_pair(
    first: Mapping[str, StageRecord], second: Mapping[str, StageRecord]
) -> dict[str, float]:
    """Measure every key of :data:`MEASURES` between two runs of the reference.

    Parameters
    ----------
    first, second
        Stage name to stored record, for two runs that differ only in their seed.

    Returns
    -------
    dict
        ``CHECK:METRIC`` to its value; a measure whose diagnosis could not
        compute a number (an ``error`` or ``skip`` result) is left out and logged.
    """
    from harness.diagnose.cluster import check_domains
    from harness.diagnose.metrics import check_ari
    from harness.diagnose.refine import check_agreement
    from harness.diagnose.train import check_embedding

    context = DiffContext(reference=first, candidate=second, thresholds=ThresholdBook())
    values: dict[str, float] = {}
    readers: tuple[
        tuple[Callable[..., list[CheckResult]], str, Callable[[CheckResult], Any]], ...
    ] = (
        (check_embedding, "train.embedding:cka", lambda check: check.observed),
        (
            check_embedding,
            "train.embedding:knn_overlap",
            lambda check: check.details.get("knn_overlap", {}).get("observed"),
        ),
        (check_domains, "cluster.domains:ari", lambda check: check.observed),
        (check_agreement, "refine.agreement:ari", lambda check: check.observed),
        (
            check_ari,
            "metrics.ari:ari_gap",
            lambda check: None if check.observed is None else abs(check.observed),
        ),
    )
    results: dict[Callable[..., list[CheckResult]], CheckResult] = {}
    for diagnosis, key, read in readers:
        if diagnosis not in results:
            results[diagnosis] = diagnosis(context, "chained")[0]
        check = results[diagnosis]
        value = read(check) if check.status not in ("error", "skip") else None
        if value is None or not np.isfinite(float(value)):
            logger.warning(
                "%s: no value between these seeds (%s: %s)", key, check.status, check.description
            )
            continue
        values[key] = float(value)
    return values


def measure_spread(runs: Mapping[int, Mapping[str, StageRecord]]) -> dict[str, Spread]:
    """Measure every seed pair of ``runs`` (seed to records) and collect each measure's values."""
    collected: dict[str, list[tuple[tuple[int, int], float]]] = {key: [] for key in MEASURES}
    for first, second in itertools.combinations(sorted(runs), 2):
        for key, value in measure_pair(runs[first], runs[second]).items():
            collected[key].append(((first, second), value))
    return {
        key: Spread(key=key, values=tuple(v for _, v in items), pairs=tuple(p for p, _ in items))
        for key, items in collected.items()
        if items
    }


def derive_thresholds(
    spreads: Mapping[str, Spread], *, margin: float = DEFAULT_MARGIN
) -> dict[str, float]:
    """Turn each measure's spread into a threshold (see the module's rule)."""
    thresholds: dict[str, float] = {}
    for key, spread in spreads.items():
        check_id, _, metric = key.partition(":")
        direction = DEFAULTS[(check_id, metric)].direction
        if direction == "min":
            thresholds[key] = max(0.0, min(spread.values) - margin)
        else:
            thresholds[key] = max(spread.values) + margin
    return thresholds


def default_thresholds(keys: Sequence[str] = MEASURES) -> dict[str, float]:
    """Return the documented default of each calibrated threshold, for comparison."""
    values: dict[str, float] = {}
    for key in keys:
        check_id, _, metric = key.partition(":")
        values[key] = DEFAULTS[(check_id, metric)].value
    return values
