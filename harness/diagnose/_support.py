"""Helpers shared by the diagnoses: aligned inputs, metric names, label agreement.

In isolated mode the candidate stage was fed the reference's inputs, so its
per-spot outputs follow the reference's spot order, not the candidate's own
``load/barcodes``. :func:`aligned_pair` and :func:`aligned_edges` take that
into account; in chained mode they defer to :class:`DiffContext`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from harness.compare.labels import compare_labels
from harness.compare.numeric import DEFAULT_ATOL, DEFAULT_RTOL
from harness.compare.result import CheckResult
from harness.diff.context import DiffContext, Mode


def aligned_pair(context: DiffContext, stage: str, artifact: str, *, mode: Mode) -> tuple[Any, Any]:
    """Return (reference, candidate) values of ``stage/artifact``, rows aligned by barcode."""
    return context.pair(stage, artifact, mode=mode)


def aligned_edges(context: DiffContext, *, mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    """Return both sides' ``graph/edges``, shape ``(2, E)``, as aligned spot indices."""
    return context.edges_pair(mode=mode)


def same_upstream(context: DiffContext, stage: str, artifact: str) -> bool:
    """Return whether both sides' chained ``stage/artifact`` agree to numpy.allclose defaults.

    ``True`` when a side did not store it, so that a missing artifact is never
    named as the cause of a divergence.
    """
    if not context.has_artifact(stage, artifact):
        return True
    reference, candidate = aligned_pair(context, stage, artifact, mode="chained")
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    return reference.shape == candidate.shape and bool(
        np.allclose(reference, candidate, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL)
    )


def as_metric(result: CheckResult, metric: str) -> CheckResult:
    """Rename the metric of ``result`` to the one its threshold is keyed by, and re-describe it.

    Thresholds are looked up and overridden as ``check_id:metric``; a result
    must carry that metric name for ``--tolerance`` to find it.
    """
    renamed = dataclasses.replace(result, metric=metric)
    if renamed.threshold is None or renamed.status in ("skip", "error"):
        return renamed
    return renamed.rejudge(renamed.threshold)


def downgrade_to_warn(result: CheckResult) -> CheckResult:
    """Turn a failing result into a warning (a divergence that is not a defect)."""
    if result.status != "fail":
        return result
    description = result.description
    if description.startswith("FAIL "):
        description = "WARN " + description.removeprefix("FAIL ")
    return dataclasses.replace(result, status="warn", description=description)


def with_diagnosis(result: CheckResult, diagnosis: str) -> CheckResult:
    """Return ``result`` with its ``diagnosis`` set."""
    return dataclasses.replace(result, diagnosis=diagnosis)


def label_agreement(
    context: DiffContext, *, mode: Mode, stage: str, artifact: str, check_id: str
) -> CheckResult:
    """Judge the ARI between both sides' per-spot labels of ``stage/artifact``."""
    reference, candidate = aligned_pair(context, stage, artifact, mode=mode)
    return compare_labels(
        np.asarray(reference),
        np.asarray(candidate),
        threshold=context.threshold(check_id, "ari"),
        keys=context.barcodes,
        check_id=check_id,
        stage=stage,
        artifact=artifact,
    )


def format_score(value: float) -> str:
    """Format an ARI or NMI with two decimals, printing a tiny negative value as ``0.00``."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def format_value(value: Any) -> str:
    """Format a setting for a sentence: ``30.0`` as ``30``, strings quoted, lists as JSON-like."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return repr(value)
