"""write_reports: the four files, atomically, readable, consistent."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report import REPORT_FILES, DiffReport, write_reports
from tests.report._samples import sample_report


def test_write_reports_writes_four_files(tmp_path: Path) -> None:
    report = sample_report()

    paths = write_reports(report, tmp_path / "out")

    assert list(paths) == ["json", "markdown", "html", "junit"]
    assert {path.name for path in paths.values()} == set(REPORT_FILES.values())
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(
        REPORT_FILES.values()
    )
    assert DiffReport.load(paths["json"]).to_json() == report.to_json()
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["exit_code"] == 1
    assert ET.parse(paths["junit"]).getroot().get("failures") == "4"
    assert "## Failing checks" in paths["markdown"].read_text(encoding="utf-8")
    assert paths["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_write_reports_files_readable_by_all(tmp_path: Path) -> None:
    paths = write_reports(sample_report(), tmp_path)

    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_reports_replaces_previous(tmp_path: Path) -> None:
    write_reports(sample_report(), tmp_path)
    passing = [check for check in sample_report().checks if check.status == "pass"]

    paths = write_reports(sample_report(checks=passing), tmp_path)

    assert DiffReport.load(tmp_path).exit_code == 0
    assert "harness.patches" in paths["junit"].read_text(encoding="utf-8")
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_reports_list_written_paths(tmp_path: Path) -> None:
    paths = write_reports(sample_report(), tmp_path)

    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert f"- junit: `{tmp_path / 'junit.xml'}`" in markdown
