"""Checks a matrix command makes before it submits jobs that would fail late."""

from __future__ import annotations

import logging

from harness.errors import InputError
from harness.implementation import Implementation, StageContext
from harness.matrix.plans import SidePlan

logger = logging.getLogger(__name__)


def check_enough_spots(implementation: Implementation, plan: SidePlan) -> None:
    """Raise when the slice has fewer spots than ``implementation`` needs.

    An implementation declares its need with an optional method
    ``minimum_spots(context) -> (count, reason) | None``. The legacy
    candidate, for instance, needs one spot per image pseudo-label cluster.
    Without this check it would fail at its ``pseudo_labels`` stage, after
    the reference's whole run. The side's own ``load`` stage counts the spots
    (labelled spots, when the slice has labels) and is cached for the job
    that follows.

    Raises
    ------
    harness.errors.InputError
        When the count is below the declared minimum.
    """
    from harness.runner import run_side

    declared = getattr(implementation, "minimum_spots", None)
    if declared is None or "load" not in plan.provided:
        return
    context = StageContext(config=plan.config, device="cpu", side=plan.side, data_dir=plan.data_dir)
    need = declared(context)
    if need is None:
        return
    minimum, reason = need
    outcome = run_side(
        implementation,
        side=plan.side,
        out_dir=plan.root,
        config=plan.config,
        stages=["load"],
        data_dir=plan.data_dir,
    )
    n_spots = len(outcome.records["load"].load("barcodes"))
    if n_spots >= minimum:
        logger.info("%s: %d spots, at least %d needed (%s)", plan.side, n_spots, minimum, reason)
        return
    msg = (
        f"the {plan.side} ({plan.implementation}) needs at least {minimum} spots ({reason}); "
        f"its load stage keeps {n_spots} of {plan.data_dir}. Use a slice with {minimum} or "
        f"more labelled spots, e.g. `harness synth --spots {minimum + 20}`"
    )
    raise InputError(msg)
