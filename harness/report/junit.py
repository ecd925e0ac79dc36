"""junit.xml: one test suite per stage and one test case per check, for CI dashboards.

Mapping of statuses to JUnit elements:

- ``fail`` and ``error``: a ``<failure>`` element whose ``type`` is the status,
  whose ``message`` is the diagnosis (or the description when there is none) and
  whose text contains the diagnosis, the description and the evidence table;
- ``skip`` and ``waived``: a ``<skipped>`` element, with the waiver reason for
  ``waived`` and the skip reason for ``skip``;
- ``warn``: no element, so the case passes, with the description in ``<system-out>``;
- ``pass``: no element.

Both failing statuses use ``<failure>`` so that every dashboard counts them as
failed tests. The ``type`` attribute keeps them apart.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.compare.result import CheckResult
from harness.report._format import format_cell, waiver_reason
from harness.report.model import DiffReport, checks_by_stage
from harness.report.status import FAILING_STATUSES

SUITES_NAME = "harness diff"
CLASSNAME_PREFIX = "harness"
MAX_EVIDENCE_ROWS_JUNIT = 20
"""Evidence rows in a failure's text (report.json keeps up to 100)."""


def render_junit(report: DiffReport) -> str:
    """Return junit.xml for ``report``, UTF-8 text with an XML declaration."""
    root = ET.Element("testsuites", {"name": SUITES_NAME})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for stage, checks in checks_by_stage(report.checks).items():
        suite = _suite(stage, checks, timestamp=report.created_at)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _suite(stage: str, checks: list[CheckResult], *, timestamp: str) -> ET.Element:
    failures = sum(check.status in FAILING_STATUSES for check in checks)
    skipped = sum(check.status in ("skip", "waived") for check in checks)
    suite = ET.Element(
        "testsuite",
        {
            "name": f"{CLASSNAME_PREFIX}.{stage}",
            "tests": str(len(checks)),
            "failures": str(failures),
            "errors": "0",
            "skipped": str(skipped),
            "timestamp": timestamp,
        },
    )
    for check in checks:
        suite.append(_case(check))
    return suite


def _case(check: CheckResult) -> ET.Element:
    case = ET.Element(
        "testcase", {"classname": f"{CLASSNAME_PREFIX}.{check.stage}", "name": check.check_id}
    )
    case.append(_properties(check))
    if check.status in FAILING_STATUSES:
        failure = ET.SubElement(
            case,
            "failure",
            {"type": check.status, "message": check.diagnosis or check.description},
        )
        failure.text = _failure_text(check)
    elif check.status == "waived":
        ET.SubElement(case, "skipped", {"message": f"waived: {waiver_reason(check)}"})
    elif check.status == "skip":
        ET.SubElement(case, "skipped", {"message": check.context or check.description})
    elif check.status == "warn":
        ET.SubElement(case, "system-out").text = check.description
    return case


def _properties(check: CheckResult) -> ET.Element:
    properties = ET.Element("properties")
    values = {
        "status": check.status,
        "artifact": check.artifact,
        "metric": check.metric,
        "observed": "" if check.observed is None else format_cell(check.observed),
    }
    if check.threshold is not None:
        values.update(
            {
                "threshold": format_cell(check.threshold.value),
                "direction": check.threshold.direction,
                "unit": check.threshold.unit,
                "threshold_source": check.threshold.source,
            }
        )
    elif "expected" in check.details:
        values["expected"] = format_cell(check.details["expected"])
    for name, value in values.items():
        ET.SubElement(properties, "property", {"name": name, "value": value})
    return properties


def _failure_text(check: CheckResult) -> str:
    """Return the description, diagnosis, details and up to 20 evidence rows."""
    return check.report(max_rows=MAX_EVIDENCE_ROWS_JUNIT)
