"""report.md: the diff as GitHub-flavoured Markdown, for pull requests and CI summaries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.compare.result import CheckResult
from harness.report._format import (
    FIRST_DIVERGENCE_MARKER,
    STATUS_LABELS,
    SUMMARY_ORDER,
    attribution_note,
    calibration_note,
    check_note,
    evidence_columns,
    format_cell,
    format_delta,
    format_interval,
    observed_vs_threshold,
    report_title,
    summary_line,
)
from harness.report.model import (
    SIDE_NAMES,
    DiffReport,
    checks_by_stage,
    ordered_checks,
    rank_attribution,
)
from harness.report.status import failing_checks

MAX_EVIDENCE_ROWS_MD = 20
"""Evidence rows shown per failing check (report.json keeps up to 100)."""


def render_markdown(
    report: DiffReport,
    *,
    max_evidence_rows: int = MAX_EVIDENCE_ROWS_MD,
    written: Mapping[str, Path] | None = None,
) -> str:
    """Return report.md: summary, checks table, failing checks, provenance.

    Parameters
    ----------
    report
        The diff to render.
    max_evidence_rows
        Evidence rows shown per failing check, default :data:`MAX_EVIDENCE_ROWS_MD`.
    written
        Report kind to file path, listed at the end; default ``None`` lists none.
    """
    sections = [
        _summary(report),
        _checks_table(report),
        _failing_sections(report, max_evidence_rows=max_evidence_rows),
        _attribution(report),
        _not_provided(report),
        _provenance(report),
        _tolerances(report),
        _written(written),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def escape_cell(text: Any) -> str:
    """Return ``text`` safe inside a Markdown table cell: pipes escaped, newlines as <br>."""
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = [
        "| " + " | ".join(escape_cell(name) for name in header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    lines.extend("| " + " | ".join(escape_cell(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _summary(report: DiffReport) -> str:
    counts = report.summary
    first = report.first_divergent_stage
    lines = [
        f"# {report_title(report)}",
        "",
        f"- Data: {report.data.label}" + (f", `{report.data.path}`" if report.data.path else ""),
        f"- Reference: {report.sides['reference'].label}",
        f"- Candidate: {report.sides['candidate'].label}",
        f"- Result: {summary_line(report)}",
        f"- First divergent stage: {_code(first) if first else 'none'}",
        (
            f"- Exit code of the checks: {report.exit_code if report.exit_code is not None else 'n/a'} "
            "(`harness attribute` itself exits 0 when every job ran, 1 when one failed)"
            if report.attribution
            else f"- Exit code: {report.exit_code if report.exit_code is not None else 'n/a (no checks)'}"
        ),
        f"- Created: {report.created_at}, harness {report.harness_version or 'not installed'}",
    ]
    if report.command:
        lines.append(f"- Command: {_code(' '.join(report.command))}")
    lines.extend(["", "## Summary", ""])
    lines.append(
        _table(
            [*SUMMARY_ORDER, "total"],
            [[counts[status] for status in SUMMARY_ORDER] + [counts["total"]]],
        )
    )
    return "\n".join(lines)


def _checks_table(report: DiffReport) -> str:
    first = report.first_divergent_stage
    rows: list[list[Any]] = []
    for stage, checks in checks_by_stage(report.checks).items():
        stage_text = f"**{stage}** {FIRST_DIVERGENCE_MARKER}" if stage == first else stage
        for check in checks:
            rows.append(
                [
                    stage_text,
                    _code(check.check_id),
                    STATUS_LABELS[check.status],
                    observed_vs_threshold(check),
                    check_note(check),
                ]
            )
    header = ["stage", "check", "status", "observed vs threshold", "diagnosis"]
    body = _table(header, rows) if rows else "No checks were run."
    return f"## Checks\n\n{body}"


def _failing_sections(report: DiffReport, *, max_evidence_rows: int) -> str:
    failing = failing_checks(ordered_checks(report.checks))
    if not failing:
        return ""
    parts = ["## Failing checks"]
    for check in failing:
        parts.append(_failing_section(check, max_evidence_rows=max_evidence_rows))
    return "\n\n".join(parts)


def _failing_section(check: CheckResult, *, max_evidence_rows: int) -> str:
    lines = [
        f"### {_code(check.check_id)}: {STATUS_LABELS[check.status]}",
        "",
        f"- Stage: {check.stage}, artifact: {check.artifact}, metric: {check.metric}",
        f"- Observed vs threshold: {observed_vs_threshold(check)}",
        f"- Diagnosis: {check.diagnosis or 'none recorded'}",
        f"- Description: {check.description}",
    ]
    rows = list(check.evidence[:max_evidence_rows])
    if rows:
        columns = evidence_columns(rows)
        table_rows = [[format_cell(row.get(name, "")) for name in columns] for row in rows]
        lines.extend(["", _table(columns, table_rows)])
    if check.n_offending > len(rows):
        lines.extend(["", f"Showing {len(rows)} of {check.n_offending} offending rows."])
    return "\n".join(lines)


def _attribution(report: DiffReport) -> str:
    if not report.attribution:
        return ""
    rows = [
        [
            rank,
            row.factor,
            row.direction or "",
            format_delta(row.mean_delta_ari),
            format_interval(row.ci_low, row.ci_high),
            "" if row.n_runs is None else row.n_runs,
            row.description,
        ]
        for rank, row in enumerate(rank_attribution(report.attribution), start=1)
    ]
    table = _table(["rank", "factor", "direction", "mean ΔARI", "CI", "runs", "description"], rows)
    return f"## Attribution\n\n{attribution_note(report)}\n\n{table}"


def _not_provided(report: DiffReport) -> str:
    if not report.stages_not_provided:
        return ""
    names = ", ".join(_code(stage) for stage in report.stages_not_provided)
    return (
        "## Stages not provided by the candidate\n\n"
        f"{names}. Their artifacts were not compared."
    )


def _provenance(report: DiffReport) -> str:
    parts = ["## Provenance"]
    for name in SIDE_NAMES:
        side = report.sides[name]
        rows = [[key, value] for key, value in side.implementation.items()]
        rows.extend(
            [
                ["run folder", side.run_folder or "none"],
                ["preset", side.preset or "unknown"],
                ["device", side.device or "unknown"],
                ["stages computed", ", ".join(side.stages_computed) or "none"],
                ["stages reused", ", ".join(side.stages_reused) or "none"],
                ["stages not provided", ", ".join(side.stages_not_provided) or "none"],
            ]
        )
        parts.append(f"### {name.capitalize()}\n\n{_table(['field', 'value'], rows)}")
    return "\n\n".join(parts)


def _tolerances(report: DiffReport) -> str:
    if not report.tolerances:
        return ""
    rows = [
        [_code(check_id), format_cell(threshold.value), threshold.direction, threshold.unit,
         threshold.source]
        for check_id, threshold in report.tolerances.items()
    ]
    table = _table(["check", "value", "direction", "unit", "source"], rows)
    note = calibration_note(report)
    return f"## Thresholds\n\n{note}\n\n{table}" if note else f"## Thresholds\n\n{table}"


def _written(written: Mapping[str, Path] | None) -> str:
    if not written:
        return ""
    lines = ["## Files", ""]
    lines.extend(f"- {kind}: `{path}`" for kind, path in written.items())
    return "\n".join(lines)
