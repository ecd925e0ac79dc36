"""Comparison of per-spot image patches, ``(n_obs, S, S, 3)`` uint8 arrays.

Patches are read in chunks, so memory-mapped inputs (``numpy.load(...,
mmap_mode="r")``) are never loaded whole. Differences are computed in int16,
so uint8 values cannot wrap. Two sides with different patch sides ``S`` are
reported as a finding of their own (status ``"error"``), never resized to
match.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from harness.compare._common import accepted_mask, key_of, row_keys
from harness.compare.align import Alignment
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold
from harness.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_MAX_MEAN_ABS_ERROR = 1.0
"""Documented default for the largest per-patch mean absolute error, in uint8 levels, to be
calibrated (bilinear resizing may round a level differently across library builds)."""

DEFAULT_CHUNK_PATCHES = 32
"""Patches read per step: 32 patches of 512 x 512 x 3 take 48 MiB as int16 per side."""

# How many of the worst patches the details list even when all pass.
_WORST_LISTED = 5


def compare_patches(
    reference: Any,
    candidate: Any,
    *,
    threshold: Threshold | None = None,
    keys: Any = None,
    alignment: Alignment | None = None,
    chunk_patches: int = DEFAULT_CHUNK_PATCHES,
    check_id: str = "images.patches",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Judge per-patch mean absolute error between two stacks of RGB patches.

    Parameters
    ----------
    reference, candidate
        Shape ``(n_obs, S, S, 3)``, uint8, possibly memory-mapped.
    threshold
        Bound on the largest per-patch mean absolute error, default
        ``Threshold(DEFAULT_MAX_MEAN_ABS_ERROR, "max", unit="uint8 levels")``.
    keys
        Shape ``(n_obs,)``: barcodes for the evidence, for rows already aligned;
        row indices when ``None``. Not allowed together with ``alignment``.
    alignment
        Barcode alignment of the two sides' rows; when given, rows are picked through
        its index arrays chunk by chunk and labelled with its barcodes.
    chunk_patches
        Patches read per step, default :data:`DEFAULT_CHUNK_PATCHES`.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"max_patch_mean_abs_error"`` in uint8 levels. ``details``: patch side,
        mean and median of the per-patch mean error, largest single-pixel error,
        fraction of identical patches, the 5 worst patches. Evidence: patches whose
        mean error exceeds the threshold value, worst first. Different patch sides,
        patch counts or a dtype other than uint8 give status ``"error"``.

    Raises
    ------
    InputError
        For ``chunk_patches < 1``, ``keys`` together with ``alignment``, or ``keys``
        or ``alignment`` that do not fit the arrays.
    """
    threshold = threshold or Threshold(DEFAULT_MAX_MEAN_ABS_ERROR, "max", unit="uint8 levels")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    metric = "max_patch_mean_abs_error"
    if chunk_patches < 1:
        msg = f"`chunk_patches` is {chunk_patches}; expected an integer >= 1"
        raise InputError(msg)
    if keys is not None and alignment is not None:
        msg = "pass either `keys` or `alignment`; the alignment already labels the rows"
        raise InputError(msg)

    problem = _layout_problem(reference, candidate, labels=labels, metric=metric,
                              threshold=threshold)
    if problem is not None:
        return problem
    if alignment is None and reference.shape[0] != candidate.shape[0]:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=(
                f"patch counts differ: reference {reference.shape[0]}, candidate "
                f"{candidate.shape[0]}; pass `alignment=` to match patches by barcode"
            ),
        )
    index_reference, index_candidate, labels_of_rows = _row_plan(
        reference, candidate, keys=keys, alignment=alignment
    )
    n_obs = index_reference.shape[0]
    if n_obs == 0:
        return CheckResult.errored(**labels, metric=metric, threshold=threshold,
                                   reason="nothing to compare: no patches")

    start = time.perf_counter()
    logger.info("comparing %d patches of %d px", n_obs, reference.shape[1])
    mean_error = np.empty(n_obs, dtype=np.float64)
    max_error = np.empty(n_obs, dtype=np.int16)
    for begin in range(0, n_obs, chunk_patches):
        end = min(begin + chunk_patches, n_obs)
        first = np.asarray(reference[index_reference[begin:end]], dtype=np.int16)
        second = np.asarray(candidate[index_candidate[begin:end]], dtype=np.int16)
        difference = np.abs(second - first)
        mean_error[begin:end] = difference.mean(axis=(1, 2, 3))
        max_error[begin:end] = difference.max(axis=(1, 2, 3))
    logger.info("compared %d patches in %.2f s", n_obs, time.perf_counter() - start)

    order = np.argsort(-mean_error, kind="stable")
    offending = order[~accepted_mask(threshold, mean_error[order])]
    evidence = [_patch_row(labels_of_rows, index, mean_error, max_error)
                for index in offending[:MAX_EVIDENCE_ROWS]]
    identical = max_error == 0
    details = {
        "n_patches": n_obs,
        "patch_side_px": int(reference.shape[1]),
        "mean_patch_mean_abs_error": float(mean_error.mean()),
        "median_patch_mean_abs_error": float(np.median(mean_error)),
        "max_pixel_abs_error": int(max_error.max()),
        "n_identical": int(identical.sum()),
        "fraction_identical": float(identical.mean()),
        "worst": [_patch_row(labels_of_rows, index, mean_error, max_error)
                  for index in order[:_WORST_LISTED]],
    }
    context = (
        f"{offending.size}/{n_obs} patches beyond the threshold; "
        f"{int(identical.sum())}/{n_obs} identical; largest pixel error "
        f"{int(max_error.max())} levels"
    )
    return CheckResult.judged(
        **labels, metric=metric, observed=float(mean_error.max()), threshold=threshold,
        context=context, evidence=evidence, n_offending=int(offending.size), details=details,
    )


def _layout_problem(
    reference: Any,
    candidate: Any,
    *,
    labels: dict[str, str],
    metric: str,
    threshold: Threshold,
) -> CheckResult | None:
    """Return an ``"error"`` result when the arrays are not comparable patch stacks."""
    for side, array in (("reference", reference), ("candidate", candidate)):
        shape = np.shape(array)
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            return CheckResult.errored(
                **labels, metric=metric, threshold=threshold,
                reason=f"{side} patches have shape {shape}; expected (n_obs, S, S, 3)",
            )
        if np.dtype(array.dtype) != np.uint8:
            return CheckResult.errored(
                **labels, metric=metric, threshold=threshold,
                reason=f"{side} patches have dtype {array.dtype}; expected uint8",
            )
    side_reference = reference.shape[1]
    side_candidate = candidate.shape[1]
    if side_reference != side_candidate:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=(
                f"patch side differs: reference {side_reference} px, candidate "
                f"{side_candidate} px; the patches are not compared pixel by pixel"
            ),
            details={"patch_side_reference_px": int(side_reference),
                     "patch_side_candidate_px": int(side_candidate)},
        )
    return None


def _row_plan(
    reference: Any, candidate: Any, *, keys: Any, alignment: Alignment | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return the rows to read from each side and their labels."""
    n_reference, n_candidate = reference.shape[0], candidate.shape[0]
    if alignment is not None:
        if (n_reference, n_candidate) != (alignment.n_reference, alignment.n_candidate):
            msg = (
                f"patch counts ({n_reference} reference, {n_candidate} candidate) do not "
                f"match the alignment ({alignment.n_reference} and {alignment.n_candidate} "
                "barcodes); align the barcodes of these patch arrays"
            )
            raise InputError(msg)
        return alignment.reference_index, alignment.candidate_index, alignment.barcodes
    rows = np.arange(n_reference)
    return rows, rows, row_keys(keys, n_rows=n_reference)


def _patch_row(
    keys: np.ndarray | None, index: int, mean_error: np.ndarray, max_error: np.ndarray
) -> dict[str, Any]:
    return {
        "key": key_of(keys, index),
        "mean_abs_error": float(mean_error[index]),
        "max_abs_error": int(max_error[index]),
    }
