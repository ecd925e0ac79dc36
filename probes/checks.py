"""The assertion every probe makes on its check."""

from __future__ import annotations

import pytest

from harness.compare.result import CheckResult

PASSING = ("pass", "warn", "waived")
"""Statuses a probe accepts: ``warn`` is a tolerated divergence, ``waived`` a declared one."""


def assert_check(checks: dict[str, CheckResult], check_id: str) -> None:
    """Fail with the check's description and diagnosis unless it passed, warned or was waived."""
    __tracebackhide__ = True
    check = checks.get(check_id)
    if check is None:
        pytest.skip(f"{check_id} was not computed (the candidate does not provide its stage)")
    if check.status == "skip":
        pytest.skip(check.description)
    if check.status not in PASSING:
        lines = [check.description]
        if check.diagnosis:
            lines.append(f"diagnosis: {check.diagnosis}")
        pytest.fail("\n".join(lines), pytrace=False)
