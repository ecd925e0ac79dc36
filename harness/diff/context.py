"""The input of every diagnosis: both sides' stored stages, aligned by barcode, and thresholds.

A :class:`DiffContext` reads artifacts lazily from the run folders, so checks
can be recomputed from disk without running either pipeline. Per-spot
artifacts are put in the reference's barcode order over the barcodes both
sides share (:meth:`DiffContext.pair`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.artifacts.store import StageRecord
from harness.compare.align import Alignment, align_barcodes
from harness.compare.result import Threshold
from harness.diff.thresholds import ThresholdBook

Mode = Literal["chained", "isolated"]
"""``chained``: the candidate's own upstream outputs; ``isolated``: fed the reference's inputs."""

PER_SPOT_AXIS0 = {
    ("load", "spatial"), ("load", "labels"), ("patches", "centers"), ("patches", "boxes"),
    ("patches", "patches"), ("patch_filter", "filtered"), ("image_features", "features"),
    ("image_embedding", "img_emb"), ("genes", "feat"), ("pseudo_labels", "pseudo_labels"),
    ("train", "emb"), ("cluster", "domains"), ("refine", "refined"), ("load", "counts"),
}
"""Artifacts whose first axis is the spot axis (``N``), reordered by barcode."""


@dataclass
class DiffContext:
    """Both sides of a diff, read from their run folders.

    Attributes
    ----------
    reference, candidate
        Stage name to the stored, verified record of each side (chained run).
    isolated
        Stage name to the candidate's record of that stage computed from the
        reference's inputs (present only for stages run in isolation).
    thresholds
        Thresholds per check id and metric (defaults, calibration, user).
    data_dir
        The Space Ranger folder both sides read.
    candidate_options
        The candidate's side-specific options (e.g. a simulated absence of R).
    """

    reference: Mapping[str, StageRecord]
    candidate: Mapping[str, StageRecord]
    isolated: Mapping[str, StageRecord] = field(default_factory=dict)
    thresholds: ThresholdBook = field(default_factory=ThresholdBook)
    data_dir: Path | None = None
    candidate_options: Mapping[str, Any] = field(default_factory=dict)

    # Availability ----------------------------------------------------------

    def has(self, stage: str, *, mode: Mode = "chained") -> bool:
        """Return whether both sides stored ``stage`` (the candidate in ``mode``)."""
        return stage in self.reference and stage in self._candidate_records(mode)

    def has_artifact(self, stage: str, artifact: str, *, mode: Mode = "chained") -> bool:
        """Return whether both sides stored ``stage/artifact``."""
        if not self.has(stage, mode=mode):
            return False
        return (
            artifact in self.reference[stage].artifacts
            and artifact in self._candidate_records(mode)[stage].artifacts
        )

    # Raw access ------------------------------------------------------------

    def ref(self, stage: str, artifact: str) -> Any:
        """Return the reference's ``stage/artifact`` in its own row order."""
        return _load(self.reference[stage], artifact)

    def cand(self, stage: str, artifact: str, *, mode: Mode = "chained") -> Any:
        """Return the candidate's ``stage/artifact`` in its own row order."""
        return _load(self._candidate_records(mode)[stage], artifact)

    def cand_or_none(self, stage: str, artifact: str, *, mode: Mode = "chained") -> Any:
        """Return the candidate's artifact, or ``None`` when it was not stored."""
        records = self._candidate_records(mode)
        if stage not in records or artifact not in records[stage].artifacts:
            return None
        return _load(records[stage], artifact)

    def ref_or_none(self, stage: str, artifact: str) -> Any:
        """Return the reference's artifact, or ``None`` when it was not stored."""
        if stage not in self.reference or artifact not in self.reference[stage].artifacts:
            return None
        return _load(self.reference[stage], artifact)

    # Barcode alignment -----------------------------------------------------

    @functools.cached_property
    def alignment(self) -> Alignment:
        """Spot correspondence between the sides, from ``load/barcodes``."""
        return align_barcodes(
            np.asarray(self.ref("load", "barcodes")),
            np.asarray(self.cand("load", "barcodes")),
        )

    @property
    def barcodes(self) -> np.ndarray:
        """Barcodes shared by both sides, in reference order."""
        return self.alignment.barcodes

    def pair(
        self, stage: str, artifact: str, *, mode: Mode = "chained"
    ) -> tuple[Any, Any]:
        """Return (reference, candidate) values of a per-spot artifact, aligned by barcode.

        Artifacts without a spot axis are returned as stored. Isolated
        candidate outputs follow the reference's spot order (they were
        computed from the reference's inputs), so they are aligned like the
        reference.
        """
        reference = self.ref(stage, artifact)
        candidate = self.cand(stage, artifact, mode=mode)
        if (stage, artifact) not in PER_SPOT_AXIS0:
            return reference, candidate
        alignment = self.alignment
        if alignment.is_identity:
            return reference, candidate
        candidate_side = "reference" if mode == "isolated" else "candidate"
        return alignment.take(reference, side="reference"), alignment.take(candidate, side=candidate_side)

    def edges_pair(self, *, mode: Mode = "chained") -> tuple[np.ndarray, np.ndarray]:
        """Return both sides' ``graph/edges`` re-indexed to the aligned spot order."""
        reference = np.asarray(self.ref("graph", "edges"))
        candidate = np.asarray(self.cand("graph", "edges", mode=mode))
        if self.alignment.is_identity:
            return reference, candidate
        candidate_side = "reference" if mode == "isolated" else "candidate"
        reference, _ = self.alignment.reindex_edges(reference, side="reference")
        candidate, _ = self.alignment.reindex_edges(candidate, side=candidate_side)
        return reference, candidate

    # Thresholds --------------------------------------------------------------

    def threshold(self, check_id: str, metric: str) -> Threshold:
        """Return the threshold for ``metric`` of ``check_id``."""
        return self.thresholds.get(check_id, metric)

    # Internals ---------------------------------------------------------------

    def _candidate_records(self, mode: Mode) -> Mapping[str, StageRecord]:
        return self.isolated if mode == "isolated" else self.candidate


def _load(record: StageRecord, artifact: str) -> Any:
    value = record.load(artifact)
    if isinstance(value, np.memmap | np.ndarray) and value.dtype.kind != "u":
        return np.asarray(value)
    return value
