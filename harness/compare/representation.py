"""Comparison of learned representations: linear CKA and k-nearest-neighbour overlap.

Two runs of a stochastic stage (image features, training) rarely agree element
by element, but they can still agree as representations. Linear CKA measures
agreement up to an orthogonal transform and an isotropic scale; the kNN overlap
measures whether each spot keeps its neighbours. Rows must already be aligned
by barcode (see :func:`harness.compare.align.align_barcodes`); the widths of the
two sides may differ.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import numpy as np
from sklearn.neighbors import NearestNeighbors

from harness.compare._common import accepted_mask, key_of, row_keys
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold
from harness.errors import InputError

logger = logging.getLogger(__name__)

OverlapKind = Literal["fraction", "jaccard"]

# Relative size of the centred data below which a representation is treated as
# constant (about 5000 times the float64 machine epsilon).
_CONSTANT_RTOL = 1e-12

DEFAULT_K = 15
"""Neighbours per spot for the kNN overlap (the neighbourhood size of STAIG's refinement)."""

DEFAULT_MIN_CKA = 0.95
"""Documented default for the minimum linear CKA, to be calibrated on seed-to-seed runs."""

DEFAULT_MIN_KNN_OVERLAP = 0.8
"""Documented default for the minimum mean kNN overlap, to be calibrated like the CKA bound."""


def linear_cka(x: Any, y: Any) -> float:
    """Compute linear centred kernel alignment between two representations of the same spots.

    Uses the feature-space form ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)``
    with column-centred ``Xc`` and ``Yc`` (Kornblith et al., "Similarity of Neural
    Network Representations Revisited", ICML 2019, arXiv:1905.00414; linear kernel,
    biased HSIC).
    It costs O(n_obs * (d_x + d_y)^2) time and O((d_x + d_y)^2) extra memory and
    never builds an ``n_obs x n_obs`` matrix.

    Parameters
    ----------
    x
        Shape ``(n_obs, d_x)``, finite.
    y
        Shape ``(n_obs, d_y)``, finite, rows aligned with ``x``.

    Returns
    -------
    float
        In [0, 1]: 1 when ``y`` is ``x`` up to an orthogonal transform, isotropic
        scaling and translation. NaN when either side is constant (zero variance),
        because CKA is undefined there.

    Raises
    ------
    InputError
        When the inputs are not 2-D, differ in row count, have fewer than 2 rows or
        hold non-finite values.
    """
    first = _as_representation(x, name="x")
    second = _as_representation(y, name="y")
    _check_same_rows(first, second)

    first = _centred_unit(first)
    second = _centred_unit(second)
    if first is None or second is None:
        return float("nan")
    cross = np.linalg.norm(second.T @ first, ord="fro") ** 2
    norm_first = np.linalg.norm(first.T @ first, ord="fro")
    norm_second = np.linalg.norm(second.T @ second, ord="fro")
    return float(np.clip(cross / (norm_first * norm_second), 0.0, 1.0))


def knn_overlap(
    x: Any, y: Any, *, k: int = DEFAULT_K, overlap: OverlapKind = "fraction"
) -> np.ndarray:
    """Measure, per spot, how many of its k nearest neighbours both representations share.

    Neighbours are found with scikit-learn's ``NearestNeighbors`` by Euclidean
    distance, each spot excluded from its own neighbours. It picks a KD-tree or
    ball tree in low dimension and chunked brute force in high dimension, so no
    ``n_obs x n_obs`` matrix is held. Equidistant neighbours are ordered by the search, so
    exact ties can lower the overlap of otherwise equal inputs.

    Parameters
    ----------
    x
        Shape ``(n_obs, d_x)``, finite.
    y
        Shape ``(n_obs, d_y)``, finite, rows aligned with ``x``.
    k
        Neighbours per spot, default :data:`DEFAULT_K`; needs ``k < n_obs``.
    overlap
        ``"fraction"``: shared neighbours / k. ``"jaccard"``: shared / size of the union.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_obs,)``, float64 in [0, 1].

    Raises
    ------
    InputError
        For invalid inputs (as :func:`linear_cka`), ``k < 1``, ``k >= n_obs`` or an
        unknown ``overlap``.
    """
    first = _as_representation(x, name="x")
    second = _as_representation(y, name="y")
    _check_same_rows(first, second)
    n_obs = first.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        msg = f"`k` is {k!r}; expected an integer >= 1"
        raise InputError(msg)
    if k >= n_obs:
        msg = f"`k` is {k} but there are only {n_obs} spots; k must be below the spot count"
        raise InputError(msg)
    if overlap not in ("fraction", "jaccard"):
        msg = f"`overlap` is {overlap!r}; expected 'fraction' or 'jaccard'"
        raise InputError(msg)

    start = time.perf_counter()
    logger.debug("kNN overlap: %d spots, k=%d, widths %d and %d", n_obs, k, *_widths(x, y))
    neighbours_first = NearestNeighbors(n_neighbors=k).fit(first).kneighbors(
        return_distance=False
    )
    neighbours_second = NearestNeighbors(n_neighbors=k).fit(second).kneighbors(
        return_distance=False
    )
    # Each row lists k distinct spots, so after sorting the two lists side by side a
    # spot shared by both appears as two equal neighbours.
    merged = np.sort(np.concatenate([neighbours_first, neighbours_second], axis=1), axis=1)
    shared = (merged[:, 1:] == merged[:, :-1]).sum(axis=1)
    logger.debug("kNN overlap done in %.2f s", time.perf_counter() - start)

    if overlap == "fraction":
        return shared / k
    return shared / (2 * k - shared)


def compare_cka(
    reference: Any,
    candidate: Any,
    *,
    threshold: Threshold | None = None,
    check_id: str = "representation.cka",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Judge the linear CKA between two representations of the same spots.

    Parameters
    ----------
    reference, candidate
        Shapes ``(n_obs, d_reference)`` and ``(n_obs, d_candidate)``, rows aligned by
        barcode; the widths may differ.
    threshold
        Default ``Threshold(DEFAULT_MIN_CKA, "min")``, see :data:`DEFAULT_MIN_CKA`.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"linear_cka"``. Non-finite values fail the check whatever the
        threshold, with the rows that contain them as evidence. A constant side
        fails because CKA is undefined there. Different row counts, or an input that
        is not 2-D, give status ``"error"``.
    """
    threshold = threshold or Threshold(DEFAULT_MIN_CKA, "min")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    problem = _shape_problem(reference, candidate, labels=labels, metric="linear_cka",
                             threshold=threshold)
    if problem is not None:
        return problem
    first = np.asarray(reference, dtype=np.float64)
    second = np.asarray(candidate, dtype=np.float64)
    details = {"n_obs": first.shape[0], "width_reference": first.shape[1],
               "width_candidate": second.shape[1]}

    nonfinite = _nonfinite_result(first, second, labels=labels, metric="linear_cka",
                                  threshold=threshold, details=details, keys=None)
    if nonfinite is not None:
        return nonfinite
    value = linear_cka(first, second)
    if np.isnan(value):
        return CheckResult.judged(
            **labels, metric="linear_cka", observed=value, threshold=threshold,
            forced_failure="a side is constant (zero variance), so CKA is undefined",
            details=details,
        )
    return CheckResult.judged(
        **labels, metric="linear_cka", observed=value, threshold=threshold,
        context=f"{first.shape[0]} spots, widths {first.shape[1]} and {second.shape[1]}",
        details=details,
    )


def compare_knn_overlap(
    reference: Any,
    candidate: Any,
    *,
    k: int = DEFAULT_K,
    overlap: OverlapKind = "fraction",
    threshold: Threshold | None = None,
    keys: Any = None,
    check_id: str = "representation.knn_overlap",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Judge the mean kNN overlap between two representations of the same spots.

    Parameters
    ----------
    reference, candidate
        Shapes ``(n_obs, d_reference)`` and ``(n_obs, d_candidate)``, rows aligned by
        barcode.
    k, overlap
        See :func:`knn_overlap`.
    threshold
        Bound on the mean overlap, default
        ``Threshold(DEFAULT_MIN_KNN_OVERLAP, "min")``.
    keys
        Shape ``(n_obs,)``: barcodes for the evidence; row indices when ``None``.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"mean_knn_overlap"``. Evidence: spots whose own overlap the threshold
        rejects, lowest first. Non-finite values fail whatever the threshold;
        row-count mismatch or ``k >= n_obs`` give status ``"error"``.
    """
    threshold = threshold or Threshold(DEFAULT_MIN_KNN_OVERLAP, "min")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    metric = "mean_knn_overlap"
    problem = _shape_problem(reference, candidate, labels=labels, metric=metric,
                             threshold=threshold)
    if problem is not None:
        return problem
    first = np.asarray(reference, dtype=np.float64)
    second = np.asarray(candidate, dtype=np.float64)
    n_obs = first.shape[0]
    labels_of_rows = row_keys(keys, n_rows=n_obs)
    details: dict[str, Any] = {"n_obs": n_obs, "k": k, "overlap": overlap,
                               "width_reference": first.shape[1],
                               "width_candidate": second.shape[1]}

    nonfinite = _nonfinite_result(first, second, labels=labels, metric=metric,
                                  threshold=threshold, details=details, keys=labels_of_rows)
    if nonfinite is not None:
        return nonfinite
    if k >= n_obs:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold, details=details,
            reason=f"k={k} neighbours need more than {n_obs} spots",
        )

    per_spot = knn_overlap(first, second, k=k, overlap=overlap)
    low = np.flatnonzero(~accepted_mask(threshold, per_spot))
    low = low[np.argsort(per_spot[low], kind="stable")]
    evidence = [
        {"key": key_of(labels_of_rows, index), "overlap": float(per_spot[index])}
        for index in low[:MAX_EVIDENCE_ROWS]
    ]
    details.update(
        median_overlap=float(np.median(per_spot)),
        min_overlap=float(per_spot.min()),
        fraction_full_overlap=float(np.mean(per_spot == 1.0)),
    )
    mean = float(per_spot.mean())
    return CheckResult.judged(
        **labels, metric=metric, observed=mean, threshold=threshold,
        context=(
            f"{n_obs} spots, k={k}, {overlap} overlap; {low.size} spots beyond the "
            f"threshold, min {per_spot.min():.4g}"
        ),
        evidence=evidence,
        n_offending=int(low.size),
        details=details,
    )


def _shape_problem(
    reference: Any,
    candidate: Any,
    *,
    labels: dict[str, str],
    metric: str,
    threshold: Threshold,
) -> CheckResult | None:
    shapes = {}
    for side, values in (("reference", reference), ("candidate", candidate)):
        array = np.asarray(values)
        shapes[side] = array.shape
        if array.dtype.kind not in "biuf":
            return CheckResult.errored(
                **labels, metric=metric, threshold=threshold,
                reason=f"{side} dtype {array.dtype} is not numeric",
            )
        if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
            return CheckResult.errored(
                **labels, metric=metric, threshold=threshold,
                reason=f"{side} has shape {array.shape}; expected (n_obs >= 2, width >= 1)",
            )
    if shapes["reference"][0] != shapes["candidate"][0]:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=(
                f"row count mismatch: reference {shapes['reference']}, candidate "
                f"{shapes['candidate']}; align both sides by barcode first"
            ),
        )
    return None


def _nonfinite_result(
    first: np.ndarray,
    second: np.ndarray,
    *,
    labels: dict[str, str],
    metric: str,
    threshold: Threshold,
    details: dict[str, Any],
    keys: np.ndarray | None,
) -> CheckResult | None:
    bad_first = ~np.isfinite(first).all(axis=1)
    bad_second = ~np.isfinite(second).all(axis=1)
    bad = bad_first | bad_second
    if not bad.any():
        return None
    rows = np.flatnonzero(bad)
    evidence = [
        {"key": key_of(keys, index), "nonfinite_reference": bool(bad_first[index]),
         "nonfinite_candidate": bool(bad_second[index])}
        for index in rows[:MAX_EVIDENCE_ROWS]
    ]
    reason = (
        f"non-finite values in {int(bad_first.sum())} reference and {int(bad_second.sum())} "
        "candidate rows"
    )
    return CheckResult.judged(
        **labels, metric=metric, observed=float("nan"), threshold=threshold,
        forced_failure=reason, evidence=evidence, n_offending=int(rows.size),
        details=details,
    )


def _as_representation(values: Any, *, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf" or array.ndim != 2 or array.shape[0] < 2:
        msg = (
            f"`{name}` has shape {array.shape} and dtype {array.dtype}; expected a numeric "
            "array of shape (n_obs >= 2, width)"
        )
        raise InputError(msg)
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        msg = f"`{name}` holds {int((~np.isfinite(array)).sum())} non-finite values"
        raise InputError(msg)
    return array


def _check_same_rows(first: np.ndarray, second: np.ndarray) -> None:
    if first.shape[0] != second.shape[0]:
        msg = (
            f"representations have {first.shape[0]} and {second.shape[0]} rows; align them "
            "by barcode so that row i is the same spot on both sides"
        )
        raise InputError(msg)


def _centred_unit(array: np.ndarray) -> np.ndarray | None:
    """Centre the columns and scale to unit Frobenius norm; ``None`` when constant."""
    centred = array - array.mean(axis=0)
    norm = np.linalg.norm(centred)
    # Centring a constant column leaves float round-off of about eps * |value|; a
    # residual this small relative to the data counts as constant.
    if norm <= _CONSTANT_RTOL * np.linalg.norm(array) or not np.isfinite(norm):
        return None
    return centred / norm


def _widths(x: Any, y: Any) -> tuple[int, int]:
    return np.shape(x)[1], np.shape(y)[1]
