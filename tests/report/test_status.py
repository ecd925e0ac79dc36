"""Exit status of a diff from its checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.compare.result import CheckResult, Threshold
from harness.errors import InputError
from harness.report import EXIT_CHECKS_FAILED, EXIT_OK, exit_code, failing_checks


def _check(status: str) -> CheckResult:
    check = CheckResult.judged(
        check_id=f"graph.{status}", stage="graph", artifact="edges", metric="jaccard",
        observed=0.5, threshold=Threshold(0.9, "min"),
    )
    return replace(check, status=status)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pass"], EXIT_OK),
        (["pass", "warn", "waived", "skip"], EXIT_OK),
        (["pass", "fail"], EXIT_CHECKS_FAILED),
        (["pass", "error"], EXIT_CHECKS_FAILED),
        (["skip", "skip"], EXIT_OK),
        (["warn", "error", "fail"], EXIT_CHECKS_FAILED),
    ],
    ids=["pass", "non-failing-mix", "fail", "error", "only-skips", "all-bad"],
)
def test_exit_code_by_statuses(statuses: list[str], expected: int) -> None:
    assert exit_code([_check(status) for status in statuses]) == expected


def test_exit_code_values_match_cli() -> None:
    assert EXIT_OK == 0
    assert EXIT_CHECKS_FAILED == 1


def test_exit_code_rejects_empty_diff() -> None:
    with pytest.raises(InputError, match="no checks, so nothing was compared"):
        exit_code([])


def test_failing_checks_keep_order() -> None:
    checks = [_check("error"), _check("pass"), _check("fail"), _check("warn")]

    assert [check.status for check in failing_checks(checks)] == ["error", "fail"]
