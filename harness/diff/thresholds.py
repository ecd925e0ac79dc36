"""Thresholds of every named check: documented defaults, calibration and user overrides.

Deterministic stages must agree exactly or to float round-off. Stochastic
stages (``train``, ``cluster``, ``refine``, ``metrics``) differ between any two
runs, so their defaults are loose bounds. A calibration measured from the
reference's own seed-to-seed spread is meant to replace them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare.result import Threshold
from harness.errors import InputError

DEFAULTS: dict[tuple[str, str], Threshold] = {
    # Coordinates: both sides compute x * scale in float64; 1e-6 px allows round-off only.
    ("patches.centers", "max_error_px"): Threshold(1e-6, "max", unit="px"),
    # A window's side in px of the level used must match exactly.
    ("patches.window", "side_ratio"): Threshold(1e-9, "max", unit=""),
    # Fraction of windows centred on tissue: candidate may lose at most 5 points.
    ("patches.on_tissue", "on_tissue_drop"): Threshold(0.05, "max", unit="fraction"),
    # Mean absolute difference per patch, in uint8 levels (1 allows resampling round-off).
    ("patches.pixels", "max_patch_mae"): Threshold(1.0, "max", unit="uint8 levels"),
    ("patch_filter.filtered", "max_patch_mae"): Threshold(1.0, "max", unit="uint8 levels"),
    ("image_features.features", "cka"): Threshold(0.95, "min", unit=""),
    ("image_embedding.img_emb", "cka"): Threshold(0.95, "min", unit=""),
    ("genes.hvg", "jaccard"): Threshold(1.0, "min", unit=""),
    ("genes.matrix", "fraction_differing"): Threshold(0.0, "max", unit="fraction"),
    ("graph.edges", "jaccard"): Threshold(1.0, "min", unit=""),
    ("edge_probabilities.values", "fraction_differing"): Threshold(0.0, "max", unit="fraction"),
    ("pseudo_labels.count", "count_difference"): Threshold(0.0, "max", unit="clusters"),
    ("pseudo_labels.agreement", "ari"): Threshold(0.99, "min", unit=""),
    # Stochastic stages: documented defaults until a calibration exists.
    ("train.embedding", "cka"): Threshold(0.9, "min", unit=""),
    ("train.embedding", "knn_overlap"): Threshold(0.5, "min", unit=""),
    ("cluster.domains", "ari"): Threshold(0.6, "min", unit=""),
    ("refine.agreement", "ari"): Threshold(0.6, "min", unit=""),
    # Candidate's final ARI may be at most 0.05 below the reference's.
    ("metrics.ari", "ari_gap"): Threshold(0.05, "max", unit="ARI"),
    ("config.hyperparameters", "differing_keys"): Threshold(0.0, "max", unit="keys"),
    ("cluster.backend", "differing_fields"): Threshold(0.0, "max", unit="fields"),
    ("image_features.encoder", "differing_fields"): Threshold(0.0, "max", unit="fields"),
    # Both sides must keep the same spots: later per-spot checks cover only common barcodes.
    ("load.barcodes", "n_unmatched_barcodes"): Threshold(0.0, "max", unit="barcodes"),
    # Both sides read the same positions file; 1e-6 px allows float round-off only.
    ("load.spatial", "max_error_px"): Threshold(1e-6, "max", unit="px"),
    # Documented default: re-running the same algorithm on the same embedding reproduces
    # a partition up to label names, so ARI 0.99 leaves room for a few boundary spots only.
    ("cluster.backend", "reproduction_ari"): Threshold(0.99, "min", unit=""),
}


@dataclass
class ThresholdBook:
    """Thresholds by (check id, metric), with their sources.

    Lookups fall back to :data:`DEFAULTS`; :meth:`override` records a
    calibration or user value, which keeps its source in reports.
    """

    overrides: dict[tuple[str, str], Threshold] = field(default_factory=dict)
    calibration_file: str | None = None

    def get(self, check_id: str, metric: str) -> Threshold:
        """Return the threshold of ``metric`` for ``check_id``.

        Raises
        ------
        KeyError
            When neither an override nor a default exists (a bug in a diagnosis).
        """
        key = (check_id, metric)
        if key in self.overrides:
            return self.overrides[key]
        if key in DEFAULTS:
            return DEFAULTS[key]
        msg = f"no threshold for check {check_id!r}, metric {metric!r}; add one to DEFAULTS"
        raise KeyError(msg)

    def override(self, check_id: str, metric: str, value: float, *, source: str) -> None:
        """Replace the value of a threshold, keeping its direction and unit."""
        base = self.get(check_id, metric)
        self.overrides[(check_id, metric)] = Threshold(
            value, base.direction, unit=base.unit, source=source
        )

    def as_json(self) -> dict[str, Any]:
        """Return every threshold in effect, keyed ``check_id:metric``."""
        merged = {**DEFAULTS, **self.overrides}
        return {f"{check}:{metric}": value.to_json() for (check, metric), value in sorted(merged.items())}


def parse_tolerance(text: str) -> tuple[str, str, float]:
    """Parse ``CHECK:METRIC=VALUE`` (e.g. ``train.embedding:cka=0.8``).

    Raises
    ------
    InputError
        When the text is malformed or names an unknown check and metric.
    """
    key, sep, value = text.partition("=")
    check_id, colon, metric = key.partition(":")
    if not sep or not colon:
        msg = f"--tolerance {text!r}: expected CHECK:METRIC=VALUE, e.g. train.embedding:cka=0.8"
        raise InputError(msg)
    if (check_id, metric) not in DEFAULTS:
        known = ", ".join(f"{c}:{m}" for c, m in sorted(DEFAULTS))
        msg = f"--tolerance {text!r}: unknown check and metric; known: {known}"
        raise InputError(msg)
    try:
        number = float(value)
    except ValueError:
        msg = f"--tolerance {text!r}: {value!r} is not a number"
        raise InputError(msg) from None
    return check_id, metric, number


def load_calibration(path: Path, book: ThresholdBook) -> None:
    """Apply the thresholds stored in a calibration file to ``book``.

    The file is JSON: ``{"thresholds": {"CHECK:METRIC": value, ...}, ...}``.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    thresholds = data.get("thresholds")
    if not isinstance(thresholds, Mapping):
        msg = f"{path}: a calibration file needs a 'thresholds' object"
        raise InputError(msg)
    for key, value in thresholds.items():
        check_id, _, metric = key.partition(":")
        book.override(check_id, metric, float(value), source="calibration")
    book.calibration_file = str(path)
