"""Text pieces shared by the renderers: observed-against-threshold, notes, side lines."""

from __future__ import annotations

import math
from typing import Any

from harness.compare.result import CheckResult, format_pair
from harness.contract.stages import STAGE_NAMES
from harness.report.model import DiffReport, SideInfo

FIRST_DIVERGENCE_MARKER = "◀ first divergence"
NOT_MEASURED = "n/a"

STATUS_LABELS = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "warn": "WARN",
    "waived": "WAIVED",
    "skip": "SKIP",
}

# Order in which summaries list the statuses: the ones that need attention first.
SUMMARY_ORDER = ("fail", "error", "warn", "waived", "skip", "pass")


def observed_vs_threshold(check: CheckResult) -> str:
    """Return ``observed relation bound`` with units, e.g. ``"3.2 px > 0.5 px"``.

    Numbers get as many significant digits as it takes to tell them apart
    (:func:`harness.compare.result.format_pair`). A check judged by equality shows
    ``observed == expected`` or ``!=``; an unmeasured value shows ``n/a``.
    """
    threshold = check.threshold
    observed = check.observed
    unit = f" {threshold.unit}" if threshold is not None and threshold.unit else ""

    if threshold is None:
        if "expected" in check.details and observed is not None:
            relation = "==" if observed == check.details["expected"] else "!="
            return f"{observed} {relation} {check.details['expected']}"
        return NOT_MEASURED if observed is None else str(observed)

    limit = "<=" if threshold.direction == "max" else ">="
    bound_alone = format_pair(threshold.value, threshold.value)[0]
    if observed is None or isinstance(observed, str):
        shown = NOT_MEASURED if observed is None else observed
        return f"{shown} (needs {limit} {bound_alone}{unit})"
    if math.isnan(float(observed)):
        return f"nan (needs {limit} {bound_alone}{unit})"

    shown, bound = format_pair(observed, threshold.value)
    if threshold.accepts(float(observed)):
        relation = limit
    else:
        relation = ">" if threshold.direction == "max" else "<"
    text = f"{shown}{unit} {relation} {bound}{unit}"
    if check.forced_failure and check.status == "fail" and threshold.accepts(float(observed)):
        # The number passes, yet the check fails for a reason the number does not measure.
        text += ", fails for another reason"
    return text


def check_note(check: CheckResult) -> str:
    """Return the text for a check's diagnosis column.

    The diagnosis when there is one; otherwise, for a check that did not pass,
    the comparator's context (the reason for ``skip`` and ``error``); else empty.
    """
    if check.diagnosis:
        return check.diagnosis
    if check.status == "waived":
        return waiver_reason(check)
    if check.status != "pass":
        return check.forced_failure or check.context
    return ""


def waiver_reason(check: CheckResult) -> str:
    """Return why a check is waived: ``details["waiver_reason"]``, else its context."""
    reason = check.details.get("waiver_reason")
    if reason:
        return str(reason)
    return check.context or "declared divergence"


def summary_line(report: DiffReport) -> str:
    """Return e.g. ``"2 fail, 1 error, 5 pass (8 checks)"``; statuses with no check are left out."""
    counts = report.summary
    parts = [f"{counts[status]} {status}" for status in SUMMARY_ORDER if counts[status]]
    total = counts["total"]
    noun = "check" if total == 1 else "checks"
    return f"{', '.join(parts) or 'no checks'} ({total} {noun})"


def side_line(name: str, side: SideInfo) -> str:
    """Return one line on a side: implementation, preset, device and run folder."""
    parts = [f"{name}: {side.label}"]
    settings = [item for item in (side.preset and f"preset {side.preset}", side.device) if item]
    if settings:
        parts.append(f"({', '.join(settings)})")
    if side.run_folder:
        parts.append(f"in {side.run_folder}")
    return " ".join(parts)


def format_cell(value: Any) -> str:
    """Format one evidence or property value: floats with 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict) and set(value) == {"float"}:
        return str(value["float"])
    return str(value)


def evidence_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Return the union of the rows' keys, ``key`` first, then in order of appearance."""
    columns = list(dict.fromkeys(name for row in rows for name in row))
    if "key" in columns:
        columns.remove("key")
        columns.insert(0, "key")
    return columns


def format_delta(value: float) -> str:
    """Return a signed ΔARI with three decimals, or ``n/a`` when it was not measured."""
    return f"{value:+.3f}" if math.isfinite(value) else NOT_MEASURED


def format_interval(low: float, high: float) -> str:
    """Return ``[low, high]`` with three decimals, or ``n/a`` when a bound is unknown."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return NOT_MEASURED
    return f"[{low:+.3f}, {high:+.3f}]"


def report_title(report: DiffReport) -> str:
    """Return the report's heading, "Harness attribution: ..." for an attribution report."""
    kind = "attribution" if report.attribution else "diff"
    return f"Harness {kind}: {report.data.label}"


def attribution_note(report: DiffReport) -> str:
    """Return how the attribution rows were measured: order, seeds, interval, resizes, failures."""
    settings = report.settings.get("attribution") or {}
    seeds = settings.get("seeds") or []
    confidence = settings.get("confidence")
    parts = [
        "Factors ranked by the absolute mean change in ARI: fix rows first (the candidate "
        "with the reference's stage), then break rows (the reference with the candidate's "
        "stage)."
    ]

    if seeds:
        parts.append(
            f"Each change is a hybrid's final ARI minus its receiving side's at the same seed, "
            f"over {len(seeds)} seed{'s' if len(seeds) != 1 else ''} "
            f"({', '.join(str(seed) for seed in seeds)})."
        )
    if confidence is not None:
        parts.append(
            f"Intervals: {float(confidence):.0%} Student-t over the seeds "
            "(n/a with one seed)."
        )
    parts.append(_resolution_note(report))

    resized = settings.get("resized") or {}
    if resized:
        ordered = [stage for stage in STAGE_NAMES if stage in resized]
        parts.append(
            "Stored at different image sizes on the two sides, so resized wherever a swap "
            f"moves them across: {', '.join(ordered)}."
        )
    failed = settings.get("failed_jobs") or []
    if failed:
        parts.append(f"Failed jobs, missing from the rows: {', '.join(failed)}.")

    jobs_dir = settings.get("jobs_dir")
    if jobs_dir:
        parts.append(f"Job logs: {jobs_dir}.")
    return " ".join(part for part in parts if part)


def _resolution_note(report: DiffReport) -> str:
    """Return a sentence counting the rows whose interval excludes 0, or ``""`` when all do."""
    rows = [row for row in report.attribution or () if math.isfinite(row.mean_delta_ari)]
    if not rows:
        return ""
    resolved = [
        row for row in rows
        if math.isfinite(row.ci_low) and math.isfinite(row.ci_high)
        and (row.ci_low > 0 or row.ci_high < 0)
    ]
    if len(resolved) == len(rows):
        return ""
    if not resolved:
        return (
            "No interval excludes 0, so no factor is resolved at this number of seeds: "
            "the ranking follows the means only. More seeds (--seeds 5) narrow the intervals."
        )
    names = ", ".join(f"{row.direction} {row.factor}" for row in resolved)
    return f"Intervals that exclude 0: {names}; the other rows are not resolved."


def calibration_note(report: DiffReport) -> str:
    """Return the sentence naming the calibration file, or ``""`` when none was used."""
    path = report.settings.get("calibration")
    if not path:
        return ""
    return f"Thresholds whose source is calibration come from {path}."
