"""Terminal view: snapshot at 120 columns without colour, markers and escaping."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from harness.report import render_terminal, render_text
from tests.report._samples import sample_attribution, sample_report

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE_VARIABLE = "HARNESS_UPDATE_SNAPSHOTS"


def _assert_snapshot(name: str, obtained: str) -> None:
    """Compare ``obtained`` with the committed snapshot; rewrite it when asked to."""
    path = SNAPSHOTS / name
    if os.environ.get(UPDATE_VARIABLE) == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(obtained, encoding="utf-8")
        if os.environ.get(UPDATE_VARIABLE) != "1":
            pytest.fail(f"snapshot {path} did not exist and was written; review it and rerun")
        return
    expected = path.read_text(encoding="utf-8")
    assert obtained == expected, (
        f"terminal output differs from {path}; if the change is intended, rerun with "
        f"{UPDATE_VARIABLE}=1 and review the diff"
    )


def test_terminal_snapshot_120_columns() -> None:
    report = sample_report(attribution=sample_attribution())

    text = render_text(report, width=120, written={"json": Path("/out/report.json")})

    _assert_snapshot("terminal_120.txt", text)


def test_terminal_marks_first_divergence_without_colour() -> None:
    text = render_text(sample_report())

    marker_lines = [line for line in text.splitlines() if "◀ first divergence" in line]
    assert len(marker_lines) == 1
    assert "\x1b[" not in text
    patches_row = text.splitlines()[text.splitlines().index(marker_lines[0]) - 1]
    assert patches_row.startswith("patches")


def test_terminal_lines_fit_width() -> None:
    for width in (80, 120):
        text = render_text(sample_report(attribution=sample_attribution()), width=width)

        assert max(len(line) for line in text.splitlines()) <= width


def test_terminal_prints_markup_literally() -> None:
    text = render_text(sample_report())

    assert "[candidate k=6] |" in text


def test_terminal_header_and_footer() -> None:
    text = render_text(sample_report(), written={"html": Path("/out/report.html")})

    assert text.startswith("harness diff · data 151673 (3639 spots) at /data/dlpfc/151673")
    assert "reference: staig-reference 1.0 (preset quick, cpu) in /runs/cache/reference" in text
    assert "Summary: 3 fail, 1 error, 1 warn, 1 waived, 1 skip, 2 pass (9 checks)" in text
    assert "First divergence: patches" in text
    assert "Not provided by the candidate: cluster" in text
    assert "Exit code: 1" in text
    assert "  html: /out/report.html" in text


def test_terminal_with_colour_highlights_rows() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=True, color_system="truecolor")

    render_terminal(sample_report(), console)

    assert "\x1b[" in buffer.getvalue()
    assert "◀ first divergence" in buffer.getvalue()


def test_terminal_without_checks() -> None:
    text = render_text(sample_report(checks=[]))

    assert "no checks" in text
    assert "First divergence: none" in text
    assert "Exit code" not in text


def test_terminal_footer_lists_calibrated_thresholds() -> None:
    report = sample_report()
    target = next(check for check in report.checks if check.threshold is not None)
    calibrated = dataclasses.replace(
        target.threshold, value=0.75, source="calibration"
    )
    checks = [check.rejudge(calibrated) if check is target else check for check in report.checks]
    report = dataclasses.replace(report, checks=checks, settings={"calibration": "/c/151673.json"})

    text = render_text(report, width=200)

    assert (
        f"Thresholds from calibration (/c/151673.json): {target.check_id} {target.metric}=0.75"
        in text
    )
    assert "Thresholds from calibration" not in render_text(sample_report(), width=200)


def test_forced_failure_cell_explains_passing_number() -> None:
    from harness.compare.result import CheckResult, Threshold
    from harness.report._format import observed_vs_threshold

    check = CheckResult.judged(
        check_id="patches.window", stage="patches", artifact="boxes", metric="side_ratio",
        observed=0.0, threshold=Threshold(1e-9, "max"),
        forced_failure="candidate resizes windows to 224 px, the reference to 512 px",
    )

    assert check.status == "fail"
    assert observed_vs_threshold(check) == "0 <= 1e-09, fails for another reason"


def test_footer_nested_threshold_and_exit_code() -> None:
    report = sample_report()
    target = report.checks[0]
    nested = {"knn_overlap": {"observed": 0.2, "threshold": {
        "value": 0.134, "direction": "min", "unit": "", "source": "calibration"}}}
    checks = [dataclasses.replace(target, details={**target.details, **nested}),
              *report.checks[1:]]
    report = dataclasses.replace(report, checks=checks)

    console = Console(file=io.StringIO(), width=200, no_color=True, force_terminal=False)
    render_terminal(report, console, exit_code=0)
    text = console.file.getvalue()

    assert f"{target.check_id} knn_overlap=0.134" in text
    assert "Exit code: 0" in text
    assert "Exit code: 1" not in text
