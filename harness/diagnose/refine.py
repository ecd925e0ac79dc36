"""Check of the ``refine`` stage: the domains after the spatial majority vote.

STAIG gives each spot the most frequent domain among its ``radius`` (15)
nearest other spots. The check compares both sides' refined domains and
names whether a difference comes from the domains before refinement or from
the refinement itself.
"""

from __future__ import annotations

from typing import Any

from harness.compare.result import CheckResult
from harness.diagnose._support import (
    format_score,
    format_value,
    label_agreement,
    with_diagnosis,
)
from harness.diagnose.vocabulary import lookup
from harness.diff.context import DiffContext, Mode

CHECK_ID = "refine.agreement"


def check_agreement(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge the ARI between both sides' refined domains."""
    result = label_agreement(
        context, mode=mode, stage="refine", artifact="refined", check_id=CHECK_ID
    )
    if result.status != "fail":
        return [result]

    sentences = []
    radius_reference = _radius(context.ref_or_none("refine", "config"))
    radius_candidate = _radius(context.cand_or_none("refine", "config", mode=mode))
    if radius_reference is not None and radius_candidate is not None and (
        radius_reference != radius_candidate
    ):
        sentences.append(
            f"the candidate refines with the {format_value(radius_candidate)} nearest spots, "
            f"the reference with {format_value(radius_reference)} (radius)"
        )
    if mode == "chained" and context.has_artifact("cluster", "domains"):
        before = label_agreement(
            context, mode=mode, stage="cluster", artifact="domains", check_id="cluster.domains"
        )
        if before.status == "fail":
            sentences.append(
                "the domains already differ before refinement (cluster.domains ARI "
                f"{format_score(before.observed)}), so refinement inherits the difference"
            )
        elif before.status == "pass":
            sentences.append(
                "the domains agree before refinement (cluster.domains ARI "
                f"{format_score(before.observed)}), so the refinement itself differs"
            )
    if mode == "isolated":
        sentences.append("fed the reference's domains, the candidate's refinement still differs")
    if not sentences:
        sentences.append(f"the sides' refined domains have ARI {format_score(result.observed)}")
    return [with_diagnosis(result, "; ".join(sentences))]


check_agreement.check_id = CHECK_ID


def _radius(config: Any) -> Any:
    return lookup(config, "radius", stage="refine")


DIAGNOSES = [check_agreement]
