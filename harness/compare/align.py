"""Spot alignment by barcode.

Per-spot artifacts of the two sides are matched by barcode, never by row
position. :func:`align_barcodes` returns index arrays that put both sides in
the reference's barcode order over the barcodes they share, and records the
barcodes found on one side only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from harness.compare._common import as_strings, duplicated_values, format_examples
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold
from harness.errors import InputError

Side = Literal["reference", "candidate"]


@dataclass(frozen=True)
class Alignment:
    """Row correspondence between a reference and a candidate, joined by barcode.

    Attributes
    ----------
    barcodes
        Shape ``(n_common,)``: barcodes present on both sides, in reference order.
    reference_index
        Shape ``(n_common,)``, int64: row of each common barcode in the reference.
    candidate_index
        Shape ``(n_common,)``, int64: row of each common barcode in the candidate.
    n_reference, n_candidate
        Number of barcodes on each side.
    n_only_in_reference, n_only_in_candidate
        Number of barcodes found on one side only.
    only_in_reference, only_in_candidate
        Up to ``max_examples`` of those barcodes, in their side's order.
    candidate_reordered
        Whether the candidate lists the common barcodes in another order than the
        reference (its rows are then reordered by :meth:`take`).
    """

    barcodes: np.ndarray
    reference_index: np.ndarray
    candidate_index: np.ndarray
    n_reference: int
    n_candidate: int
    n_only_in_reference: int
    n_only_in_candidate: int
    only_in_reference: tuple[str, ...]
    only_in_candidate: tuple[str, ...]
    candidate_reordered: bool

    @property
    def n_common(self) -> int:
        """Number of barcodes present on both sides."""
        return int(self.barcodes.shape[0])

    @property
    def is_identity(self) -> bool:
        """Whether both sides list the same barcodes in the same order."""
        return (
            self.n_common == self.n_reference == self.n_candidate
            and not self.candidate_reordered
        )

    def index(self, side: Side) -> np.ndarray:
        """Return the row indices, shape ``(n_common,)``, that align ``side``."""
        if side == "reference":
            return self.reference_index
        if side == "candidate":
            return self.candidate_index
        msg = f"`side` is {side!r}; expected 'reference' or 'candidate'"
        raise InputError(msg)

    def take(self, values: Any, *, side: Side) -> np.ndarray:
        """Return the rows of ``values`` (first axis = that side's spots) in aligned order.

        Raises
        ------
        InputError
            When the first axis of ``values`` does not match the side's barcode count.
        """
        array = np.asarray(values)
        expected = self.n_reference if side == "reference" else self.n_candidate
        if array.ndim == 0 or array.shape[0] != expected:
            msg = (
                f"{side} array has shape {array.shape}, but the {side} has {expected} "
                "barcodes; pass the array whose rows follow that side's barcodes"
            )
            raise InputError(msg)
        return array[self.index(side)]

    def reindex_edges(self, edges: Any, *, side: Side) -> tuple[np.ndarray, int]:
        """Map a ``(2, E)`` edge array from ``side``'s row indices to aligned positions.

        Edges with an endpoint whose barcode is not on both sides are dropped.

        Returns
        -------
        edges
            Shape ``(2, E_kept)``, int64, indices into :attr:`barcodes`.
        n_dropped
            Number of edges dropped.
        """
        n_side = self.n_reference if side == "reference" else self.n_candidate
        array = np.asarray(edges)
        if array.ndim != 2 or array.shape[0] != 2 or array.dtype.kind not in "iu":
            msg = (
                f"{side} edges have shape {array.shape} and dtype {array.dtype}; "
                "expected an integer array of shape (2, E)"
            )
            raise InputError(msg)
        if array.size and (array.min() < 0 or array.max() >= n_side):
            msg = (
                f"{side} edges index rows {array.min()}..{array.max()}, outside "
                f"0..{n_side - 1} for its {n_side} barcodes"
            )
            raise InputError(msg)

        position = np.full(n_side, -1, dtype=np.int64)
        position[self.index(side)] = np.arange(self.n_common, dtype=np.int64)
        mapped = position[array.astype(np.int64)]
        keep = (mapped >= 0).all(axis=0)
        return mapped[:, keep], int((~keep).sum())


def align_barcodes(
    barcodes_reference: Any,
    barcodes_candidate: Any,
    *,
    max_examples: int = MAX_EVIDENCE_ROWS,
) -> Alignment:
    """Match the spots of two sides by barcode.

    Parameters
    ----------
    barcodes_reference
        Shape ``(n_reference,)``: the reference's barcodes, in its row order.
    barcodes_candidate
        Shape ``(n_candidate,)``: the candidate's barcodes, in its row order.
    max_examples
        How many one-sided barcodes to keep per side, default
        :data:`~harness.compare.result.MAX_EVIDENCE_ROWS`.

    Returns
    -------
    Alignment
        Index arrays into both sides, in reference order over the common barcodes.

    Raises
    ------
    InputError
        When a side is empty, not one-dimensional or not strings, contains a barcode
        twice, or when the sides share no barcode.
    """
    reference = _as_barcodes(barcodes_reference, side="reference")
    candidate = _as_barcodes(barcodes_candidate, side="candidate")

    common, reference_index, candidate_index = np.intersect1d(
        reference, candidate, assume_unique=True, return_indices=True
    )
    if common.size == 0:
        msg = (
            f"the reference ({reference.size} barcodes, e.g. {format_examples(reference)}) "
            f"and the candidate ({candidate.size} barcodes, e.g. "
            f"{format_examples(candidate)}) share no barcode; compare runs of the same slice"
        )
        raise InputError(msg)

    order = np.argsort(reference_index, kind="stable")
    reference_index = reference_index[order].astype(np.int64)
    candidate_index = candidate_index[order].astype(np.int64)
    only_reference = reference[np.isin(reference, candidate, invert=True)]
    only_candidate = candidate[np.isin(candidate, reference, invert=True)]

    return Alignment(
        barcodes=common[order],
        reference_index=reference_index,
        candidate_index=candidate_index,
        n_reference=int(reference.size),
        n_candidate=int(candidate.size),
        n_only_in_reference=int(only_reference.size),
        n_only_in_candidate=int(only_candidate.size),
        only_in_reference=tuple(only_reference[:max_examples].tolist()),
        only_in_candidate=tuple(only_candidate[:max_examples].tolist()),
        candidate_reordered=bool(np.any(np.diff(candidate_index) < 0)),
    )


def check_alignment(
    alignment: Alignment,
    *,
    check_id: str = "load.barcodes",
    stage: str = "load",
    artifact: str = "barcodes",
    threshold: Threshold | None = None,
) -> CheckResult:
    """Judge the barcodes found on one side only.

    Parameters
    ----------
    alignment
        Result of :func:`align_barcodes`.
    check_id, stage, artifact
        Labels of the result.
    threshold
        Bound on the number of one-sided barcodes (both sides together). Default
        ``Threshold(0, "max", unit="barcodes")``: both sides must hold the same spots,
        because every later per-spot comparison covers only the common ones.

    Returns
    -------
    CheckResult
        Metric ``"n_unmatched_barcodes"``; evidence rows ``{"key": barcode, "side": ...}``.
        A reordered candidate is noted in the context but does not fail.
    """
    if threshold is None:
        threshold = Threshold(0, "max", unit="barcodes")
    unmatched = alignment.n_only_in_reference + alignment.n_only_in_candidate
    evidence = [
        {"key": barcode, "side": "reference only"} for barcode in alignment.only_in_reference
    ] + [{"key": barcode, "side": "candidate only"} for barcode in alignment.only_in_candidate]

    order_note = (
        "candidate rows reordered to reference order"
        if alignment.candidate_reordered
        else "same order"
    )
    context = (
        f"{alignment.n_common} common of {alignment.n_reference} reference and "
        f"{alignment.n_candidate} candidate barcodes; {alignment.n_only_in_reference} only "
        f"in reference, {alignment.n_only_in_candidate} only in candidate; {order_note}"
    )
    return CheckResult.judged(
        check_id=check_id,
        stage=stage,
        artifact=artifact,
        metric="n_unmatched_barcodes",
        observed=unmatched,
        threshold=threshold,
        context=context,
        evidence=evidence,
        n_offending=unmatched,
        details={
            "n_common": alignment.n_common,
            "n_reference": alignment.n_reference,
            "n_candidate": alignment.n_candidate,
            "n_only_in_reference": alignment.n_only_in_reference,
            "n_only_in_candidate": alignment.n_only_in_candidate,
            "candidate_reordered": alignment.candidate_reordered,
        },
    )


def _as_barcodes(values: Any, *, side: Side) -> np.ndarray:
    """Validate one side's barcodes and return them as a unicode array."""
    array = as_strings(values, name=f"{side} barcodes")
    if array.size == 0:
        msg = f"{side} barcodes are empty; a side must list at least one spot"
        raise InputError(msg)
    duplicated = duplicated_values(array)
    if duplicated.size:
        msg = (
            f"{side} barcodes contain {duplicated.size} duplicated values "
            f"({format_examples(duplicated)}); each spot must appear once, so fix the "
            "side that wrote them"
        )
        raise InputError(msg)
    return array
