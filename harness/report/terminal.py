"""The terminal view of a diff: a header, one table row per check, a summary footer.

Every string from a check is wrapped in :class:`rich.text.Text`, so square
brackets in a diagnosis are printed as they are instead of being read as rich
markup. Without colour the first divergent stage is still marked, by the text
:data:`~harness.report._format.FIRST_DIVERGENCE_MARKER` under its name.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from harness.report._format import (
    FIRST_DIVERGENCE_MARKER,
    STATUS_LABELS,
    attribution_note,
    check_note,
    format_delta,
    format_interval,
    observed_vs_threshold,
    side_line,
    summary_line,
)
from harness.report.model import SIDE_NAMES, DiffReport, checks_by_stage, rank_attribution

STATUS_STYLES = {
    "pass": "green",
    "fail": "bold red",
    "error": "bold magenta",
    "warn": "yellow",
    "waived": "cyan",
    "skip": "dim",
}
FIRST_DIVERGENCE_STYLE = "bold"
SNAPSHOT_WIDTH = 120
"""Default console width of :func:`render_text`, in characters."""


def render_terminal(
    report: DiffReport,
    console: Console,
    *,
    written: Mapping[str, Path] | None = None,
    exit_code: int | None = None,
) -> None:
    """Print ``report`` to ``console``: header, checks table, attribution, footer.

    Parameters
    ----------
    report
        The diff to show.
    console
        Where to print. A console with ``no_color=True`` and a fixed ``width``
        gives the same text on every machine, for snapshot tests and CI logs.
    written
        Report kind to the file written (as returned by ``write_reports``),
        listed in the footer; default ``None`` lists none.
    exit_code
        The exit code of the command when it is not the checks' own (``harness
        attribute`` exits 0 although checks fail); default: the checks' code.
    """
    console.print(_header(report))
    console.print()
    console.print(_checks_table(report))
    if report.attribution:
        console.print()
        console.print(_attribution_table(report))
    console.print()
    console.print(_footer(report, written=written, exit_code=exit_code))


def render_text(
    report: DiffReport,
    *,
    width: int = SNAPSHOT_WIDTH,
    written: Mapping[str, Path] | None = None,
) -> str:
    """Return the terminal view as plain text, without colour, ``width`` characters wide.

    Trailing blanks that rich pads table cells with are removed from every line,
    so the text survives editors that strip them.
    """
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        no_color=True,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
        legacy_windows=False,
        soft_wrap=False,
    )
    render_terminal(report, console, written=written)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _header(report: DiffReport) -> Group:
    data = report.data
    first = Text("harness attribute" if report.attribution else "harness diff", style="bold")
    first.append(f" · data {data.label}")
    if data.path:
        first.append(f" at {data.path}")
    lines = [first]
    for name in SIDE_NAMES:
        lines.append(Text(side_line(name, report.sides[name])))
    return Group(*lines)


def _checks_table(report: DiffReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("stage", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("observed vs threshold", overflow="fold", max_width=28)
    table.add_column("diagnosis", overflow="fold", ratio=1)

    first_divergent = report.first_divergent_stage
    groups = checks_by_stage(report.checks)
    for group_index, (stage, checks) in enumerate(groups.items()):
        highlighted = stage == first_divergent
        for index, check in enumerate(checks):
            stage_cell = Text()
            if index == 0:
                stage_cell.append(stage)
                if highlighted:
                    stage_cell.append(f"\n{FIRST_DIVERGENCE_MARKER}")
            last_of_stage = index == len(checks) - 1 and group_index < len(groups) - 1
            table.add_row(
                stage_cell,
                Text(check.check_id),
                Text(STATUS_LABELS[check.status], style=STATUS_STYLES[check.status]),
                Text(observed_vs_threshold(check)),
                Text(check_note(check)),
                style=FIRST_DIVERGENCE_STYLE if highlighted else None,
                end_section=last_of_stage,
            )
    if not report.checks:
        table.add_row(Text("-"), Text("no checks"), Text(""), Text(""), Text(""))
    return table


def _attribution_table(report: DiffReport) -> Table:
    table = Table(
        title="Attribution: factors by effect on the ARI",
        caption=attribution_note(report),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("factor", no_wrap=True)
    table.add_column("direction", no_wrap=True)
    table.add_column("mean ΔARI", justify="right", no_wrap=True)
    table.add_column("CI", no_wrap=True)
    table.add_column("runs", justify="right", no_wrap=True)
    table.add_column("description", overflow="fold", ratio=1)
    for rank, row in enumerate(rank_attribution(report.attribution or ()), start=1):
        table.add_row(
            Text(str(rank)),
            Text(row.factor),
            Text(row.direction or ""),
            Text(format_delta(row.mean_delta_ari)),
            Text(format_interval(row.ci_low, row.ci_high)),
            Text("" if row.n_runs is None else str(row.n_runs)),
            Text(row.description),
        )
    return table


def calibrated_thresholds(report: DiffReport) -> list[str]:
    """Return ``check metric=value`` for every calibrated threshold a check was judged against.

    A check may apply a second threshold inside it (``train.embedding`` judges
    the kNN overlap too); such a threshold sits in ``details[metric]["threshold"]``.
    """
    found: list[str] = []
    for check in report.checks:
        if check.threshold is not None and check.threshold.source == "calibration":
            found.append(f"{check.check_id} {check.metric}={check.threshold.value:.4g}")
        for metric, detail in check.details.items():
            nested = detail.get("threshold") if isinstance(detail, Mapping) else None
            if isinstance(nested, Mapping) and nested.get("source") == "calibration":
                found.append(f"{check.check_id} {metric}={float(nested['value']):.4g}")
    return found


def _footer(
    report: DiffReport, *, written: Mapping[str, Path] | None, exit_code: int | None
) -> Group:
    lines = [Text(f"Summary: {summary_line(report)}")]
    first = report.first_divergent_stage
    lines.append(Text(f"First divergence: {first}" if first else "First divergence: none"))
    if report.stages_not_provided:
        lines.append(
            Text(f"Not provided by the candidate: {', '.join(report.stages_not_provided)}")
        )
    calibrated = calibrated_thresholds(report)
    if calibrated:
        source = (report.settings or {}).get("calibration") or "a calibration file"
        lines.append(Text(f"Thresholds from calibration ({source}): {', '.join(calibrated)}"))
    if exit_code is not None:
        lines.append(Text(f"Exit code: {exit_code}"))
    elif report.exit_code is not None:
        lines.append(Text(f"Exit code: {report.exit_code}"))
    if written:
        lines.append(Text("Reports written:"))
        for kind, path in written.items():
            lines.append(Text(f"  {kind}: {path}"))
    return Group(*lines)
