"""Exit status of ``harness diff`` from its check results.

The command line's codes: 0 when no check failed, 1 when a check has status
``"fail"`` or ``"error"``. Usage and input errors (2) and internal errors (3)
are decided by the command line itself (``harness.cli``).
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.compare.result import CheckResult
from harness.errors import InputError

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1

FAILING_STATUSES = frozenset({"fail", "error"})
"""Statuses that fail the diff. ``"error"`` counts because a metric that could not be
measured (a shape mismatch, nothing to compare) is a divergence, not a pass.
``"warn"``, ``"waived"`` and ``"skip"`` do not fail it."""


def failing_checks(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """Return the checks whose status is in :data:`FAILING_STATUSES`, in their given order."""
    return [check for check in checks if check.status in FAILING_STATUSES]


def exit_code(checks: Iterable[CheckResult]) -> int:
    """Return :data:`EXIT_CHECKS_FAILED` when a check fails or errors, else :data:`EXIT_OK`.

    Raises
    ------
    InputError
        When ``checks`` is empty: a diff that compared nothing must not pass.
    """
    checks = list(checks)
    if not checks:
        msg = (
            "the diff produced no checks, so nothing was compared; run at least one stage "
            "on both sides (check --until and the stages the candidate provides)"
        )
        raise InputError(msg)
    return EXIT_CHECKS_FAILED if failing_checks(checks) else EXIT_OK
