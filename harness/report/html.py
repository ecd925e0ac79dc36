"""report.html: one self-contained page with summary cards, the checks table and figures.

The page loads nothing. The style sheet is inline, figures are PNG data URIs,
and there are no scripts, web fonts or links to other hosts. It therefore
looks the same from a CI artifact store, an e-mail attachment or an offline laptop.
Every text taken from the report is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
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
    side_line,
    summary_line,
)
from harness.report.figures import ReportFigure, attribution_figure, build_figures
from harness.report.model import (
    SIDE_NAMES,
    DiffReport,
    checks_by_stage,
    ordered_checks,
    rank_attribution,
)
from harness.report.status import failing_checks

MAX_EVIDENCE_ROWS_HTML = 20
"""Evidence rows shown per failing check (report.json keeps up to 100)."""

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1b1b1b; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
.meta { color: #555; font-size: 0.9rem; }
.cards { display: flex; flex-wrap: wrap; gap: 0.75rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 1rem; min-width: 7rem; }
.card .count { font-size: 1.6rem; font-weight: 600; }
.card .label { font-size: 0.8rem; text-transform: uppercase; color: #555; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.3rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f5f5f5; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 0.85rem; }
.status { font-weight: 600; padding: 0.05rem 0.4rem; border-radius: 4px; color: #fff; }
.status-pass { background: #2e7d32; }
.status-fail { background: #c62828; }
.status-error { background: #6a1b9a; }
.status-warn { background: #b28704; }
.status-waived { background: #00838f; }
.status-skip { background: #757575; }
tr.first-divergence td { background: #fff3f3; }
.marker { color: #c62828; font-weight: 600; white-space: nowrap; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, .note { color: #444; font-size: 0.9rem; }
.missing { border: 1px dashed #bbb; padding: 0.5rem 1rem; margin: 1rem 0; }
details { margin: 0.5rem 0 1rem; }
summary { cursor: pointer; font-weight: 600; }
"""


def render_html(
    report: DiffReport,
    *,
    figures: Sequence[ReportFigure] | None = None,
    written: Mapping[str, Path] | None = None,
) -> str:
    """Return report.html for ``report``.

    Parameters
    ----------
    report
        The diff to render.
    figures
        Figures to embed; default ``None`` draws them with
        :func:`~harness.report.figures.build_figures` from ``report.figures_data``.
    written
        Report kind to file path, listed at the end; default ``None`` lists none.
    """
    if figures is None:
        figures = build_figures(report)
    title = report_title(report)
    body = [
        _header(report),
        _cards(report),
        _checks_section(report),
        _failing_section(report),
        _figures_section(figures),
        _attribution_section(report),
        _provenance_section(report),
        _tolerances_section(report),
        _written_section(written),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def png_data_uri(png: bytes) -> str:
    """Return ``png`` as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(
    header: Iterable[str],
    rows: Iterable[Iterable[str]],
    *,
    row_classes: Iterable[str] | None = None,
) -> str:
    """Return an HTML table. Cells are inserted as they are, so callers escape text."""
    head = "".join(f"<th>{_text(name)}</th>" for name in header)
    classes = list(row_classes) if row_classes is not None else None
    lines = [f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>"]
    for index, row in enumerate(rows):
        css = f' class="{classes[index]}"' if classes and classes[index] else ""
        lines.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    lines.append("</tbody>\n</table>")
    return "\n".join(lines)


def _badge(status: str) -> str:
    return f'<span class="status status-{_text(status)}">{_text(STATUS_LABELS[status])}</span>'


def _header(report: DiffReport) -> str:
    lines = [f"<h1>{_text(report_title(report))}</h1>"]
    meta = [f"data: {report.data.path}" if report.data.path else "data: not recorded"]
    meta.extend(side_line(name, report.sides[name]) for name in SIDE_NAMES)
    meta.append(
        f"created {report.created_at}, harness {report.harness_version or 'not installed'}"
    )
    if report.command:
        meta.append("command: " + " ".join(report.command))
    lines.append("<p class=\"meta\">" + "<br>".join(_text(item) for item in meta) + "</p>")
    return "\n".join(lines)


def _cards(report: DiffReport) -> str:
    counts = report.summary
    cards = [
        f'<div class="card"><div class="count">{counts[status]}</div>'
        f'<div class="label">{_badge(status)}</div></div>'
        for status in SUMMARY_ORDER
    ]
    first = report.first_divergent_stage or "none"
    cards.append(
        f'<div class="card"><div class="count">{_text(first)}</div>'
        '<div class="label">first divergence</div></div>'
    )
    exit_code = report.exit_code if report.exit_code is not None else "n/a"
    cards.append(
        f'<div class="card"><div class="count">{_text(exit_code)}</div>'
        f'<div class="label">{"exit code of the checks" if report.attribution else "exit code"}</div></div>'
    )
    return (
        "<section id=\"summary\">\n<h2>Summary</h2>\n"
        f"<p>{_text(summary_line(report))}</p>\n"
        f'<div class="cards">{"".join(cards)}</div>\n</section>'
    )


def _checks_section(report: DiffReport) -> str:
    first = report.first_divergent_stage
    rows: list[list[str]] = []
    classes: list[str] = []
    for stage, checks in checks_by_stage(report.checks).items():
        for index, check in enumerate(checks):
            stage_cell = ""
            if index == 0:
                stage_cell = _text(stage)
                if stage == first:
                    marker = _text(FIRST_DIVERGENCE_MARKER)
                    stage_cell += f'<br><span class="marker">{marker}</span>'
            rows.append(
                [
                    stage_cell,
                    f"<code>{_text(check.check_id)}</code>",
                    _badge(check.status),
                    _text(observed_vs_threshold(check)),
                    _text(check_note(check)),
                ]
            )
            classes.append("first-divergence" if stage == first else "")
    header = ["stage", "check", "status", "observed vs threshold", "diagnosis"]
    table = _table(header, rows, row_classes=classes) if rows else "<p>No checks were run.</p>"
    return f'<section id="checks">\n<h2>Checks</h2>\n{table}\n</section>'


def _failing_section(report: DiffReport) -> str:
    failing = failing_checks(ordered_checks(report.checks))
    if not failing:
        return ""
    parts = ['<section id="failing">', "<h2>Failing checks</h2>"]
    parts.extend(_failing_check(check) for check in failing)
    parts.append("</section>")
    return "\n".join(parts)


def _failing_check(check: CheckResult) -> str:
    lines = [
        f'<details open id="check-{_text(check.check_id)}">',
        f"<summary><code>{_text(check.check_id)}</code> {_badge(check.status)}</summary>",
        "<p><strong>Diagnosis:</strong> "
        f"{_text(check.diagnosis or 'none recorded')}</p>",
        f"<p><strong>Description:</strong> {_text(check.description)}</p>",
    ]
    rows = list(check.evidence[:MAX_EVIDENCE_ROWS_HTML])
    if rows:
        columns = evidence_columns(rows)
        cells = [[_text(format_cell(row.get(name, ""))) for name in columns] for row in rows]
        lines.append(_table(columns, cells))
    if check.n_offending > len(rows):
        lines.append(
            f'<p class="note">Showing {len(rows)} of {check.n_offending} offending rows.</p>'
        )
    lines.append("</details>")
    return "\n".join(lines)


def _figures_section(figures: Sequence[ReportFigure]) -> str:
    if not figures:
        return ""
    parts = ['<section id="figures">', "<h2>Figures</h2>"]
    for figure in figures:
        if figure.png is not None:
            parts.append(
                f'<figure id="figure-{_text(figure.key)}">'
                f'<img alt="{_text(figure.title)}" src="{png_data_uri(figure.png)}">'
                f"<figcaption><strong>{_text(figure.title)}.</strong> "
                f"{_text(figure.note)}</figcaption></figure>"
            )
        else:
            parts.append(
                f'<div class="missing" id="figure-{_text(figure.key)}">'
                f"<strong>{_text(figure.title)}</strong>"
                f'<p class="note">{_text(figure.note)}</p></div>'
            )
    parts.append("</section>")
    return "\n".join(parts)


def _attribution_section(report: DiffReport) -> str:
    if not report.attribution:
        return ""
    rows = [
        [
            str(rank),
            _text(row.factor),
            _text(row.direction or ""),
            _text(format_delta(row.mean_delta_ari)),
            _text(format_interval(row.ci_low, row.ci_high)),
            "" if row.n_runs is None else str(row.n_runs),
            _text(row.description),
        ]
        for rank, row in enumerate(rank_attribution(report.attribution), start=1)
    ]
    table = _table(["rank", "factor", "direction", "mean ΔARI", "CI", "runs", "description"], rows)
    chart = attribution_figure(report.attribution)
    picture = (
        f'<figure><img alt="{_text(chart.title)}" src="{png_data_uri(chart.png)}">'
        f"<figcaption>{_text(chart.note)}</figcaption></figure>\n"
        if chart.png is not None else f'<p class="note">{_text(chart.note)}</p>\n'
    )
    return (
        '<section id="attribution">\n<h2>Attribution</h2>\n'
        f'<p class="note">{_text(attribution_note(report))}</p>\n'
        f"{picture}{table}\n</section>"
    )


def _provenance_section(report: DiffReport) -> str:
    parts = ['<section id="provenance">', "<h2>Provenance</h2>"]
    if report.stages_not_provided:
        names = ", ".join(report.stages_not_provided)
        parts.append(
            f"<p>Stages not provided by the candidate, not compared: {_text(names)}.</p>"
        )
    for name in SIDE_NAMES:
        side = report.sides[name]
        rows = [[_text(key), _text(value)] for key, value in side.implementation.items()]
        rows.extend(
            [_text(label), _text(value)]
            for label, value in (
                ("run folder", side.run_folder or "none"),
                ("preset", side.preset or "unknown"),
                ("device", side.device or "unknown"),
                ("stages computed", ", ".join(side.stages_computed) or "none"),
                ("stages reused", ", ".join(side.stages_reused) or "none"),
                ("stages not provided", ", ".join(side.stages_not_provided) or "none"),
            )
        )
        parts.append(f"<h3>{_text(name.capitalize())}</h3>")
        parts.append(_table(["field", "value"], rows))
    parts.append("</section>")
    return "\n".join(parts)


def _tolerances_section(report: DiffReport) -> str:
    if not report.tolerances:
        return ""
    rows = [
        [
            f"<code>{_text(check_id)}</code>",
            _text(format_cell(threshold.value)),
            _text(threshold.direction),
            _text(threshold.unit),
            _text(threshold.source),
        ]
        for check_id, threshold in report.tolerances.items()
    ]
    table = _table(["check", "value", "direction", "unit", "source"], rows)
    note = calibration_note(report)
    paragraph = f'<p class="note">{_text(note)}</p>\n' if note else ""
    return f'<section id="tolerances">\n<h2>Thresholds</h2>\n{paragraph}{table}\n</section>'


def _written_section(written: Mapping[str, Path] | None) -> str:
    if not written:
        return ""
    items = "".join(
        f"<li>{_text(kind)}: <code>{_text(path)}</code></li>" for kind, path in written.items()
    )
    return f'<section id="files">\n<h2>Files</h2>\n<ul>{items}</ul>\n</section>'
