"""Named checks of the ``patches`` stage: window centres, window size, tissue coverage, pixels.

Each side stores its centres and boxes in the pixel frame of the image level
it cut from (``patches/image_level``: level name and scale factor). Centres
are compared in full-resolution px (level px divided by the level's scale),
so two sides that cut from different levels can still agree. A divergence
is explained by fitting ``candidate = s * reference + t`` and naming ``s``
after the slice's scale factors (see :mod:`harness.diagnose.factors`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compare.coordinates import ScaleFit, compare_coordinates, fit_scale_translation
from harness.compare.images import compare_patches
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult
from harness.diagnose.factors import (
    FACTOR_RTOL,
    KnownFactor,
    match_factor,
    name_level_scale,
    scale_candidates,
    window_side_candidates,
)
from harness.diagnose.tissue import load_tissue_mask
from harness.diff.context import DiffContext, Mode
from harness.errors import InputError

logger = logging.getLogger(__name__)

STAGE = "patches"

EXPLAINED_RESIDUAL_FRACTION = 1e-3
"""Largest RMS residual of a fit that explains the centres, as a fraction of the reference
centres' RMS spread. Documented default: 3 px on a DLPFC slice, whose spots spread over
about 3000 full-resolution px. One pixel of the coarser level is always accepted."""

# Extent (fraction of the image's width and height) below which the candidate's centres
# are reported as crowded into the top-left corner.
_CROWDED_EXTENT = 0.5


@dataclass(frozen=True)
class LevelRecord:
    """One side's ``patches/image_level`` record, reduced to what the checks need.

    Attributes
    ----------
    name
        Level name (``"fullres"``, ``"hires"``, ``"lowres"``), from the key
        ``"level"`` or ``"name"``; ``"unnamed"`` when neither is present.
    scale
        Level px per full-resolution px.
    shape
        ``(height, width)`` of the level in px, when recorded (``"image_shape"``
        or ``"shape"``).
    window_side_fullres_px
        Window side in full-resolution px when the side records it.
    """

    name: str
    scale: float
    shape: tuple[int, int] | None
    window_side_fullres_px: float | None

    def describe(self, scalefactors: Mapping[str, Any]) -> str:
        """Return e.g. ``"the lowres image (scale tissue_lowres_scalef 0.0450045)"``."""
        return f"the {self.name} image (scale {name_level_scale(self.scale, scalefactors)})"


def read_level_record(record: Any, *, side: str) -> LevelRecord:
    """Read a ``patches/image_level`` JSON record.

    Raises
    ------
    InputError
        When the record is not an object or lacks a positive, finite ``"scale"``.
    """
    if not isinstance(record, Mapping):
        msg = (
            f"the {side}'s patches/image_level is a {type(record).__name__}; expected a JSON object"
        )
        raise InputError(msg)
    scale = record.get("scale")
    if (
        isinstance(scale, bool)
        or not isinstance(scale, int | float)
        or not math.isfinite(scale)
        or scale <= 0
    ):
        msg = (
            f"the {side}'s patches/image_level has scale {scale!r}; expected the level's positive "
            f"scale factor (1 for fullres). It has the keys {sorted(record)}"
        )
        raise InputError(msg)
    shape = record.get("image_shape", record.get("shape"))
    side_fullres = record.get("window_side_fullres_px")
    return LevelRecord(
        name=str(record.get("level", record.get("name", "unnamed"))),
        scale=float(scale),
        shape=(int(shape[0]), int(shape[1]))
        if isinstance(shape, list | tuple) and len(shape) >= 2
        else None,
        window_side_fullres_px=float(side_fullres)
        if isinstance(side_fullres, int | float)
        else None,
    )


# -- patches.centers ----------------------------------------------------------


def check_centers(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare window centres in full-resolution px and explain a divergence.

    Metric ``max_error_px`` (full-resolution px) over spots aligned by
    barcode; evidence lists the worst spots. A failing result's diagnosis
    names the fitted scale (e.g. ``tissue_hires_scalef``), an x/y swap or a
    half-window offset.
    """
    labels = {"check_id": "patches.centers", "stage": STAGE, "artifact": "centers"}
    reference_raw, candidate_raw = context.pair(STAGE, "centers", mode=mode)
    reference_level = read_level_record(context.ref(STAGE, "image_level"), side="reference")
    candidate_level = read_level_record(
        context.cand(STAGE, "image_level", mode=mode), side="candidate"
    )
    scalefactors = context.ref_or_none("load", "scalefactors") or {}
    reference_raw = np.asarray(reference_raw, dtype=np.float64)
    candidate_raw = np.asarray(candidate_raw, dtype=np.float64)

    reference_full = reference_raw / reference_level.scale
    candidate_full = candidate_raw / candidate_level.scale
    result = compare_coordinates(
        reference_full,
        candidate_full,
        threshold=context.threshold("patches.centers", "max_error_px"),
        keys=context.barcodes,
        **labels,
    )
    details = {
        **result.details,
        "frame": "full-resolution px (each side's centres divided by its level scale)",
        "reference_level": dataclasses.asdict(reference_level),
        "candidate_level": dataclasses.asdict(candidate_level),
    }
    if result.status != "fail":
        return [dataclasses.replace(result, details=details)]

    window_side = _reference_window_side_fullres(context, reference_level)
    diagnosis, extra = explain_centres(
        reference_full,
        candidate_full,
        reference_level=reference_level,
        candidate_level=candidate_level,
        window_side_fullres_px=window_side,
        scalefactors=scalefactors,
    )
    same_level = math.isclose(reference_level.scale, candidate_level.scale, rel_tol=1e-9)
    fittable = len(reference_raw) >= 2 and np.isfinite(reference_raw).all()
    if same_level and fittable and np.isfinite(candidate_raw).all():
        # What a user sees when both sides cut from the same image: the raw centres' ratio.
        extra["fit_level_px"] = fit_scale_translation(reference_raw, candidate_raw).to_json()
    return [dataclasses.replace(result, diagnosis=diagnosis, details={**details, **extra})]


check_centers.check_id = "patches.centers"


def explain_centres(
    reference_fullres: np.ndarray,
    candidate_fullres: np.ndarray,
    *,
    reference_level: LevelRecord,
    candidate_level: LevelRecord,
    window_side_fullres_px: float | None,
    scalefactors: Mapping[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Explain how the candidate's centres relate to the reference's.

    Parameters
    ----------
    reference_fullres, candidate_fullres
        Shape ``(n_obs, 2)``: (x, y) in full-resolution px, rows aligned by barcode.
    reference_level, candidate_level
        Each side's image level.
    window_side_fullres_px
        The reference's window side in full-resolution px, for the half-window test.
    scalefactors
        The reference's ``load/scalefactors`` record.

    Returns
    -------
    diagnosis
        One or two sentences.
    details
        The full-resolution fit, the residual that counts as explained, and the
        factors matched.
    """
    finite = np.isfinite(reference_fullres).all(axis=1) & np.isfinite(candidate_fullres).all(axis=1)
    if not finite.all():
        return (
            f"{int((~finite).sum())} of {finite.size} spots have non-finite centres on one side; "
            "fix those before the centres can be compared",
            {},
        )
    if reference_fullres.shape[0] < 2:
        return "a single spot cannot reveal a scale or an offset", {}

    fit = fit_scale_translation(reference_fullres, candidate_fullres)
    spread = float(
        np.sqrt(np.mean(np.sum((reference_fullres - reference_fullres.mean(axis=0)) ** 2, axis=1)))
    )
    coarsest = min(reference_level.scale, candidate_level.scale)
    tolerance = max(EXPLAINED_RESIDUAL_FRACTION * spread, 1.0 / coarsest)
    details: dict[str, Any] = {
        "fit_fullres": fit.to_json(),
        "fit_tolerance_px": tolerance,
        "reference_spread_rms_px": spread,
    }

    if fit.swap_reduces_residual and fit.swapped_residual_rms_px <= tolerance < fit.residual_rms_px:
        return _explain_swap(fit, scalefactors), details
    if fit.residual_rms_px <= tolerance:
        text, extra = _explain_isotropic(
            fit,
            reference_level=reference_level,
            candidate_level=candidate_level,
            window_side_fullres_px=window_side_fullres_px,
            scalefactors=scalefactors,
        )
        details.update(extra)
        corner = _describe_extent(candidate_fullres, candidate_level)
        return (f"{text}. {corner}" if corner else text), details
    if fit.residual_rms_axes_px <= tolerance:
        factors = scale_candidates(scalefactors)
        name_x = _factor_name(fit.scale_x, factors)
        name_y = _factor_name(fit.scale_y, factors)
        return (
            f"candidate x = {fit.scale_x:.4g} × reference x ({name_x}) but y = "
            f"{fit.scale_y:.4g} × reference y ({name_y}): the axes are scaled differently"
        ), details
    return (
        "candidate centres follow no common scale, shift or x/y swap of the reference centres "
        f"(best fit: scale {fit.scale:.4g}, residual RMS {fit.residual_rms_px:.4g} px); the "
        "evidence lists the spots that differ most"
    ), details


def _explain_swap(fit: ScaleFit, scalefactors: Mapping[str, Any]) -> str:
    text = (
        "candidate centres have x and y swapped: with the reference's x and y exchanged the fit "
        f"leaves {fit.swapped_residual_rms_px:.3g} px RMS, without the exchange "
        f"{fit.residual_rms_px:.4g} px"
    )
    factor = match_factor(fit.swapped_scale, scale_candidates(scalefactors))
    if factor is not None and factor.name != "1":
        text += f", and they are scaled by {factor.describe()}"
    elif factor is None:
        text += f", and scaled by {fit.swapped_scale:.4g}"
    return text


def _explain_isotropic(
    fit: ScaleFit,
    *,
    reference_level: LevelRecord,
    candidate_level: LevelRecord,
    window_side_fullres_px: float | None,
    scalefactors: Mapping[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Explain a fit ``candidate = s * reference + t`` that leaves no residual."""
    scale = fit.scale
    tx, ty = fit.translation
    candidate_px = 1.0 / candidate_level.scale  # one candidate level px, in full-resolution px
    if abs(scale - 1.0) <= FACTOR_RTOL:
        return _explain_shift(
            tx,
            ty,
            scale=scale,
            window_side_fullres_px=window_side_fullres_px,
            level_px=candidate_px,
        ), {}

    factors = scale_candidates(scalefactors)
    same_level = math.isclose(reference_level.scale, candidate_level.scale, rel_tol=1e-9)
    factor = match_factor(scale, factors)
    # The candidate's raw centres are (s * scale_candidate_level) * x + ...: the factor it
    # applied to full-resolution coordinates.
    applied = scale * candidate_level.scale
    applied_factor = match_factor(applied, factors)
    extra = {
        "scale_factor_matched": factor.name if factor else None,
        "coordinate_scale_applied": applied,
        "coordinate_scale_applied_matched": applied_factor.name if applied_factor else None,
    }

    # Name the ratio only when the cause below does not already name the same factor.
    named = ""
    if factor is not None and (applied_factor is None or factor.name != applied_factor.name):
        named = f" (= {factor.name})"
    head = f"candidate patch centres = {scale:.3f} × reference{named}"
    if not same_level:
        head = f"in full-resolution px, {head}"

    if applied_factor is not None and not math.isclose(
        applied_factor.value, candidate_level.scale, rel_tol=FACTOR_RTOL
    ):
        if math.isclose(candidate_level.scale, 1.0, rel_tol=1e-9):
            cause = (
                f"full-resolution coordinates scaled by {applied_factor.describe()} while cutting "
                f"from the {candidate_level.name} image"
            )
        elif applied_factor.name == "1":
            cause = (
                "full-resolution coordinates were not scaled although the windows are cut from "
                f"{candidate_level.describe(scalefactors)}"
            )
        else:
            cause = (
                f"candidate centres were scaled by {applied_factor.describe()} although the "
                f"windows are cut from {candidate_level.describe(scalefactors)}"
            )
    elif factor is not None:
        cause = f"the centres are scaled by {factor.describe()}"
    else:
        known = ", ".join(f"{item.name} = {item.value:.4g}" for item in factors)
        cause = f"a scale that matches no known factor ({known})"

    text = f"{head}: {cause}"
    if math.hypot(tx, ty) > candidate_px:
        text += f", plus a shift of ({tx:+.4g}, {ty:+.4g}) full-resolution px"
    if not same_level:
        text += f". The reference cuts from {reference_level.describe(scalefactors)}"
    return text, extra


def _explain_shift(
    tx: float, ty: float, *, scale: float, window_side_fullres_px: float | None, level_px: float
) -> str:
    """Explain a fit with scale about 1: a shift, a half-window offset or round-off."""
    if window_side_fullres_px is not None:
        half = window_side_fullres_px / 2
        tolerance = max(level_px, FACTOR_RTOL * window_side_fullres_px)
        offset = f"({tx:+.4g}, {ty:+.4g}) px, half the {window_side_fullres_px:.4g} px window"
        if abs(tx + half) <= tolerance and abs(ty + half) <= tolerance:
            return (
                f"candidate centres are offset by {offset}: centres are the windows' top-left "
                "corners"
            )
        if abs(tx - half) <= tolerance and abs(ty - half) <= tolerance:
            return (
                f"candidate centres are offset by {offset}: spot positions were used as the "
                "windows' top-left corners, so the windows lie half a window right of and below "
                "the spots"
            )
    if math.hypot(tx, ty) <= level_px and abs(scale - 1.0) <= 1e-3:
        return (
            "candidate centres agree with the reference to within one image pixel, with no "
            "systematic scale or shift: round-off or truncation of the centres"
        )
    return (
        f"candidate centres are shifted by ({tx:+.4g}, {ty:+.4g}) full-resolution px "
        f"(scale {scale:.4g})"
    )


def _describe_extent(candidate_fullres: np.ndarray, level: LevelRecord) -> str:
    """Describe where the candidate's centres fall in its image: crowded in a corner, or outside."""
    if level.shape is None:
        return ""
    height, width = level.shape
    x = candidate_fullres[:, 0] * level.scale
    y = candidate_fullres[:, 1] * level.scale
    outside = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    if outside.any():
        return (
            f"{outside.mean():.0%} of the candidate's centres fall outside its "
            f"{width} × {height} px {level.name} image"
        )
    extent_x = float(x.max()) / width
    extent_y = float(y.max()) / height
    if max(extent_x, extent_y) < _CROWDED_EXTENT:
        return (
            f"The candidate's windows pile up in the top-left corner of its {level.name} image "
            f"(x up to {extent_x:.0%} of its width, y up to {extent_y:.0%} of its height)"
        )
    return ""


def _factor_name(value: float, factors: tuple[KnownFactor, ...]) -> str:
    factor = match_factor(value, factors)
    return factor.name if factor is not None else "no known factor"


def _reference_window_side_fullres(context: DiffContext, level: LevelRecord) -> float | None:
    """Return the reference's window side in full-resolution px (recorded, else from its boxes)."""
    if level.window_side_fullres_px is not None:
        return level.window_side_fullres_px
    boxes = context.ref_or_none(STAGE, "boxes")
    if boxes is None or len(boxes) == 0:
        return None
    sides = np.asarray(boxes)[:, 2] - np.asarray(boxes)[:, 0]
    return float(np.median(sides)) / level.scale


# -- patches.window -----------------------------------------------------------


@dataclass(frozen=True)
class WindowSides:
    """One side's window geometry, from its boxes and patches.

    Attributes
    ----------
    level_px
        Most common window side in px of the level (``right - left``).
    n_distinct
        Number of distinct sides among the boxes (widths and heights together).
    square
        Whether every box is as wide as it is high.
    output_px
        Side ``S`` of the stored patches ``(n_obs, S, S, 3)``; ``None`` when not stored.
    """

    level_px: int
    n_distinct: int
    square: bool
    output_px: int | None


def check_window(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the window side (from the boxes) and the resized patch side of both sides.

    Metric ``side_ratio``: ``|candidate side / expected side - 1|`` in px of the
    candidate's level, where the expected side is the reference's, mapped to
    the candidate's level by STAIG's rule ``max(1, round(504 * scale))`` when
    the two sides cut from different levels. Different patch output sides
    fail whatever the threshold.
    """
    labels = {"check_id": "patches.window", "stage": STAGE, "artifact": "boxes"}
    metric = "side_ratio"
    threshold = context.threshold("patches.window", metric)
    reference_level = read_level_record(context.ref(STAGE, "image_level"), side="reference")
    candidate_level = read_level_record(
        context.cand(STAGE, "image_level", mode=mode), side="candidate"
    )
    scalefactors = context.ref_or_none("load", "scalefactors") or {}
    reference_boxes, candidate_boxes = context.pair(STAGE, "boxes", mode=mode)
    reference = _window_sides(reference_boxes, _patch_side(context.reference))
    candidate = _window_sides(
        candidate_boxes, _patch_side(context.isolated if mode == "isolated" else context.candidate)
    )
    if reference is None or candidate is None:
        return [
            CheckResult.errored(
                **labels,
                metric=metric,
                threshold=threshold,
                reason="no boxes to measure a window side from",
            )
        ]

    reference_fullres = _fullres_side(reference.level_px, reference_level)
    if math.isclose(reference_level.scale, candidate_level.scale, rel_tol=1e-9):
        expected = reference.level_px
    else:
        expected = max(1, round(reference_fullres * candidate_level.scale))
    observed = abs(candidate.level_px / expected - 1.0)
    candidate_fullres = _fullres_side(candidate.level_px, candidate_level)

    findings: list[str] = []
    if observed > 0:
        findings.append(
            _explain_side(
                candidate.level_px,
                candidate_fullres,
                expected_level_px=expected,
                reference_fullres=reference_fullres,
                reference_level_px=reference.level_px,
                candidate_level=candidate_level,
                scalefactors=scalefactors,
            )
        )
    if candidate.n_distinct > 1 or not candidate.square:
        findings.append(
            f"candidate windows are not all the same square: {candidate.n_distinct} distinct sides"
        )
    forced = ""
    if (
        reference.output_px is not None
        and candidate.output_px is not None
        and reference.output_px != candidate.output_px
    ):
        forced = (
            f"candidate resizes windows to {candidate.output_px} px, the reference to "
            f"{reference.output_px} px"
        )
        findings.append(forced)

    details = {
        "reference_side_level_px": reference.level_px,
        "candidate_side_level_px": candidate.level_px,
        "expected_candidate_side_level_px": expected,
        "reference_side_fullres_px": reference_fullres,
        "candidate_side_fullres_px": candidate_fullres,
        "reference_level": reference_level.name,
        "candidate_level": candidate_level.name,
        "reference_patch_side_px": reference.output_px,
        "candidate_patch_side_px": candidate.output_px,
        "candidate_distinct_sides": candidate.n_distinct,
    }
    result = CheckResult.judged(
        **labels,
        metric=metric,
        observed=observed,
        threshold=threshold,
        forced_failure=forced,
        context=(
            f"window side {candidate.level_px} px (candidate, {candidate_level.name}) vs expected "
            f"{expected} px; patches {candidate.output_px} vs {reference.output_px} px"
        ),
        details=details,
    )
    if result.status == "fail" or findings:
        result = dataclasses.replace(result, diagnosis="; ".join(findings))
    return [result]


check_window.check_id = "patches.window"


def _explain_side(
    level_px: int,
    fullres_px: float,
    *,
    expected_level_px: int,
    reference_fullres: float,
    reference_level_px: int,
    candidate_level: LevelRecord,
    scalefactors: Mapping[str, Any],
) -> str:
    """Name the window side the candidate used."""
    staig = window_side_candidates(scalefactors)[0]
    # A full-resolution side estimated from a window of n level px is known to about 1/n.
    unscaled_tolerance = max(FACTOR_RTOL, 1.0 / max(reference_level_px, 1))
    if candidate_level.scale < 1 and abs(level_px / reference_fullres - 1.0) <= unscaled_tolerance:
        return (
            f"candidate windows are {level_px} px in the {candidate_level.name} image, the "
            f"full-resolution side not scaled to that level (expected {expected_level_px} px = "
            f"{reference_fullres:.4g} × {candidate_level.scale:.6g})"
        )
    # A side rounded to whole level px is known to within one level px.
    tolerance = max(FACTOR_RTOL, 1.0 / max(level_px, 1))
    side = match_factor(fullres_px, window_side_candidates(scalefactors)[1:], rtol=tolerance)
    if side is not None:
        return (
            f"candidate windows are {fullres_px:.0f} full-resolution px = {side.name} instead of "
            f"{staig.name} = {staig.value:.0f} px"
        )
    return (
        f"candidate windows are {level_px} px in the {candidate_level.name} image "
        f"({fullres_px:.4g} full-resolution px); expected {expected_level_px} px "
        f"({staig.name} = {staig.value:.0f} full-resolution px)"
    )


def _window_sides(boxes: Any, output_px: int | None) -> WindowSides | None:
    array = np.asarray(boxes, dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != 4 or array.shape[0] == 0:
        return None
    widths = array[:, 2] - array[:, 0]
    heights = array[:, 3] - array[:, 1]
    values, counts = np.unique(np.concatenate([widths, heights]), return_counts=True)
    return WindowSides(
        level_px=int(values[np.argmax(counts)]),
        n_distinct=int(values.size),
        square=bool(np.array_equal(widths, heights)),
        output_px=output_px,
    )


def _fullres_side(level_px: int, level: LevelRecord) -> float:
    """Return a window side in full-resolution px: recorded when known, else level px / scale."""
    if math.isclose(level.scale, 1.0, rel_tol=1e-12):
        return float(level_px)
    if level.window_side_fullres_px is not None:
        return level.window_side_fullres_px
    return level_px / level.scale


def _patch_side(records: Mapping[str, Any]) -> int | None:
    """Return ``S`` of ``patches/patches`` from the stored shape, without reading pixels."""
    record = records.get(STAGE)
    if record is None or "patches" not in record.artifacts:
        return None
    shape = record.artifacts["patches"].shape
    if shape is None:
        shape = np.shape(record.load("patches"))
    return int(shape[1]) if len(shape) == 4 else None


# -- patches.on_tissue --------------------------------------------------------


def check_on_tissue(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the fraction of window centres that lie on tissue.

    The tissue mask comes from the reference's lowest-resolution image level
    (:func:`harness.diagnose.tissue.load_tissue_mask`). Metric ``on_tissue_drop``:
    the reference's fraction minus the candidate's. Evidence: spots whose
    candidate window is centred off tissue while the reference's is on it.
    """
    labels = {"check_id": "patches.on_tissue", "stage": STAGE, "artifact": "centers"}
    metric = "on_tissue_drop"
    threshold = context.threshold("patches.on_tissue", metric)
    scalefactors = context.ref("load", "scalefactors")
    tissue = load_tissue_mask(scalefactors, data_dir=context.data_dir)

    reference_level = read_level_record(context.ref(STAGE, "image_level"), side="reference")
    candidate_level = read_level_record(
        context.cand(STAGE, "image_level", mode=mode), side="candidate"
    )
    reference_raw, candidate_raw = context.pair(STAGE, "centers", mode=mode)
    reference_full = np.asarray(reference_raw, dtype=np.float64) / reference_level.scale
    candidate_full = np.asarray(candidate_raw, dtype=np.float64) / candidate_level.scale
    reference_on = tissue.on_tissue(reference_full)
    candidate_on = tissue.on_tissue(candidate_full)
    if reference_on.size == 0:
        return [
            CheckResult.errored(
                **labels, metric=metric, threshold=threshold, reason="nothing to compare: no spots"
            )
        ]

    reference_fraction = float(reference_on.mean())
    candidate_fraction = float(candidate_on.mean())
    lost = np.flatnonzero(reference_on & ~candidate_on)
    barcodes = context.barcodes
    evidence = [
        {
            "key": str(barcodes[index]),
            "reference_x": float(reference_full[index, 0]),
            "reference_y": float(reference_full[index, 1]),
            "candidate_x": float(candidate_full[index, 0]),
            "candidate_y": float(candidate_full[index, 1]),
        }
        for index in lost[:MAX_EVIDENCE_ROWS]
    ]
    outside = ~tissue.inside_image(candidate_full)
    details = {
        "reference_fraction_on_tissue": reference_fraction,
        "candidate_fraction_on_tissue": candidate_fraction,
        "candidate_fraction_outside_image": float(outside.mean()),
        "tissue_mask_source": tissue.source,
        "tissue_mask_level": tissue.level,
        "tissue_fraction_of_image": tissue.fraction_tissue,
        "otsu_saturation_threshold": tissue.otsu_threshold,
    }
    result = CheckResult.judged(
        **labels,
        metric=metric,
        observed=reference_fraction - candidate_fraction,
        threshold=threshold,
        context=(
            f"on tissue: reference {reference_fraction:.1%}, candidate {candidate_fraction:.1%} of "
            f"{reference_on.size} windows (mask from the {tissue.level} image)"
        ),
        evidence=evidence,
        n_offending=int(lost.size),
        details=details,
    )
    if result.status != "fail":
        return [result]
    diagnosis = (
        f"{1 - candidate_fraction:.0%} of candidate windows are centred off tissue "
        f"(reference: {1 - reference_fraction:.0%})"
    )
    if outside.any():
        diagnosis += f"; {outside.mean():.0%} lie outside the image"
    return [dataclasses.replace(result, diagnosis=diagnosis)]


check_on_tissue.check_id = "patches.on_tissue"


# -- patches.pixels -----------------------------------------------------------


def check_pixels(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the resized patches pixel by pixel (mean absolute error per patch).

    Patches of different sides cannot be compared; that is a failure of its
    own with the two sides named, not an error of the harness.
    """
    labels = {"check_id": "patches.pixels", "stage": STAGE, "artifact": "patches"}
    threshold = context.threshold("patches.pixels", "max_patch_mae")
    reference = context.ref(STAGE, "patches")
    candidate = context.cand(STAGE, "patches", mode=mode)
    result = compare_patches(
        reference, candidate, threshold=threshold, alignment=context.alignment, **labels
    )
    return [explain_patch_result(result, context=context, mode=mode)]


check_pixels.check_id = "patches.pixels"


def explain_patch_result(result: CheckResult, *, context: DiffContext, mode: Mode) -> CheckResult:
    """Turn a patch-side mismatch into a failure and explain a pixel difference.

    A failing comparison is explained by the image levels and the boxes:
    other levels, boxes at other places, or identical boxes with other pixels.
    """
    reference_side = result.details.get("patch_side_reference_px")
    candidate_side = result.details.get("patch_side_candidate_px")
    if result.status == "error" and reference_side is not None and candidate_side is not None:
        finding = (
            f"candidate resizes windows to {candidate_side} px, the reference to "
            f"{reference_side} px"
        )
        failed = CheckResult.judged(
            check_id=result.check_id,
            stage=result.stage,
            artifact=result.artifact,
            metric=result.metric,
            observed=float("nan"),
            threshold=result.threshold,
            forced_failure=f"patch sides differ ({finding})",
            details=result.details,
        )
        return dataclasses.replace(
            failed, diagnosis=f"{finding}, so the patches cannot be compared pixel by pixel"
        )

    if result.status != "fail" or not context.has_artifact(STAGE, "boxes", mode=mode):
        return result
    reference_level = read_level_record(context.ref(STAGE, "image_level"), side="reference")
    candidate_level = read_level_record(
        context.cand(STAGE, "image_level", mode=mode), side="candidate"
    )
    if not math.isclose(reference_level.scale, candidate_level.scale, rel_tol=1e-9):
        diagnosis = (
            f"the sides cut from different image levels (reference {reference_level.name}, "
            f"candidate {candidate_level.name}), so the resized pixels differ"
        )
        return dataclasses.replace(result, diagnosis=diagnosis)

    reference_boxes, candidate_boxes = context.pair(STAGE, "boxes", mode=mode)
    reference_boxes = np.asarray(reference_boxes)
    candidate_boxes = np.asarray(candidate_boxes)
    if reference_boxes.shape != candidate_boxes.shape:
        return result

    differing = int(np.any(reference_boxes != candidate_boxes, axis=1).sum())
    if differing:
        diagnosis = (
            f"{differing} of {len(reference_boxes)} windows are cut at other places (boxes "
            "differ); see patches.centers and patches.window"
        )
    else:
        diagnosis = (
            "the windows are cut at the same places (identical boxes) but their pixels differ: "
            "the image read, the white padding or the resize differs"
        )
    return dataclasses.replace(result, diagnosis=diagnosis)


DIAGNOSES = [check_centers, check_window, check_on_tissue, check_pixels]
