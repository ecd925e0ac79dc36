"""report.md: summary, checks table, failing sections, provenance."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.report import render_markdown
from harness.report.status import failing_checks
from tests.report._samples import sample_attribution, sample_report


def test_markdown_has_each_failing_diagnosis() -> None:
    report = sample_report()

    text = render_markdown(report)

    for check in failing_checks(report.checks):
        heading = f"### `{check.check_id}`: {check.status.upper()}"
        assert heading in text
        assert f"- Description: {check.description}" in text
        if check.diagnosis:
            assert f"- Diagnosis: {check.diagnosis}" in text


def test_markdown_failing_sections_in_stage_order() -> None:
    text = render_markdown(sample_report())

    positions = [text.index(f"### `{check_id}`") for check_id in
                 ("patches.centers", "image_features.encoder", "genes.matrix", "graph.edges")]
    assert positions == sorted(positions)


def test_markdown_caps_evidence_rows() -> None:
    text = render_markdown(sample_report(), max_evidence_rows=20)

    section = text[text.index("### `patches.centers`"):text.index("### `image_features.encoder`")]
    assert section.count("| AAAC") == 20
    assert "Showing 20 of 3611 offending rows." in section
    assert "| key | error_px |" in section


def test_markdown_escapes_pipes_in_cells() -> None:
    text = render_markdown(sample_report())

    assert "k differs: [candidate k=6] \\| reference k=80" in text


def test_markdown_marks_first_divergence() -> None:
    text = render_markdown(sample_report())

    row = "| **patches** ◀ first divergence | `patches.centers` | FAIL | 37.5 px > 0.5 px |"
    assert row in text
    assert "- First divergent stage: `patches`" in text
    assert "- Exit code: 1" in text


def test_markdown_lists_provenance_and_not_provided() -> None:
    text = render_markdown(sample_report(), written={"html": Path("/out/report.html")})

    assert "## Stages not provided by the candidate\n\n`cluster`." in text
    assert "| run folder | /runs/cache/reference |" in text
    assert "| stages reused | genes, graph |" in text
    assert "| name | staig-fusion |" in text
    assert "- html: `/out/report.html`" in text
    assert "| `patches.centers` | 0.5 | max | px | default |" in text


def test_markdown_attribution_ranked() -> None:
    text = render_markdown(sample_report(attribution=sample_attribution()))

    assert "| 1 | patches | fix | -0.310 | [-0.350, -0.270] | 5 | window centres |" in text
    assert text.index("| 2 | train |") < text.index("| 3 | graph |")


def test_markdown_without_failures_has_no_failing_section() -> None:
    report = sample_report()
    passing = [check for check in report.checks if check.status == "pass"]

    text = render_markdown(sample_report(checks=passing))

    assert "## Failing checks" not in text
    assert "- First divergent stage: none" in text


def test_attribution_report_names_whose_exit_code() -> None:
    plain = render_markdown(sample_report())
    attributed = render_markdown(sample_report(attribution=sample_attribution()))

    assert "- Exit code: 1" in plain
    assert "- Exit code of the checks: 1 (`harness attribute` itself exits 0" in attributed


def test_attribution_report_title_and_seeds() -> None:
    settings = {
        "attribution": {
            "seeds": [0, 1, 2],
            "confidence": 0.9,
            "resized": {"patches": {"patches": {"reference": 512, "candidate": 224}}},
            "failed_jobs": ["break graph seed 2"],
        }
    }
    plain = render_markdown(sample_report())
    attributed = render_markdown(
        sample_report(attribution=sample_attribution(), settings=settings)
    )

    assert plain.startswith("# Harness diff: 151673")
    assert attributed.startswith("# Harness attribution: 151673")
    assert "over 3 seeds (0, 1, 2)" in attributed
    assert "Intervals: 90% Student-t over the seeds" in attributed
    assert "resized wherever a swap moves them across: patches." in attributed
    assert "not resolved" not in attributed
    assert "Failed jobs, missing from the rows: break graph seed 2." in attributed


def test_attribution_note_without_settings() -> None:
    text = render_markdown(sample_report(attribution=sample_attribution()))

    assert "fix rows first" in text
    assert "seeds (" not in text


def test_attribution_note_unresolved_intervals() -> None:
    rows = sample_attribution()
    wide = [dataclasses.replace(row, ci_low=-0.6, ci_high=0.6) for row in rows]
    one_resolved = [*wide[:1], *rows[1:2], *wide[2:]]

    none = render_markdown(sample_report(attribution=wide))
    some = render_markdown(sample_report(attribution=one_resolved))

    assert "No interval excludes 0, so no factor is resolved" in none
    assert "Intervals that exclude 0: fix patches; the other rows are not resolved." in some


def test_thresholds_name_calibration_file() -> None:
    calibrated = render_markdown(
        sample_report(settings={"calibration": "/cache/calibration/151673-quick.json"})
    )
    plain = render_markdown(sample_report())

    assert (
        "## Thresholds\n\nThresholds whose source is calibration come from "
        "/cache/calibration/151673-quick.json." in calibrated
    )
    assert "come from" not in plain
