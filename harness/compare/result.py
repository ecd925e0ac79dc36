"""Result and threshold types shared by every comparator.

A comparator measures one metric on two artifacts and returns a frozen
:class:`CheckResult`. The threshold is a separate :class:`Threshold` object
stored next to the observed value, so a saved report can be judged again
against other thresholds (:meth:`CheckResult.rejudge`) without loading the
artifacts or rerunning a pipeline.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from harness.errors import InputError

Status = Literal["pass", "fail", "warn", "waived", "skip", "error"]
"""Verdict of a check.

``"pass"`` and ``"fail"`` come from comparing the observed value with the
threshold. ``"warn"`` is a failure that the caller downgraded, ``"waived"`` a
declared divergence, ``"skip"`` a check that did not run (an artifact absent on
both sides) and ``"error"`` a check that could not measure its metric (shape
mismatch, nothing to compare).
"""

STATUSES: tuple[str, ...] = get_args(Status)

Direction = Literal["max", "min"]
"""``"max"``: the observed value must be <= the threshold; ``"min"``: >= the threshold."""

ThresholdSource = Literal["default", "calibration", "user"]
"""Origin of a threshold value: a documented default, a calibration run, or the user."""

MAX_EVIDENCE_ROWS = 100
"""Maximum number of offending rows a result keeps; ``n_offending`` records the true count."""

RESULT_FORMAT = "harness.check_result"
RESULT_FORMAT_VERSION = 1

# Number formatting starts at this many significant digits and adds digits
# until the observed value and the threshold print differently (17 digits
# always tell two distinct float64 values apart).
_MIN_DIGITS = 4
_MAX_DIGITS = 17

Observed = float | int | str | None


@dataclass(frozen=True)
class Threshold:
    """Acceptance bound on an observed metric.

    Attributes
    ----------
    value
        The bound, in ``unit``; ``-inf`` or ``inf`` are allowed, NaN is not.
    direction
        ``"max"``: pass when observed <= value. ``"min"``: pass when observed >= value.
    unit
        Unit of ``value`` and of the observed metric, e.g. ``"px"`` or ``"uint8 levels"``;
        ``""`` for dimensionless ratios.
    source
        Where ``value`` comes from, see :data:`ThresholdSource`.

    Examples
    --------
    >>> Threshold(0.5, "max", unit="px").accepts(0.25)
    True
    """

    value: float
    direction: Direction
    unit: str = ""
    source: ThresholdSource = "default"

    def __post_init__(self) -> None:
        if self.direction not in get_args(Direction):
            msg = f"`direction` is {self.direction!r}; expected 'max' or 'min'"
            raise InputError(msg)
        if self.source not in get_args(ThresholdSource):
            msg = (
                f"`source` is {self.source!r}; expected one of {get_args(ThresholdSource)}"
            )
            raise InputError(msg)
        if isinstance(self.value, bool) or not isinstance(self.value, int | float | np.number):
            msg = f"threshold `value` is {self.value!r}; expected a number"
            raise InputError(msg)
        if math.isnan(self.value):
            msg = "threshold `value` is NaN; a threshold needs a number or +/-inf"
            raise InputError(msg)
        object.__setattr__(self, "value", float(self.value))

    def accepts(self, observed: float) -> bool:
        """Return whether ``observed`` satisfies the bound (a NaN observation never does)."""
        if math.isnan(observed):
            return False
        if self.direction == "max":
            return observed <= self.value
        return observed >= self.value

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-compatible dict (infinities are written as ``{"float": "inf"}``)."""
        return {
            "value": _encode_value(self.value),
            "direction": self.direction,
            "unit": self.unit,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Threshold:
        """Rebuild a threshold written by :meth:`to_json`."""
        _require_keys(data, ("value", "direction"), document="threshold")
        return cls(
            _decode_value(data["value"]),
            data["direction"],
            unit=data.get("unit", ""),
            source=data.get("source", "default"),
        )


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one comparison between a reference and a candidate artifact.

    Build results with :meth:`judged`, :meth:`compared_equal`, :meth:`errored` or
    :meth:`skipped`, which compose ``status`` and ``description`` consistently.

    Attributes
    ----------
    check_id
        Dotted identifier, e.g. ``"patches.centers"``.
    stage
        Pipeline stage whose output was compared, e.g. ``"patches"``.
    artifact
        Artifact name within the stage, e.g. ``"centers"``.
    metric
        Name of the observed metric, e.g. ``"max_error_px"``.
    observed
        Measured value; ``None`` when the metric could not be measured.
    threshold
        Bound the observed value was judged against; ``None`` for checks judged by
        equality of non-numeric values (e.g. an encoder name).
    status
        Verdict, see :data:`Status`.
    description
        One line with the status, the observed value and the threshold, printed with
        enough digits that the two differ visibly when they differ.
    context
        Short comparator-written summary appended to the description, e.g.
        ``"12/3611 rows differ, atol 1e-08, rtol 1e-05"``.
    forced_failure
        Reason that fails the check whatever the threshold (non-finite values under
        the default NaN policy); ``""`` when none. :meth:`rejudge` keeps it.
    diagnosis
        Explanation attached later by the diagnosis catalogue; ``""`` until then.
    evidence
        Up to :data:`MAX_EVIDENCE_ROWS` offending rows, worst first. Each row is a
        dict with ``"key"`` (barcode, gene, edge or config path) and its values.
    n_offending
        True number of offending rows, which may exceed ``len(evidence)``.
    details
        Further statistics (shapes, dtypes, error quantiles), JSON-compatible.
    """

    check_id: str
    stage: str
    artifact: str
    metric: str
    observed: Observed
    threshold: Threshold | None
    status: Status
    description: str
    context: str = ""
    forced_failure: str = ""
    diagnosis: str = ""
    evidence: tuple[dict[str, Any], ...] = ()
    n_offending: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            msg = f"`status` is {self.status!r}; expected one of {STATUSES}"
            raise InputError(msg)
        if len(self.evidence) > MAX_EVIDENCE_ROWS:
            msg = (
                f"{len(self.evidence)} evidence rows given; at most {MAX_EVIDENCE_ROWS} are "
                "kept, so pass the first rows and the total as `n_offending`"
            )
            raise InputError(msg)
        if self.n_offending < len(self.evidence):
            msg = (
                f"`n_offending` is {self.n_offending} but {len(self.evidence)} evidence rows "
                "are given; it must count every offending row"
            )
            raise InputError(msg)
        object.__setattr__(self, "observed", _plain(self.observed))
        object.__setattr__(self, "evidence", tuple(_plain(dict(row)) for row in self.evidence))
        object.__setattr__(self, "details", _plain(dict(self.details)))

    # -- constructors ------------------------------------------------------

    @classmethod
    def judged(
        cls,
        *,
        check_id: str,
        stage: str,
        artifact: str,
        metric: str,
        observed: float | int,
        threshold: Threshold,
        context: str = "",
        forced_failure: str = "",
        evidence: Iterable[Mapping[str, Any]] = (),
        n_offending: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """Judge a numeric ``observed`` value against ``threshold``.

        ``evidence`` may hold more than :data:`MAX_EVIDENCE_ROWS` rows: the first ones
        are kept, and ``n_offending`` defaults to the number given.
        """
        rows, total = cap_evidence(evidence, n_offending=n_offending)
        status = _verdict(observed, threshold, forced_failure=forced_failure)
        return cls(
            check_id=check_id,
            stage=stage,
            artifact=artifact,
            metric=metric,
            observed=observed,
            threshold=threshold,
            status=status,
            description=_describe(
                check_id, metric, observed, threshold, status,
                context=context, forced_failure=forced_failure,
            ),
            context=context,
            forced_failure=forced_failure,
            evidence=rows,
            n_offending=total,
            details=details or {},
        )

    @classmethod
    def compared_equal(
        cls,
        *,
        check_id: str,
        stage: str,
        artifact: str,
        metric: str,
        observed: str,
        expected: str,
        context: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """Judge a non-numeric value by equality: pass when ``observed == expected``."""
        status: Status = "pass" if observed == expected else "fail"
        relation = "==" if status == "pass" else "!="
        line = f"{status.upper()} {check_id}: {metric} {observed!r} {relation} {expected!r}"
        return cls(
            check_id=check_id,
            stage=stage,
            artifact=artifact,
            metric=metric,
            observed=observed,
            threshold=None,
            status=status,
            description=_join(line, context),
            context=context,
            details={"expected": expected, **(details or {})},
        )

    @classmethod
    def errored(
        cls,
        *,
        check_id: str,
        stage: str,
        artifact: str,
        metric: str,
        reason: str,
        threshold: Threshold | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """Report that the metric could not be measured (status ``"error"``)."""
        return cls(
            check_id=check_id,
            stage=stage,
            artifact=artifact,
            metric=metric,
            observed=None,
            threshold=threshold,
            status="error",
            description=f"ERROR {check_id}: {reason}",
            context=reason,
            details=details or {},
        )

    @classmethod
    def skipped(
        cls, *, check_id: str, stage: str, artifact: str, metric: str, reason: str
    ) -> CheckResult:
        """Report a check that did not run (status ``"skip"``)."""
        return cls(
            check_id=check_id,
            stage=stage,
            artifact=artifact,
            metric=metric,
            observed=None,
            threshold=None,
            status="skip",
            description=f"SKIP {check_id}: {reason}",
            context=reason,
        )

    # -- offline re-judging and serialisation ------------------------------

    @property
    def passed(self) -> bool:
        """Whether the status is ``"pass"``."""
        return self.status == "pass"

    def rejudge(self, threshold: Threshold) -> CheckResult:
        """Return a copy judged against ``threshold`` without recomputing the metric.

        ``"pass"`` and ``"fail"`` are recomputed from ``observed``. A ``"warn"`` result
        is a failure the caller downgraded: it stays ``"warn"`` while the new
        threshold still fails and becomes ``"pass"`` when it accepts. ``"waived"``,
        ``"skip"`` and ``"error"`` keep their status and only record the new threshold.
        A forced failure (NaN under the default policy) still fails.

        Raises
        ------
        InputError
            When ``observed`` is not numeric (a check judged by equality).
        """
        if self.status in ("skip", "error"):
            return dataclasses.replace(self, threshold=threshold)
        if isinstance(self.observed, str) or self.observed is None:
            msg = (
                f"check {self.check_id!r} observed {self.observed!r}, which is not numeric; "
                "only numeric checks can be judged against a threshold"
            )
            raise InputError(msg)

        verdict = _verdict(self.observed, threshold, forced_failure=self.forced_failure)
        if self.status == "waived":
            status: Status = "waived"
        elif self.status == "warn" and verdict == "fail":
            status = "warn"
        else:
            status = verdict
        description = _describe(
            self.check_id, self.metric, self.observed, threshold, status,
            context=self.context, forced_failure=self.forced_failure,
        )
        return dataclasses.replace(
            self, threshold=threshold, status=status, description=description
        )

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-compatible dict; NaN and infinities become ``{"float": "nan"}`` etc."""
        return {
            "format": RESULT_FORMAT,
            "version": RESULT_FORMAT_VERSION,
            "check_id": self.check_id,
            "stage": self.stage,
            "artifact": self.artifact,
            "metric": self.metric,
            "observed": _encode_value(self.observed),
            "threshold": None if self.threshold is None else self.threshold.to_json(),
            "status": self.status,
            "description": self.description,
            "context": self.context,
            "forced_failure": self.forced_failure,
            "diagnosis": self.diagnosis,
            "evidence": [_encode_tree(row) for row in self.evidence],
            "n_offending": self.n_offending,
            "details": _encode_tree(self.details),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        """Rebuild a result written by :meth:`to_json`."""
        _require_keys(
            data,
            ("check_id", "stage", "artifact", "metric", "observed", "status", "description"),
            document="check result",
        )
        if data.get("format", RESULT_FORMAT) != RESULT_FORMAT:
            msg = f"`format` is {data['format']!r}; expected {RESULT_FORMAT!r}"
            raise InputError(msg)
        version = data.get("version", RESULT_FORMAT_VERSION)
        if version != RESULT_FORMAT_VERSION:
            msg = (
                f"check result format version {version!r} is not supported; this harness "
                f"reads version {RESULT_FORMAT_VERSION}"
            )
            raise InputError(msg)
        threshold = data.get("threshold")
        return cls(
            check_id=data["check_id"],
            stage=data["stage"],
            artifact=data["artifact"],
            metric=data["metric"],
            observed=_decode_value(data["observed"]),
            threshold=None if threshold is None else Threshold.from_json(threshold),
            status=data["status"],
            description=data["description"],
            context=data.get("context", ""),
            forced_failure=data.get("forced_failure", ""),
            diagnosis=data.get("diagnosis", ""),
            evidence=tuple(_decode_tree(row) for row in data.get("evidence", ())),
            n_offending=int(data.get("n_offending", 0)),
            details=_decode_tree(data.get("details", {})),
        )

    def report(self, *, max_rows: int = MAX_EVIDENCE_ROWS) -> str:
        """Format the multi-line failure text: description, details, evidence table.

        Parameters
        ----------
        max_rows
            Evidence rows shown, default :data:`MAX_EVIDENCE_ROWS`; a final line gives
            the total number of offending rows.
        """
        lines = [self.description]
        if self.diagnosis:
            lines.append(f"  diagnosis: {self.diagnosis}")
        for name, value in self.details.items():
            if value == "":
                continue
            lines.append(f"  {name}: {_format_detail(value)}")
        rows = self.evidence[:max_rows]
        if rows:
            columns = list(dict.fromkeys(name for row in rows for name in row))
            lines.append("  " + " | ".join(columns))
            for row in rows:
                # repr() prints floats with the shortest exact digits, so close values differ.
                cells = [_format_cell(row.get(name, "")) for name in columns]
                lines.append("  " + " | ".join(cells))
        if self.n_offending > len(rows):
            lines.append(f"  showing {len(rows)} of {self.n_offending} offending rows")
        return "\n".join(lines)


def cap_evidence(
    rows: Iterable[Mapping[str, Any]], *, n_offending: int | None = None
) -> tuple[tuple[dict[str, Any], ...], int]:
    """Keep the first :data:`MAX_EVIDENCE_ROWS` rows and return them with the total count.

    ``n_offending`` is the true total when the caller already truncated ``rows``;
    otherwise the number of rows given is the total.
    """
    first_rows: list[dict[str, Any]] = []
    seen = 0
    for row in rows:
        if "key" not in row:
            msg = f"evidence row {dict(row)!r} has no 'key'; name the barcode, gene or path"
            raise InputError(msg)
        if seen < MAX_EVIDENCE_ROWS:
            first_rows.append(dict(row))
        seen += 1
    total = seen if n_offending is None else max(n_offending, seen)
    return tuple(first_rows), total


def format_pair(observed: float, reference: float) -> tuple[str, str]:
    """Format two numbers with as many significant digits as it takes to tell them apart.

    Starts at 4 significant digits; equal values print identically.

    Examples
    --------
    >>> format_pair(1.0000012, 1.0)
    ('1.0000012', '1')
    """
    for digits in range(_MIN_DIGITS, _MAX_DIGITS + 1):
        left = _format_number(observed, digits)
        right = _format_number(reference, digits)
        if left != right or observed == reference:
            return left, right
    return left, right


def _format_number(value: float | int, digits: int) -> str:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return str(int(value))
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def _verdict(observed: float | int, threshold: Threshold, *, forced_failure: str) -> Status:
    if forced_failure:
        return "fail"
    return "pass" if threshold.accepts(float(observed)) else "fail"


def _describe(
    check_id: str,
    metric: str,
    observed: float | int,
    threshold: Threshold,
    status: Status,
    *,
    context: str,
    forced_failure: str,
) -> str:
    observed_text, bound = format_pair(observed, threshold.value)
    accepted = threshold.accepts(float(observed))
    if threshold.direction == "max":
        relation = "<=" if accepted else ">"
    else:
        relation = ">=" if accepted else "<"
    unit = f" {threshold.unit}" if threshold.unit else ""
    line = (
        f"{status.upper()} {check_id}: {metric} {observed_text}{unit} {relation} {bound}{unit} "
        f"({threshold.source} threshold)"
    )
    if forced_failure:
        line = f"{line}, but {forced_failure}"
    return _join(line, context)


def _join(line: str, context: str) -> str:
    return f"{line}; {context}" if context else line


def _require_keys(data: Mapping[str, Any], keys: Sequence[str], *, document: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        msg = f"{document} JSON lacks {missing}; it has {sorted(data)}"
        raise InputError(msg)


def _format_cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _format_detail(value: Any) -> str:
    if isinstance(value, float):
        return _format_number(value, 6)
    return str(value)


# -- JSON helpers ------------------------------------------------------------
# JSON has no NaN or infinity, so non-finite floats are written as a one-key
# dict {"float": "nan" | "inf" | "-inf"}, which no ordinary value produces.

_NONFINITE_KEY = "float"


def _plain(value: Any) -> Any:
    """Convert numpy scalars, arrays and tuples to plain Python values, recursively."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.str_):
        return str(value)
    return value


def _encode_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {_NONFINITE_KEY: str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, Mapping) and set(value) == {_NONFINITE_KEY}:
        return float(value[_NONFINITE_KEY])
    return value


def _encode_tree(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _encode_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_tree(item) for item in value]
    return _encode_value(value)


def _decode_tree(value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {_NONFINITE_KEY}:
            return _decode_value(value)
        return {key: _decode_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_tree(item) for item in value]
    return value
