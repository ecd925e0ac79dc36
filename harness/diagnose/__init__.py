"""The catalogue of named checks: one module per stage, each listing its diagnoses.

``harness/diagnose/<stage>.py`` defines ``DIAGNOSES``, a list of functions
``(context, mode) -> list[CheckResult]``. A diagnosis compares what both sides
stored for its stage and explains a divergence in words (the ``diagnosis``
field), e.g. "candidate patch centres = 0.150 × reference: full-resolution
coordinates scaled by tissue_hires_scalef". ``config.py`` holds the checks
that span stages (``config.hyperparameters``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable, Sequence

from harness.compare.result import CheckResult
from harness.diff.context import DiffContext, Mode

logger = logging.getLogger(__name__)

Diagnosis = Callable[[DiffContext, Mode], list[CheckResult]]


def diagnoses_for(stage: str) -> list[Diagnosis]:
    """Return the diagnoses registered for ``stage`` (empty when it has none)."""
    name = f"harness.diagnose.{stage}"
    if importlib.util.find_spec(name) is None:
        return []
    return list(importlib.import_module(name).DIAGNOSES)


def run_catalogue(context: DiffContext, stages: Sequence[str], *, mode: Mode) -> list[CheckResult]:
    """Run every diagnosis of ``stages`` that both sides can feed.

    A stage the candidate did not store gets no checks here (the report lists
    it as not provided). A diagnosis that raises becomes an ``error`` check
    naming the exception, so one broken comparison never hides the others.
    The cross-stage ``config`` checks run once, in chained mode.
    """
    checks: list[CheckResult] = []
    for stage in stages:
        if not context.has(stage, mode=mode):
            continue
        for diagnosis in diagnoses_for(stage):
            checks.extend(_run_one(diagnosis, context, mode, stage=stage))
    if mode == "chained":
        for diagnosis in diagnoses_for("config"):
            checks.extend(_run_one(diagnosis, context, mode, stage="config"))
    return checks


def _run_one(diagnosis: Diagnosis, context: DiffContext, mode: Mode, *, stage: str) -> list[CheckResult]:
    name = getattr(diagnosis, "__name__", "diagnosis")
    try:
        return list(diagnosis(context, mode))
    except Exception as error:  # noqa: BLE001 - reported as an error check, not swallowed
        logger.exception("diagnosis %s of stage %s raised", name, stage)
        check_id = getattr(diagnosis, "check_id", f"{stage}.{name}")
        return [
            CheckResult.errored(
                check_id=check_id, stage=stage, artifact="", metric=name,
                reason=f"the comparison raised {type(error).__name__}: {error}",
            )
        ]
