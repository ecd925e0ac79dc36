"""Element-wise comparison of numeric arrays with absolute and relative tolerances.

Policies, each decided on purpose:

- **Tolerance.** An element is close when ``|candidate - reference| <= atol +
  rtol * |reference|`` (``numpy.isclose`` semantics, the reference is the
  expected value). With the defaults ``rtol=1e-5`` and ``atol=1e-8``, a
  reference value of 1000 accepts a candidate within 0.01000001.
- **NaN.** A NaN on either side is a difference and fails the check whatever
  the threshold. With ``equal_nan=True``, NaN on both sides at the same place
  compares equal; a NaN on one side only still fails.
- **Infinity.** Infinities are differences unless ``equal_inf=True``, which
  makes equal infinities of the same sign compare equal. Unmatched infinities
  count as differing elements (judged by the threshold, not forced to fail).
- **Shape.** Different shapes give status ``"error"`` naming both shapes; no
  exception is raised and nothing is broadcast.
- **Dtype.** Both sides are compared as float64, so unsigned integers cannot
  wrap when subtracted. Both dtypes are recorded; integers above 2**53 lose
  precision in the cast.
- **Statistics.** Absolute and relative error statistics cover the differing
  elements where both sides are finite. The relative error is undefined where
  the reference is 0; those elements are counted and left out.
- **Nothing to compare.** Two empty arrays give status ``"error"``, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.compare._common import key_of, row_keys
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold
from harness.errors import InputError

DEFAULT_RTOL = 1e-5
"""Relative tolerance, numpy.isclose's default (numpy 2.x)."""

DEFAULT_ATOL = 1e-8
"""Absolute tolerance, numpy.isclose's default (numpy 2.x)."""

_NUMERIC_KINDS = "biuf"


def default_fraction_threshold() -> Threshold:
    """Return the default bound on the fraction of differing elements: none may differ."""
    return Threshold(0.0, "max", unit="", source="default")


@dataclass(frozen=True)
class _FlatValues:
    """Compared elements of two arrays, flattened.

    ``positions`` contains the flat index of each compared element in the full array,
    or ``None`` in the dense case, where every element is compared. Elements absent
    from a sparse pair are zero on both sides and therefore equal.
    """

    reference: np.ndarray
    candidate: np.ndarray
    positions: np.ndarray | None
    n_elements: int
    row_width: int


def compare_arrays(
    reference: Any,
    candidate: Any,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    threshold: Threshold | None = None,
    equal_nan: bool = False,
    equal_inf: bool = False,
    keys: Any = None,
    check_id: str = "numeric.allclose",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Compare two numeric arrays element-wise (dense arrays or scipy sparse matrices).

    Parameters
    ----------
    reference, candidate
        Arrays of the same shape, e.g. ``(n_obs, n_vars)``, already aligned by barcode
        along the first axis (see :func:`harness.compare.align.align_barcodes`).
        Memory-mapped arrays are read in full. Sparse inputs are compared on the union
        of their stored positions; a dense side is converted to sparse.
    rtol
        Relative tolerance, default :data:`DEFAULT_RTOL`.
    atol
        Absolute tolerance in the arrays' unit, default :data:`DEFAULT_ATOL`.
    threshold
        Bound on the fraction of differing elements, default
        :func:`default_fraction_threshold` (0: every element must be close).
    equal_nan
        Treat NaN on both sides at the same place as equal, default ``False``.
    equal_inf
        Treat equal infinities at the same place as equal, default ``False``.
    keys
        Shape ``(n_rows,)``: label of each row (barcode or gene) for the evidence
        table; row indices when ``None``.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"fraction_differing"``. ``details`` contains the shape, both dtypes,
        the differing count, max/mean/median absolute and relative errors over the
        differing elements, NaN and infinity counts, and the smallest ``atol`` (with
        ``rtol=0``) and ``rtol`` (with ``atol=0``) that would pass. Evidence: up to
        100 offending rows (first axis), worst first, each with its worst element
        (``"column"`` is the flat index within the row).

    Raises
    ------
    InputError
        For a negative or non-finite tolerance, or ``keys`` of the wrong length.
    """
    _check_tolerance("rtol", rtol)
    _check_tolerance("atol", atol)
    threshold = threshold or default_fraction_threshold()
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    metric = "fraction_differing"

    sparse_input = sp.issparse(reference) or sp.issparse(candidate)
    if not sparse_input:
        reference = np.asarray(reference)
        candidate = np.asarray(candidate)
    dtypes = {"dtype_reference": str(reference.dtype), "dtype_candidate": str(candidate.dtype)}
    shapes = {"shape_reference": list(reference.shape), "shape_candidate": list(candidate.shape)}

    if reference.shape != candidate.shape:
        reason = (
            f"shape mismatch: reference {tuple(reference.shape)}, candidate "
            f"{tuple(candidate.shape)}"
        )
        return CheckResult.errored(
            **labels, metric=metric, reason=reason, threshold=threshold,
            details={**shapes, **dtypes},
        )
    for side, array in (("reference", reference), ("candidate", candidate)):
        if array.dtype.kind not in _NUMERIC_KINDS:
            reason = f"{side} dtype {array.dtype} is not numeric (bool, int, uint or float)"
            return CheckResult.errored(
                **labels, metric=metric, reason=reason, threshold=threshold,
                details={**shapes, **dtypes},
            )
    n_elements = int(np.prod(reference.shape, dtype=np.int64))
    if n_elements == 0:
        reason = f"nothing to compare: both arrays are empty, shape {tuple(reference.shape)}"
        return CheckResult.errored(
            **labels, metric=metric, reason=reason, threshold=threshold,
            details={**shapes, **dtypes},
        )

    n_rows = reference.shape[0] if reference.ndim else 1
    labels_of_rows = row_keys(keys, n_rows=n_rows)
    if sparse_input:
        flat = _flatten_sparse(reference, candidate)
    else:
        flat = _flatten_dense(reference, candidate)
    return _judge_flat(
        flat,
        rtol=rtol,
        atol=atol,
        threshold=threshold,
        equal_nan=equal_nan,
        equal_inf=equal_inf,
        keys=labels_of_rows,
        labels=labels,
        metric=metric,
        details={"shape": list(reference.shape), **dtypes, "sparse": sparse_input},
    )


def _judge_flat(
    flat: _FlatValues,
    *,
    rtol: float,
    atol: float,
    threshold: Threshold,
    equal_nan: bool,
    equal_inf: bool,
    keys: np.ndarray | None,
    labels: dict[str, str],
    metric: str,
    details: dict[str, Any],
) -> CheckResult:
    reference, candidate = flat.reference, flat.candidate
    nan_reference = np.isnan(reference)
    nan_candidate = np.isnan(candidate)
    inf_reference = np.isinf(reference)
    inf_candidate = np.isinf(candidate)
    finite = ~(nan_reference | nan_candidate | inf_reference | inf_candidate)

    with np.errstate(invalid="ignore", over="ignore"):
        abs_error = np.abs(candidate - reference)
        close = finite & (abs_error <= atol + rtol * np.abs(reference))
    both_nan = nan_reference & nan_candidate
    if equal_nan:
        close |= both_nan
    if equal_inf:
        close |= inf_reference & inf_candidate & (reference == candidate)
    differing = ~close
    n_differing = int(differing.sum())

    unexcused_nan = nan_reference | nan_candidate
    if equal_nan:
        unexcused_nan &= ~both_nan
    forced_failure = ""
    if unexcused_nan.any():
        forced_failure = (
            f"NaN at {int(nan_reference.sum())} reference and {int(nan_candidate.sum())} "
            "candidate elements (NaN fails unless `equal_nan=True` and both sides have NaN "
            "at the same places)"
        )

    counts = {
        "n_elements": flat.n_elements,
        "n_differing": n_differing,
        "fraction_differing": n_differing / flat.n_elements,
        "atol": atol,
        "rtol": rtol,
        "equal_nan": equal_nan,
        "equal_inf": equal_inf,
    }
    stats = _error_stats(
        abs_error=abs_error, reference=reference, finite=finite, differing=differing
    )
    nonfinite = {
        "n_nan_reference": int(nan_reference.sum()),
        "n_nan_candidate": int(nan_candidate.sum()),
        "n_inf_reference": int(inf_reference.sum()),
        "n_inf_candidate": int(inf_candidate.sum()),
        "n_nonfinite_differing": int((differing & ~finite).sum()),
    }

    evidence, n_rows_offending = _offending_rows(
        flat, differing=differing, abs_error=abs_error, finite=finite, keys=keys
    )
    n_rows = flat.n_elements // flat.row_width
    context = (
        f"{n_differing}/{flat.n_elements} elements (in {n_rows_offending}/{n_rows} rows) "
        f"differ beyond atol {atol:g} + rtol {rtol:g} * |reference|"
    )
    if stats["max_abs_error"] is not None:
        context += (
            f"; over those: max abs error {stats['max_abs_error']:.6g}, "
            f"max rel error {_format_optional(stats['max_rel_error'])}"
        )
    return CheckResult.judged(
        **labels,
        metric=metric,
        observed=n_differing / flat.n_elements,
        threshold=threshold,
        context=context,
        forced_failure=forced_failure,
        evidence=evidence,
        n_offending=n_rows_offending,
        details={**details, **counts, **stats, **nonfinite},
    )


def _flatten_dense(reference: np.ndarray, candidate: np.ndarray) -> _FlatValues:
    width = int(np.prod(reference.shape[1:], dtype=np.int64)) if reference.ndim > 1 else 1
    return _FlatValues(
        reference=np.asarray(reference, dtype=np.float64).reshape(-1),
        candidate=np.asarray(candidate, dtype=np.float64).reshape(-1),
        positions=None,
        n_elements=int(reference.size),
        row_width=width,
    )


def _flatten_sparse(reference: Any, candidate: Any) -> _FlatValues:
    """Gather both sides' values on the union of their stored positions."""
    if reference.ndim != 2:
        msg = f"sparse comparison needs 2-D matrices; got shape {reference.shape}"
        raise InputError(msg)
    n_cols = int(reference.shape[1])
    positions = []
    values = []
    for matrix in (reference, candidate):
        coo = sp.coo_array(sp.csr_array(matrix))
        coo.sum_duplicates()
        positions.append(coo.row.astype(np.int64) * n_cols + coo.col.astype(np.int64))
        values.append(coo.data.astype(np.float64))
    union = np.union1d(positions[0], positions[1])

    gathered = []
    for side_positions, side_values in zip(positions, values, strict=True):
        dense = np.zeros(union.size, dtype=np.float64)
        dense[np.searchsorted(union, side_positions)] = side_values
        gathered.append(dense)
    return _FlatValues(
        reference=gathered[0],
        candidate=gathered[1],
        positions=union,
        n_elements=int(reference.shape[0]) * n_cols,
        row_width=n_cols,
    )


def _error_stats(
    *, abs_error: np.ndarray, reference: np.ndarray, finite: np.ndarray, differing: np.ndarray
) -> dict[str, Any]:
    """Absolute and relative error statistics over the finite differing elements."""
    selected = differing & finite
    errors = abs_error[selected]
    denominators = np.abs(reference[selected])
    defined = denominators > 0
    relative = errors[defined] / denominators[defined]

    all_errors = abs_error[finite]
    all_denominators = np.abs(reference[finite])
    nonzero_error_at_zero = bool(np.any((all_denominators == 0) & (all_errors > 0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        all_relative = all_errors[all_denominators > 0] / all_denominators[all_denominators > 0]

    return {
        "max_abs_error": _stat(np.max, errors),
        "mean_abs_error": _stat(np.mean, errors),
        "median_abs_error": _stat(np.median, errors),
        "max_rel_error": _stat(np.max, relative),
        "mean_rel_error": _stat(np.mean, relative),
        "median_rel_error": _stat(np.median, relative),
        "n_rel_error_undefined": int((~defined).sum()),
        "rel_error_note": (
            f"relative error undefined at {int((~defined).sum())} differing elements "
            "where the reference is 0"
            if (~defined).any()
            else ""
        ),
        "atol_to_pass": _stat(np.max, all_errors) or 0.0,
        "rtol_to_pass": (
            float("inf") if nonzero_error_at_zero else (_stat(np.max, all_relative) or 0.0)
        ),
    }


def _offending_rows(
    flat: _FlatValues,
    *,
    differing: np.ndarray,
    abs_error: np.ndarray,
    finite: np.ndarray,
    keys: np.ndarray | None,
) -> tuple[list[dict[str, Any]], int]:
    """Summarise the rows with differing elements, worst first, at most 100 of them."""
    local = np.flatnonzero(differing)
    if local.size == 0:
        return [], 0
    positions = local if flat.positions is None else flat.positions[local]
    rows = positions // flat.row_width
    badness = np.where(finite[local], abs_error[local], np.inf)

    # Sort by row, worst element first within each row; the first entry per row wins.
    order = np.lexsort((-badness, rows))
    rows_sorted = rows[order]
    first = np.flatnonzero(np.r_[True, rows_sorted[1:] != rows_sorted[:-1]])
    counts = np.diff(np.r_[first, rows_sorted.size])
    worst = order[first]
    ranking = np.argsort(-badness[worst], kind="stable")[:MAX_EVIDENCE_ROWS]

    evidence = []
    for index in ranking:
        element = worst[index]
        row = int(rows[element])
        evidence.append({
            "key": key_of(keys, row),
            "n_differing": int(counts[index]),
            "column": int(positions[element] % flat.row_width),
            "reference": float(flat.reference[local[element]]),
            "candidate": float(flat.candidate[local[element]]),
            "abs_error": float(abs_error[local[element]]),
        })
    return evidence, int(first.size)


def _check_tolerance(name: str, value: float) -> None:
    if not np.isfinite(value) or value < 0:
        msg = f"`{name}` is {value!r}; expected a finite number >= 0"
        raise InputError(msg)


def _stat(function: Any, values: np.ndarray) -> float | None:
    return float(function(values)) if values.size else None


def _format_optional(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.6g}"
