"""Comparison of the effective configuration each side recorded for a stage.

The difference is computed with DeepDiff (``ignore_order=False``: list order
counts) and reported as one line per differing path, e.g. ``"hyper.tau:
reference 35, candidate 30"``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import notpresent

from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold
from harness.errors import InputError

# DeepDiff report types, mapped to the word used in evidence rows.
_CHANGE_KINDS: Mapping[str, str] = {
    "values_changed": "changed",
    "type_changes": "type changed",
    "dictionary_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_added": "added",
    "iterable_item_removed": "removed",
}


def compare_configs(
    reference: Mapping[str, Any],
    candidate: Mapping[str, Any],
    *,
    significant_digits: int | None = None,
    math_epsilon: float | None = None,
    ignore_numeric_type_changes: bool = False,
    exclude_paths: Collection[str] = (),
    threshold: Threshold | None = None,
    check_id: str = "configs.diff",
    stage: str = "",
    artifact: str = "config",
) -> CheckResult:
    """Judge the number of differing keys between two configuration dicts.

    Parameters
    ----------
    reference, candidate
        JSON-like configuration dicts (nested dicts, lists, numbers, strings).
    significant_digits
        Compare floats rounded to this many digits after the decimal point
        (DeepDiff's ``significant_digits``); default ``None``: exact.
    math_epsilon
        Compare numbers with ``math.isclose(abs_tol=math_epsilon)`` (DeepDiff's
        ``math_epsilon``); default ``None``: exact. Not together with
        ``significant_digits``.
    ignore_numeric_type_changes
        Treat ``300`` and ``300.0`` as equal, default ``False``.
    exclude_paths
        Dotted key paths to leave out, e.g. ``{"hyper.seed"}``. Keys that contain a
        dot cannot be named this way.
    threshold
        Bound on the number of differing paths, default
        ``Threshold(0, "max", unit="keys")``.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"n_differing_keys"``. ``details["differences"]`` contains one line per
        differing path (at most 100). Evidence rows ``{"key": path, "change": "changed"
        | "type changed" | "added" | "removed", "reference": ..., "candidate": ...}``.

    Raises
    ------
    InputError
        When a side is not a mapping, or both tolerances are given.
    """
    for side, config in (("reference", reference), ("candidate", candidate)):
        if not isinstance(config, Mapping):
            msg = f"{side} config is a {type(config).__name__}; expected a mapping (JSON object)"
            raise InputError(msg)
    if significant_digits is not None and math_epsilon is not None:
        msg = (
            f"both `significant_digits` ({significant_digits}) and `math_epsilon` "
            f"({math_epsilon}) are set; choose one float tolerance"
        )
        raise InputError(msg)
    threshold = threshold or Threshold(0, "max", unit="keys")

    diff = DeepDiff(
        dict(reference),
        dict(candidate),
        ignore_order=False,
        significant_digits=significant_digits,
        math_epsilon=math_epsilon,
        ignore_numeric_type_changes=ignore_numeric_type_changes,
        exclude_paths=[_deepdiff_path(path) for path in exclude_paths],
        view="tree",
    )
    rows = []
    for report_type, levels in diff.items():
        # Non-JSON values (sets, objects) give other report types; keep their name.
        change = _CHANGE_KINDS.get(report_type, report_type.replace("_", " "))
        for level in levels:
            rows.append({
                "key": _dotted(level.path(output_format="list")),
                "change": change,
                "reference": None if level.t1 is notpresent else level.t1,
                "candidate": None if level.t2 is notpresent else level.t2,
            })
    rows.sort(key=lambda row: row["key"])
    lines = [_describe_row(row) for row in rows]

    tolerance = "exact"
    if significant_digits is not None:
        tolerance = f"significant_digits {significant_digits}"
    elif math_epsilon is not None:
        tolerance = f"math_epsilon {math_epsilon}"
    context = f"{len(rows)} differing keys ({tolerance})"
    if lines:
        context += ": " + "; ".join(lines[:3]) + ("; ..." if len(lines) > 3 else "")
    return CheckResult.judged(
        check_id=check_id, stage=stage, artifact=artifact, metric="n_differing_keys",
        observed=len(rows), threshold=threshold, context=context, evidence=rows,
        details={"differences": lines[:MAX_EVIDENCE_ROWS], "tolerance": tolerance,
                 "excluded": sorted(exclude_paths)},
    )


def _describe_row(row: Mapping[str, Any]) -> str:
    change, reference, candidate = row["change"], row["reference"], row["candidate"]
    if change == "added":
        return f"{row['key']}: added, candidate {candidate!r}"
    if change == "removed":
        return f"{row['key']}: removed, reference {reference!r}"
    if change == "type changed":
        return (
            f"{row['key']}: reference {reference!r} ({type(reference).__name__}), "
            f"candidate {candidate!r} ({type(candidate).__name__})"
        )
    return f"{row['key']}: reference {reference!r}, candidate {candidate!r}"


def _dotted(path: list[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text or "<root>"


def _deepdiff_path(dotted: str) -> str:
    if not dotted:
        msg = "an entry of `exclude_paths` is empty; name a key path such as 'hyper.seed'"
        raise InputError(msg)
    return "root" + "".join(f"[{part!r}]" for part in dotted.split("."))
