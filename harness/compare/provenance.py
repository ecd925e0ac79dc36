"""Comparison of provenance records: the image encoder and the clustering backend.

A side records what it actually ran in two JSON artifacts:
``image_features/encoder`` (requested and actual encoder, architecture,
parameter count, weights digest, input size, normalisation) and
``cluster/backend`` (algorithm, version, settings). The field names these
functions read by default are listed in :data:`ENCODER_FIELDS` and
:data:`BACKEND_FIELDS`; every function takes the names as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.compare.result import CheckResult, Threshold
from harness.errors import InputError

ENCODER_FIELDS: tuple[str, ...] = (
    "actual",
    "architecture",
    "param_count",
    "weights_digest",
    "input_size",
    "normalization",
)
"""Encoder record fields compared across sides by default."""

BACKEND_FIELDS: tuple[str, ...] = ("algorithm", "version", "settings")
"""Clustering-backend record fields compared across sides by default."""


def check_encoder_request(
    record: Mapping[str, Any],
    *,
    requested_key: str = "requested",
    actual_key: str = "actual",
    check_id: str = "provenance.encoder_request",
    stage: str = "image_features",
    artifact: str = "encoder",
) -> CheckResult:
    """Judge whether one side ran the encoder that was requested.

    Parameters
    ----------
    record
        One side's encoder record.
    requested_key, actual_key
        Fields holding the requested and the actually built encoder name, defaults
        ``"requested"`` and ``"actual"``.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"encoder"``, judged by equality: ``"fail"`` when the encoder actually
        built differs from the requested one, ``"error"`` when a field is missing.
    """
    _require_mapping(record, name="encoder record")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    missing = [key for key in (requested_key, actual_key) if key not in record]
    if missing:
        return CheckResult.errored(
            **labels, metric="encoder",
            reason=f"encoder record lacks {missing}; it has {sorted(record)}",
        )
    details = {
        key: record[key] for key in ("architecture", "param_count", "weights_digest")
        if key in record
    }
    return CheckResult.compared_equal(
        **labels, metric="encoder", observed=str(record[actual_key]),
        expected=str(record[requested_key]),
        context=f"requested {record[requested_key]!r}, actual {record[actual_key]!r}",
        details=details,
    )


def compare_records(
    reference: Mapping[str, Any],
    candidate: Mapping[str, Any],
    *,
    fields: Sequence[str],
    threshold: Threshold | None = None,
    check_id: str = "provenance.record",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Judge how many of the named fields differ between two provenance records.

    Parameters
    ----------
    reference, candidate
        The two sides' records (JSON objects).
    fields
        Field names to compare, by equality of their JSON values.
    threshold
        Bound on the number of differing fields, default
        ``Threshold(0, "max", unit="fields")``.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"n_differing_fields"``. A field missing on one side counts as
        differing (its value shows as ``None`` with ``"missing": side``). A field
        missing on both sides cannot be verified: status ``"error"``. Evidence rows
        ``{"key": field, "reference": ..., "candidate": ...}``.

    Raises
    ------
    InputError
        When a record is not a mapping or ``fields`` is empty.
    """
    _require_mapping(reference, name="reference record")
    _require_mapping(candidate, name="candidate record")
    if not fields:
        msg = "`fields` is empty; name the record fields to compare"
        raise InputError(msg)
    threshold = threshold or Threshold(0, "max", unit="fields")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    metric = "n_differing_fields"

    absent = [name for name in fields if name not in reference and name not in candidate]
    if absent:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=(
                f"neither record has {absent}, so they cannot be compared; the reference "
                f"has {sorted(reference)}, the candidate {sorted(candidate)}"
            ),
        )
    rows = []
    for name in fields:
        if name in reference and name in candidate and reference[name] == candidate[name]:
            continue
        row = {"key": name, "reference": reference.get(name), "candidate": candidate.get(name)}
        if name not in reference or name not in candidate:
            row["missing"] = "reference" if name not in reference else "candidate"
        rows.append(row)

    context = f"{len(rows)} of {len(fields)} fields differ"
    if rows:
        context += ": " + "; ".join(
            f"{row['key']}: reference {row['reference']!r}, candidate {row['candidate']!r}"
            for row in rows[:3]
        )
    return CheckResult.judged(
        **labels, metric=metric, observed=len(rows), threshold=threshold, context=context,
        evidence=rows, details={"fields": list(fields)},
    )


def compare_encoder_records(
    reference: Mapping[str, Any],
    candidate: Mapping[str, Any],
    *,
    fields: Sequence[str] = ENCODER_FIELDS,
    threshold: Threshold | None = None,
    check_id: str = "provenance.encoder",
    stage: str = "image_features",
    artifact: str = "encoder",
) -> CheckResult:
    """Judge the identity of the two sides' image encoders (see :func:`compare_records`).

    ``fields`` defaults to :data:`ENCODER_FIELDS`: encoder name, architecture,
    parameter count, weights digest (or "random init"), input size, normalisation.
    """
    return compare_records(
        reference, candidate, fields=fields, threshold=threshold,
        check_id=check_id, stage=stage, artifact=artifact,
    )


def compare_backend_records(
    reference: Mapping[str, Any],
    candidate: Mapping[str, Any],
    *,
    fields: Sequence[str] = BACKEND_FIELDS,
    threshold: Threshold | None = None,
    check_id: str = "provenance.backend",
    stage: str = "cluster",
    artifact: str = "backend",
) -> CheckResult:
    """Judge the two sides' clustering backends (see :func:`compare_records`).

    ``fields`` defaults to :data:`BACKEND_FIELDS`: algorithm, version, settings. A
    candidate that ran KMeans where the reference ran mclust differs in
    ``algorithm``.
    """
    return compare_records(
        reference, candidate, fields=fields, threshold=threshold,
        check_id=check_id, stage=stage, artifact=artifact,
    )


def _require_mapping(record: Any, *, name: str) -> None:
    if not isinstance(record, Mapping):
        msg = f"{name} is a {type(record).__name__}; expected a mapping (JSON object)"
        raise InputError(msg)
