"""Named check of the ``patch_filter`` stage: the filtered windows.

STAIG's filter turns each RGB window into a blurred, low-passed grey image
replicated to three channels. A candidate that skips the filter stores its
unfiltered windows again, which this check detects by comparing the
candidate's filtered windows with the windows it was given.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from harness.compare.images import DEFAULT_CHUNK_PATCHES, compare_patches
from harness.compare.result import CheckResult
from harness.diagnose.patches import explain_patch_result
from harness.diff.context import DiffContext, Mode

STAGE = "patch_filter"

GREY_SAMPLE_PATCHES = 16
"""Patches inspected to tell grey (three equal channels) from colour output."""


def check_filtered(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the filtered windows and detect a candidate that does not filter.

    Metric ``max_patch_mean_abs_error`` in uint8 levels, patches matched by
    barcode. When the candidate's filtered windows equal the windows its
    patch_filter stage read (its own ``patches/patches`` in chained mode,
    the reference's in isolated mode), the diagnosis says it applies no filter.
    """
    labels = {"check_id": "patch_filter.filtered", "stage": STAGE, "artifact": "filtered"}
    threshold = context.threshold("patch_filter.filtered", "max_patch_mae")
    reference = context.ref(STAGE, "filtered")
    candidate = context.cand(STAGE, "filtered", mode=mode)
    result = compare_patches(
        reference, candidate, threshold=threshold, alignment=context.alignment, **labels
    )
    result = (
        explain_patch_result(result, context=context, mode=mode)
        if result.status == "error"
        else result
    )

    # In isolated mode the candidate's stage read the reference's patches.
    if mode == "isolated":
        stage_input = context.ref_or_none("patches", "patches")
    else:
        stage_input = context.cand_or_none("patches", "patches")
    findings: list[str] = []
    unfiltered = stage_input is not None and stacks_equal(candidate, stage_input)
    if unfiltered:
        findings.append(
            "the candidate applies no FFT filter: its filtered windows equal its unfiltered patches"
        )
    if result.status != "pass":
        if not unfiltered and _is_grey(reference) and not _is_grey(candidate):
            findings.append(
                "the candidate's filtered windows are in colour, the reference's are grey "
                "(one channel replicated three times)"
            )
        side_reference = np.shape(reference)[1] if np.ndim(reference) == 4 else None
        side_candidate = np.shape(candidate)[1] if np.ndim(candidate) == 4 else None
        if side_reference != side_candidate:
            findings.append(
                f"candidate filtered windows are {side_candidate} px, the reference's "
                f"{side_reference} px"
            )
        elif result.diagnosis:
            findings.append(result.diagnosis)
    details = {**result.details, "candidate_output_equals_input": unfiltered}
    return [dataclasses.replace(result, diagnosis="; ".join(findings), details=details)]


check_filtered.check_id = "patch_filter.filtered"


def stacks_equal(first: Any, second: Any, *, chunk_patches: int = DEFAULT_CHUNK_PATCHES) -> bool:
    """Return whether two patch stacks hold the same bytes, reading them chunk by chunk.

    Both stacks come from one side, so row ``i`` of each is the same spot.

    Parameters
    ----------
    first, second
        Shape ``(n_obs, S, S, 3)``, uint8, possibly memory-mapped.
    chunk_patches
        Patches read per step, default :data:`harness.compare.images.DEFAULT_CHUNK_PATCHES`.
    """
    if (
        np.shape(first) != np.shape(second)
        or np.asarray(first[:0]).dtype != np.asarray(second[:0]).dtype
    ):
        return False
    for start in range(0, np.shape(first)[0], chunk_patches):
        stop = start + chunk_patches
        if not np.array_equal(np.asarray(first[start:stop]), np.asarray(second[start:stop])):
            return False
    return True


def _is_grey(patches: Any) -> bool:
    """Return whether the first patches have three equal channels."""
    if np.ndim(patches) != 4 or np.shape(patches)[0] == 0:
        return False
    sample = np.asarray(patches[:GREY_SAMPLE_PATCHES])
    return bool(
        np.array_equal(sample[..., 0], sample[..., 1])
        and np.array_equal(sample[..., 0], sample[..., 2])
    )


DIAGNOSES = [check_filtered]
