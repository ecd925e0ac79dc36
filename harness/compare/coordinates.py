"""Comparison of per-spot point sets: pixel errors and a scale-and-translation fit.

The fit describes how the candidate's points relate to the reference's: a
scale factor (such as a hires scale factor applied to full-resolution
coordinates), an offset, or swapped x and y. Naming the cause from these
numbers is left to the diagnosis layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from harness.compare._common import accepted_mask, key_of, row_keys
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold
from harness.errors import InputError

DEFAULT_MAX_ERROR_PX = 1e-6
"""Documented default for the maximum per-spot error in px: far below one pixel and far
above float64 round-off of coordinates below 1e5 px (about 1e-11 px)."""

# Swapping x and y "reduces" the residual only when it shrinks by more than this
# relative amount, so that symmetric point sets (equal residuals) do not count.
_SWAP_RELATIVE_MARGIN = 1e-6


@dataclass(frozen=True)
class ScaleFit:
    """Least-squares fits of ``candidate ≈ scale * reference + translation``.

    All lengths are in px of the frame the points are given in. Scales are NaN
    when the reference points do not spread along the axis they scale.

    Attributes
    ----------
    scale
        Isotropic scale ``s`` of the fit ``candidate ≈ s * reference + t``.
    translation
        ``(tx, ty)`` of that fit, px.
    residual_rms_px
        Root-mean-square Euclidean residual of that fit, px.
    scale_x, scale_y
        Per-axis scales of ``candidate_x ≈ sx * reference_x + tx`` and likewise for y.
    translation_axes
        ``(tx, ty)`` of the per-axis fit, px.
    residual_rms_axes_px
        RMS residual of the per-axis fit, px.
    swapped_scale, swapped_translation, swapped_residual_rms_px
        The isotropic fit with the reference's x and y exchanged.
    swap_reduces_residual
        Whether the swapped fit's residual is smaller (by more than a relative 1e-6).
    """

    scale: float
    translation: tuple[float, float]
    residual_rms_px: float
    scale_x: float
    scale_y: float
    translation_axes: tuple[float, float]
    residual_rms_axes_px: float
    swapped_scale: float
    swapped_translation: tuple[float, float]
    swapped_residual_rms_px: float
    swap_reduces_residual: bool

    def to_json(self) -> dict[str, Any]:
        """Return the fit as a JSON-compatible dict."""
        data = asdict(self)
        for name in ("translation", "translation_axes", "swapped_translation"):
            data[name] = list(data[name])
        return data


def fit_scale_translation(reference: Any, candidate: Any) -> ScaleFit:
    """Fit ``candidate ≈ s * reference + t`` by least squares, also per axis and swapped.

    Parameters
    ----------
    reference
        Shape ``(n_obs, 2)``: (x, y) per spot, px.
    candidate
        Shape ``(n_obs, 2)``: (x, y) per spot, px, rows aligned by barcode.

    Returns
    -------
    ScaleFit

    Raises
    ------
    InputError
        When a side is not ``(n_obs, 2)`` with ``n_obs >= 2``, the row counts differ,
        or a value is not finite.
    """
    first = _as_points(reference, name="reference")
    second = _as_points(candidate, name="candidate")
    if first.shape != second.shape:
        msg = (
            f"point sets have shapes {first.shape} and {second.shape}; align them by "
            "barcode so that row i is the same spot on both sides"
        )
        raise InputError(msg)

    scale, translation, residual = _isotropic_fit(first, second)
    scales, translation_axes, residual_axes = _per_axis_fit(first, second)
    swapped_scale, swapped_translation, swapped_residual = _isotropic_fit(first[:, ::-1], second)
    return ScaleFit(
        scale=scale,
        translation=translation,
        residual_rms_px=residual,
        scale_x=scales[0],
        scale_y=scales[1],
        translation_axes=translation_axes,
        residual_rms_axes_px=residual_axes,
        swapped_scale=swapped_scale,
        swapped_translation=swapped_translation,
        swapped_residual_rms_px=swapped_residual,
        swap_reduces_residual=bool(
            swapped_residual < residual * (1 - _SWAP_RELATIVE_MARGIN)
        ),
    )


def compare_coordinates(
    reference: Any,
    candidate: Any,
    *,
    threshold: Threshold | None = None,
    keys: Any = None,
    check_id: str = "coordinates.error_px",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Judge the per-spot Euclidean distance between two point sets.

    Parameters
    ----------
    reference, candidate
        Shape ``(n_obs, 2)``: (x, y) per spot in px of the same frame, rows aligned by
        barcode.
    threshold
        Bound on the maximum error, default
        ``Threshold(DEFAULT_MAX_ERROR_PX, "max", unit="px")``.
    keys
        Shape ``(n_obs,)``: barcodes for the evidence; row indices when ``None``.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"max_error_px"``. ``details`` contains max/mean/median error in px and
        the :class:`ScaleFit` (key ``"fit"``, when at least 2 spots). Evidence: spots
        whose error exceeds the threshold value, worst first. Non-finite coordinates
        fail whatever the threshold; a shape mismatch gives status ``"error"``.
    """
    threshold = threshold or Threshold(DEFAULT_MAX_ERROR_PX, "max", unit="px")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    metric = "max_error_px"
    first = np.asarray(reference)
    second = np.asarray(candidate)
    for side, array in (("reference", first), ("candidate", second)):
        if array.dtype.kind not in "iuf" or array.ndim != 2 or array.shape[1] != 2:
            return CheckResult.errored(
                **labels, metric=metric, threshold=threshold,
                reason=(
                    f"{side} has shape {array.shape} and dtype {array.dtype}; expected "
                    "numeric (n_obs, 2) points"
                ),
            )
    if first.shape != second.shape or first.shape[0] == 0:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=(
                f"cannot compare point sets of shapes reference {first.shape}, candidate "
                f"{second.shape}; they need the same, non-zero number of spots"
            ),
        )
    first = first.astype(np.float64)
    second = second.astype(np.float64)
    n_obs = first.shape[0]
    labels_of_rows = row_keys(keys, n_rows=n_obs)

    error = np.hypot(*(second - first).T)
    finite = np.isfinite(first).all(axis=1) & np.isfinite(second).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        evidence = [_point_row(labels_of_rows, index, first, second, error) for index in
                    bad[:MAX_EVIDENCE_ROWS]]
        return CheckResult.judged(
            **labels, metric=metric, observed=float("nan"), threshold=threshold,
            forced_failure=f"{bad.size} spots have non-finite coordinates",
            evidence=evidence, n_offending=int(bad.size),
            details={"n_obs": n_obs, "n_nonfinite": int(bad.size)},
        )

    offending = np.flatnonzero(~accepted_mask(threshold, error))
    offending = offending[np.argsort(-error[offending], kind="stable")]
    evidence = [_point_row(labels_of_rows, index, first, second, error)
                for index in offending[:MAX_EVIDENCE_ROWS]]
    details: dict[str, Any] = {
        "n_obs": n_obs,
        "max_error_px": float(error.max()),
        "mean_error_px": float(error.mean()),
        "median_error_px": float(np.median(error)),
        "n_over_threshold": int(offending.size),
    }
    if n_obs >= 2:
        details["fit"] = fit_scale_translation(first, second).to_json()
    context = (
        f"{offending.size}/{n_obs} spots beyond the threshold; mean error "
        f"{details['mean_error_px']:.6g} px, median {details['median_error_px']:.6g} px"
    )
    if "fit" in details:
        fit = details["fit"]
        context += (
            f"; fit candidate = {fit['scale']:.6g} * reference + "
            f"({fit['translation'][0]:.6g}, {fit['translation'][1]:.6g}) px, residual RMS "
            f"{fit['residual_rms_px']:.3g} px"
        )
    return CheckResult.judged(
        **labels, metric=metric, observed=float(error.max()), threshold=threshold,
        context=context, evidence=evidence, n_offending=int(offending.size), details=details,
    )


def _isotropic_fit(
    reference: np.ndarray, candidate: np.ndarray
) -> tuple[float, tuple[float, float], float]:
    mean_reference = reference.mean(axis=0)
    mean_candidate = candidate.mean(axis=0)
    centred_reference = reference - mean_reference
    centred_candidate = candidate - mean_candidate
    spread = float(np.sum(centred_reference**2))
    if spread == 0:
        return float("nan"), (float("nan"), float("nan")), float("nan")
    scale = float(np.sum(centred_reference * centred_candidate) / spread)
    translation = mean_candidate - scale * mean_reference
    residual = candidate - (scale * reference + translation)
    rms = float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))
    return scale, (float(translation[0]), float(translation[1])), rms


def _per_axis_fit(
    reference: np.ndarray, candidate: np.ndarray
) -> tuple[tuple[float, float], tuple[float, float], float]:
    mean_reference = reference.mean(axis=0)
    mean_candidate = candidate.mean(axis=0)
    centred_reference = reference - mean_reference
    centred_candidate = candidate - mean_candidate
    spread = np.sum(centred_reference**2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = np.where(
            spread > 0, np.sum(centred_reference * centred_candidate, axis=0) / spread, np.nan
        )
    translation = mean_candidate - scales * mean_reference
    residual = candidate - (scales * reference + translation)
    rms = float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))
    return (
        (float(scales[0]), float(scales[1])),
        (float(translation[0]), float(translation[1])),
        rms,
    )


def _point_row(
    keys: np.ndarray | None,
    index: int,
    reference: np.ndarray,
    candidate: np.ndarray,
    error: np.ndarray,
) -> dict[str, Any]:
    return {
        "key": key_of(keys, index),
        "reference_x": float(reference[index, 0]),
        "reference_y": float(reference[index, 1]),
        "candidate_x": float(candidate[index, 0]),
        "candidate_y": float(candidate[index, 1]),
        "error_px": float(error[index]),
    }


def _as_points(values: Any, *, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "iuf" or array.ndim != 2 or array.shape[1] != 2:
        msg = (
            f"{name} points have shape {array.shape} and dtype {array.dtype}; expected "
            "numeric (n_obs, 2) (x, y) coordinates"
        )
        raise InputError(msg)
    if array.shape[0] < 2:
        msg = f"{name} has {array.shape[0]} points; a fit needs at least 2"
        raise InputError(msg)
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        msg = f"{name} points hold {int((~np.isfinite(array)).sum())} non-finite values"
        raise InputError(msg)
    return array
