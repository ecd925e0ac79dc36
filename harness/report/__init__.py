"""Reports of a diff: report.json, report.md, report.html, junit.xml and the terminal view.

Build a :class:`DiffReport` from the check results and the sides' provenance,
then call :func:`write_reports` for the files and :func:`render_terminal` for
the console. ``harness.report.model`` documents the report.json schema.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from harness.artifacts.store import atomic_write_text
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.report.model import (
    REPORT_FILE,
    AttributionRow,
    DataInfo,
    DiffReport,
    SideInfo,
    tolerances_from_checks,
)
from harness.report.status import EXIT_CHECKS_FAILED, EXIT_OK, exit_code, failing_checks
from harness.report.terminal import render_terminal, render_text

logger = logging.getLogger(__name__)

REPORT_FILES = {
    "json": REPORT_FILE,
    "markdown": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
}
"""Report kind to file name inside the output folder."""

REPORT_FILE_MODE = 0o644
"""Permissions of the written reports: readable by everyone, writable by the owner."""

__all__ = [
    "EXIT_CHECKS_FAILED",
    "EXIT_OK",
    "REPORT_FILES",
    "AttributionRow",
    "DataInfo",
    "DiffReport",
    "SideInfo",
    "exit_code",
    "failing_checks",
    "render_html",
    "render_junit",
    "render_markdown",
    "render_terminal",
    "render_text",
    "tolerances_from_checks",
    "write_reports",
]


def write_reports(report: DiffReport, out_dir: Path) -> dict[str, Path]:
    """Write report.json, report.md, report.html and junit.xml into ``out_dir``.

    Every file is rendered in memory first and then written through a temporary
    file and an atomic rename, so a failure while rendering leaves the previous
    reports in place and a reader never sees a half-written file.

    Parameters
    ----------
    report
        The diff.
    out_dir
        Folder for the reports; created when missing.

    Returns
    -------
    dict
        Report kind (``"json"``, ``"markdown"``, ``"html"``, ``"junit"``) to the
        path written, in that order.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in REPORT_FILES.items()}
    logger.info("Writing reports to %s", out_dir)

    texts = {
        "json": report.to_json_text(),
        "markdown": render_markdown(report, written=paths),
        "html": render_html(report, written=paths),
        "junit": render_junit(report),
    }
    for kind, text in texts.items():
        atomic_write_text(paths[kind], text)
        # The temporary file behind atomic_write_text is created owner-only (0600);
        # reports are meant to be shared, e.g. as CI artifacts.
        paths[kind].chmod(REPORT_FILE_MODE)
    logger.info("Reports written in %.2f s", time.perf_counter() - started)
    return paths
