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

from collections.abc import Iterator
from dataclasses import dataclass, field
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


CHUNK_ELEMENTS = 1 << 22
"""Elements judged per chunk of whole rows (32 MB per float64 working array).

Dense arrays are judged chunk by chunk, so the working memory is a few
chunks plus the differing elements' errors, not several float64 copies of
the whole matrix (which is gigabytes for 50,000 spots × 3000 genes)."""


@dataclass(frozen=True)
class _FlatValues:
    """Compared elements of a run of whole rows of two arrays, flattened.

    ``positions`` contains the flat index of each compared element in the full array,
    or ``None`` in the dense case, where every element from flat index ``offset``
    on is compared. Elements absent from a sparse pair are zero on both sides and
    therefore equal.
    """

    reference: np.ndarray
    candidate: np.ndarray
    positions: np.ndarray | None
    n_elements: int
    row_width: int
    offset: int = 0

    def flat_positions(self, local: np.ndarray) -> np.ndarray:
        """Return the flat index in the full array of the chunk's elements ``local``."""
        return local + self.offset if self.positions is None else self.positions[local]


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
        Dense arrays (memory-mapped ones too) are read in chunks of whole rows
        (:data:`CHUNK_ELEMENTS`). Sparse inputs are compared on the union
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
        chunks = iter([_flatten_sparse(reference, candidate)])
    else:
        chunks = _dense_chunks(reference, candidate)
    return _judge_chunks(
        chunks,
        n_elements=n_elements,
        row_width=int(np.prod(reference.shape[1:], dtype=np.int64)) if reference.ndim > 1 else 1,
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


@dataclass
class _Tally:
    """Running totals of the judged chunks. Each chunk holds whole rows, so rows are never split."""

    n_differing: int = 0
    n_nan_reference: int = 0
    n_nan_candidate: int = 0
    n_inf_reference: int = 0
    n_inf_candidate: int = 0
    n_nonfinite_differing: int = 0
    unexcused_nan: bool = False
    max_error: float | None = None
    max_relative: float | None = None
    nonzero_error_at_zero: bool = False
    n_rel_error_undefined: int = 0
    n_rows_offending: int = 0
    errors: list[np.ndarray] = field(default_factory=list)
    relative: list[np.ndarray] = field(default_factory=list)
    worst_rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, flat: _FlatValues, *, rtol: float, atol: float, equal_nan: bool, equal_inf: bool,
        keys: np.ndarray | None,
    ) -> None:
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
        unexcused = nan_reference | nan_candidate
        if equal_nan:
            unexcused &= ~both_nan

        self.n_differing += int(differing.sum())
        self.n_nan_reference += int(nan_reference.sum())
        self.n_nan_candidate += int(nan_candidate.sum())
        self.n_inf_reference += int(inf_reference.sum())
        self.n_inf_candidate += int(inf_candidate.sum())
        self.n_nonfinite_differing += int((differing & ~finite).sum())
        self.unexcused_nan |= bool(unexcused.any())

        selected = differing & finite
        errors = abs_error[selected]
        denominators = np.abs(reference[selected])
        defined = denominators > 0
        self.errors.append(errors)
        self.relative.append(errors[defined] / denominators[defined])
        self.n_rel_error_undefined += int((~defined).sum())

        all_errors = abs_error[finite]
        all_denominators = np.abs(reference[finite])
        self.nonzero_error_at_zero |= bool(np.any((all_denominators == 0) & (all_errors > 0)))
        positive = all_denominators > 0
        self.max_error = _running_max(self.max_error, all_errors)
        self.max_relative = _running_max(
            self.max_relative, all_errors[positive] / all_denominators[positive]
        )
        rows, n_offending = _offending_rows(
            flat, differing=differing, abs_error=abs_error, finite=finite, keys=keys
        )
        self.n_rows_offending += n_offending
        self.worst_rows = sorted(
            [*self.worst_rows, *rows], key=lambda row: -row["_badness"]
        )[:MAX_EVIDENCE_ROWS]

    def stats(self) -> dict[str, Any]:
        """Absolute and relative error statistics over the finite differing elements."""
        errors = _gather(self.errors)
        relative = _gather(self.relative)
        undefined = self.n_rel_error_undefined
        return {
            "max_abs_error": _stat(np.max, errors),
            "mean_abs_error": _stat(np.mean, errors),
            "median_abs_error": _median_in_place(errors),
            "max_rel_error": _stat(np.max, relative),
            "mean_rel_error": _stat(np.mean, relative),
            "median_rel_error": _median_in_place(relative),
            "n_rel_error_undefined": undefined,
            "rel_error_note": (
                f"relative error undefined at {undefined} differing elements "
                "where the reference is 0"
                if undefined
                else ""
            ),
            "atol_to_pass": self.max_error or 0.0,
            "rtol_to_pass": (
                float("inf") if self.nonzero_error_at_zero else (self.max_relative or 0.0)
            ),
        }

    def evidence(self) -> list[dict[str, Any]]:
        """Return the worst offending rows, worst first, without the sort key."""
        return [{k: v for k, v in row.items() if k != "_badness"} for row in self.worst_rows]


def _gather(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate ``parts`` and empty the list, so only one copy stays alive."""
    joined = np.concatenate(parts) if parts else np.empty(0)
    parts.clear()
    return joined


def _median_in_place(values: np.ndarray) -> float | None:
    """Return the median as numpy.median does, partitioning ``values`` in place (no copy)."""
    n = values.size
    if n == 0:
        return None
    if np.isnan(values).any():
        return float("nan")
    middle = n // 2
    if n % 2:
        values.partition(middle)
        return float(values[middle])
    values.partition([middle - 1, middle])
    return float((values[middle - 1] + values[middle]) / 2)


def _running_max(current: float | None, values: np.ndarray) -> float | None:
    if values.size == 0:
        return current
    found = float(values.max())
    return found if current is None else max(current, found)


def _judge_chunks(
    chunks: Iterator[_FlatValues],
    *,
    n_elements: int,
    row_width: int,
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
    tally = _Tally()
    for flat in chunks:
        tally.add(flat, rtol=rtol, atol=atol, equal_nan=equal_nan, equal_inf=equal_inf, keys=keys)
    n_differing = tally.n_differing

    forced_failure = ""
    if tally.unexcused_nan:
        forced_failure = (
            f"NaN at {tally.n_nan_reference} reference and {tally.n_nan_candidate} "
            "candidate elements (NaN fails unless `equal_nan=True` and both sides have NaN "
            "at the same places)"
        )
    counts = {
        "n_elements": n_elements,
        "n_differing": n_differing,
        "fraction_differing": n_differing / n_elements,
        "atol": atol,
        "rtol": rtol,
        "equal_nan": equal_nan,
        "equal_inf": equal_inf,
    }
    stats = tally.stats()
    nonfinite = {
        "n_nan_reference": tally.n_nan_reference,
        "n_nan_candidate": tally.n_nan_candidate,
        "n_inf_reference": tally.n_inf_reference,
        "n_inf_candidate": tally.n_inf_candidate,
        "n_nonfinite_differing": tally.n_nonfinite_differing,
    }
    n_rows = n_elements // row_width
    context = (
        f"{n_differing}/{n_elements} elements (in {tally.n_rows_offending}/{n_rows} rows) "
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
        observed=n_differing / n_elements,
        threshold=threshold,
        context=context,
        forced_failure=forced_failure,
        evidence=tally.evidence(),
        n_offending=tally.n_rows_offending,
        details={**details, **counts, **stats, **nonfinite},
    )


def _dense_chunks(reference: np.ndarray, candidate: np.ndarray) -> Iterator[_FlatValues]:
    """Yield runs of whole rows of both arrays as float64, about CHUNK_ELEMENTS elements each."""
    n_rows = reference.shape[0] if reference.ndim else 1
    width = int(np.prod(reference.shape[1:], dtype=np.int64)) if reference.ndim > 1 else 1
    if reference.ndim == 0:
        reference, candidate = reference.reshape(1), candidate.reshape(1)
    step = max(1, CHUNK_ELEMENTS // max(width, 1))
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        yield _FlatValues(
            reference=np.asarray(reference[start:stop], dtype=np.float64).reshape(-1),
            candidate=np.asarray(candidate[start:stop], dtype=np.float64).reshape(-1),
            positions=None,
            n_elements=(stop - start) * width,
            row_width=width,
            offset=start * width,
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


def _offending_rows(
    flat: _FlatValues,
    *,
    differing: np.ndarray,
    abs_error: np.ndarray,
    finite: np.ndarray,
    keys: np.ndarray | None,
) -> tuple[list[dict[str, Any]], int]:
    """Summarise the chunk's rows with differing elements, worst first, at most 100 of them.

    Each row carries ``_badness`` (its worst error, infinite for a non-finite
    element) so that rows of several chunks can be ranked together.
    """
    local = np.flatnonzero(differing)
    if local.size == 0:
        return [], 0
    positions = flat.flat_positions(local)
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
            "_badness": float(badness[element]),
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
