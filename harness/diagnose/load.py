"""Checks of the ``load`` stage: which spots each side kept, and where they are.

Every later per-spot comparison joins the sides by barcode. ``load.barcodes``
judges which spots are compared at all, and ``load.spatial`` whether both
sides put them at the same full-resolution (x, y) pixel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.compare.align import check_alignment
from harness.compare.coordinates import compare_coordinates
from harness.compare.result import CheckResult
from harness.diagnose._support import with_diagnosis
from harness.diagnose.factors import match_factor, scale_candidates
from harness.diff.context import DiffContext, Mode
from harness.errors import InputError

FIT_RESIDUAL_PX = 0.5
"""Largest RMS residual, in px, for which a scale/offset fit counts as the explanation.

Half a pixel: positions files store whole pixels, so rounding alone leaves up to
0.5 px between a transformed and a re-read coordinate."""

SCALE_RTOL = 1e-6
"""Relative tolerance under which a fitted scale counts as 1 (float round-off only)."""

MISSING_LABELS = frozenset({"", "na", "nan", "none", "null"})
"""Label values, lower-cased, that mean "no ground-truth label"."""

DROPPED_UNLABELLED_KEYS = ("n_spots_dropped_unlabelled", "n_dropped_unlabelled")
"""Load-config keys under which a side records how many NA-labelled spots it dropped."""


def check_barcodes(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge the barcodes found on one side only (``load.barcodes``)."""
    check_id = "load.barcodes"
    threshold = context.threshold(check_id, "n_unmatched_barcodes")
    try:
        alignment = context.alignment
    except InputError as error:
        return [CheckResult.errored(
            check_id=check_id, stage="load", artifact="barcodes", metric="n_unmatched_barcodes",
            threshold=threshold, reason=f"the barcodes cannot be joined: {error}",
        )]
    result = check_alignment(alignment, check_id=check_id, threshold=threshold)

    sentences = []
    if alignment.n_only_in_reference or alignment.n_only_in_candidate:
        sentences.append(
            f"{alignment.n_only_in_reference} barcodes are only in the reference and "
            f"{alignment.n_only_in_candidate} only in the candidate, so every per-spot check "
            f"covers the {alignment.n_common} common spots only"
        )
        sentences.extend(_explain_unmatched(context))
    if alignment.candidate_reordered:
        sentences.append(
            "the candidate lists the spots in another order, which is not a divergence: "
            "every comparison joins the sides by barcode"
        )
    return [with_diagnosis(result, "; ".join(sentences))]


check_barcodes.check_id = "load.barcodes"


def check_spatial(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge whether both sides put each spot at the same (x, y) px (``load.spatial``)."""
    check_id = "load.spatial"
    if not context.has_artifact("load", "spatial"):
        return [CheckResult.skipped(
            check_id=check_id, stage="load", artifact="spatial", metric="max_error_px",
            reason="a side stored no load/spatial",
        )]
    try:
        reference, candidate = context.pair("load", "spatial")
    except InputError as error:
        return [CheckResult.errored(
            check_id=check_id, stage="load", artifact="spatial", metric="max_error_px",
            threshold=context.threshold(check_id, "max_error_px"),
            reason=f"the spots cannot be joined by barcode (see load.barcodes): {error}",
        )]
    result = compare_coordinates(
        reference, candidate, threshold=context.threshold(check_id, "max_error_px"),
        keys=context.barcodes, check_id=check_id, stage="load", artifact="spatial",
    )
    if result.status != "fail" or "fit" not in result.details:
        return [result]
    scalefactors = context.ref_or_none("load", "scalefactors")
    diagnosis = describe_fit(
        result.details["fit"], n_spots=result.n_offending,
        scalefactors=scalefactors if isinstance(scalefactors, Mapping) else {},
    )
    return [with_diagnosis(result, diagnosis)]


check_spatial.check_id = "load.spatial"


def describe_fit(fit: Mapping[str, Any], *, n_spots: int, scalefactors: Mapping[str, Any]) -> str:
    """Name the transform that turns the reference's coordinates into the candidate's.

    Parameters
    ----------
    fit
        :meth:`harness.compare.coordinates.ScaleFit.to_json` of reference to candidate.
    n_spots
        Number of spots that differ, for the sentence.
    scalefactors
        The reference's ``load/scalefactors``, to name a fitted scale.
    """
    if fit["swap_reduces_residual"] and fit["swapped_residual_rms_px"] <= FIT_RESIDUAL_PX:
        scale = fit["swapped_scale"]
        scaled = "" if abs(scale - 1) <= SCALE_RTOL else f", scaled by {scale:.6g}"
        return (
            f"the candidate's x and y are swapped{scaled}: it stores (y, x), e.g. "
            "(pxl_row_in_fullres, pxl_col_in_fullres), where STAIG's obsm['spatial'] is (x, y)"
        )
    if fit["residual_rms_px"] <= FIT_RESIDUAL_PX:
        scale = fit["scale"]
        tx, ty = fit["translation"]
        if abs(scale - 1) > SCALE_RTOL:
            factor = match_factor(scale, scale_candidates(scalefactors))
            named = f" = {factor.describe()}" if factor is not None and factor.name != "1" else ""
            return (
                f"candidate coordinates = {scale:.6g}{named} × reference"
                f"{_offset_text(tx, ty)}: the candidate stores another pixel frame than "
                "full resolution"
            )
        return f"candidate coordinates are the reference's shifted by ({tx:.6g}, {ty:.6g}) px"
    if fit["residual_rms_axes_px"] <= FIT_RESIDUAL_PX:
        return (
            f"the candidate scales x by {fit['scale_x']:.6g} and y by {fit['scale_y']:.6g}: "
            "its coordinates are in a frame with unequal axes (e.g. array rows and columns)"
        )
    return (
        f"{n_spots} spots are at other positions, and no common scale, offset or x/y swap "
        f"explains it (best fit residual {fit['residual_rms_px']:.3g} px)"
    )


def _offset_text(tx: float, ty: float) -> str:
    if abs(tx) <= FIT_RESIDUAL_PX and abs(ty) <= FIT_RESIDUAL_PX:
        return ""
    return f" + ({tx:.6g}, {ty:.6g}) px"


def _explain_unmatched(context: DiffContext) -> list[str]:
    """Explain one-sided barcodes with the label filter, where the sides' records allow it."""
    reference = np.asarray(context.ref("load", "barcodes")).astype(str)
    candidate = np.asarray(context.cand("load", "barcodes")).astype(str)
    only_candidate = np.isin(candidate, reference, invert=True)
    only_reference = np.isin(reference, candidate, invert=True)
    sentences = []

    labels = context.cand_or_none("load", "labels")
    if only_candidate.any() and labels is not None and len(labels) == candidate.size:
        extra = np.char.lower(np.asarray(labels)[only_candidate].astype(str))
        n_missing = int(np.isin(extra, list(MISSING_LABELS)).sum())
        if n_missing == extra.size:
            sentences.append(
                f"all {extra.size} candidate-only spots have no ground-truth label: the "
                "candidate keeps NA-labelled spots that the reference drops"
            )
    dropped = _dropped_unlabelled(context.ref_or_none("load", "config"))
    if dropped and int(only_candidate.sum()) == dropped and not only_reference.any():
        sentences.append(
            f"the reference dropped exactly {dropped} spots for lacking a label, as many as "
            "the candidate has in excess"
        )
    return sentences


def _dropped_unlabelled(config: Any) -> int | None:
    if not isinstance(config, Mapping):
        return None
    for key in DROPPED_UNLABELLED_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


DIAGNOSES = [check_barcodes, check_spatial]
