"""Check of the ``metrics`` stage: agreement of each side's domains with the ground truth.

``metrics/scores`` contains the ARI and NMI (scikit-learn) between the refined
domains and the ground-truth layers. The check fails when the candidate's
ARI is lower than the reference's by more than the threshold; a candidate
that scores higher passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.compare.result import CheckResult, format_pair
from harness.diagnose._support import format_score, with_diagnosis
from harness.diff.context import DiffContext, Mode

CHECK_ID = "metrics.ari"


def check_ari(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge the ARI gap, reference minus candidate, and report both ARIs and NMIs."""
    labels = {"check_id": CHECK_ID, "stage": "metrics", "artifact": "scores"}
    threshold = context.threshold(CHECK_ID, "ari_gap")
    reference = context.ref("metrics", "scores")
    candidate = context.cand("metrics", "scores", mode=mode)
    reference_ari = _score(reference, "ari")
    candidate_ari = _score(candidate, "ari")
    if reference_ari is None and candidate_ari is None:
        return [CheckResult.skipped(
            **labels, metric="ari_gap",
            reason="neither side scored its domains (the slice has no ground-truth labels)",
        )]
    missing = [side for side, value in (("reference", reference_ari),
                                        ("candidate", candidate_ari)) if value is None]
    if missing:
        return [CheckResult.errored(
            **labels, metric="ari_gap", threshold=threshold,
            reason=f"the {missing[0]}'s metrics/scores has no numeric 'ari'",
        )]

    gap = reference_ari - candidate_ari
    scores = {
        name: {"reference": _score(reference, name), "candidate": _score(candidate, name)}
        for name in ("ari", "nmi", "ari_unrefined", "nmi_unrefined")
    }
    result = CheckResult.judged(
        **labels, metric="ari_gap", observed=gap, threshold=threshold,
        context=f"ARI reference {reference_ari:.4g}, candidate {candidate_ari:.4g}",
        details={"scores": scores},
    )
    relation = "<=" if threshold.accepts(gap) else ">"
    gap_text, bound = _gap_and_bound(gap, threshold.value)
    sentence = (
        f"candidate ARI {format_score(candidate_ari)} vs reference {format_score(reference_ari)} "
        f"(gap {gap_text} {relation} {bound})"
    )
    nmi = scores["nmi"]
    if nmi["reference"] is not None and nmi["candidate"] is not None:
        sentence += f"; NMI {format_score(nmi['candidate'])} vs {format_score(nmi['reference'])}"
    before = scores["ari_unrefined"]
    if before["reference"] is not None and before["candidate"] is not None:
        sentence += (
            f"; before refinement ARI {format_score(before['candidate'])} vs "
            f"{format_score(before['reference'])}"
        )
    return [with_diagnosis(result, sentence)]


check_ari.check_id = CHECK_ID


def _score(scores: Any, name: str) -> float | None:
    if not isinstance(scores, Mapping):
        return None
    value = scores.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _gap_and_bound(gap: float, bound: float) -> tuple[str, str]:
    """Print both with two decimals, or with more digits where two would look equal."""
    short = (f"{gap:.2f}", f"{bound:.2f}")
    if short[0] == short[1] and gap != bound:
        return format_pair(gap, bound)
    return short


DIAGNOSES = [check_ari]
