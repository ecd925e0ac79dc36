"""Checks of the ``pseudo_labels`` stage: KMeans clusters of the image embedding.

STAIG takes the number of clusters from the slice config (``k``: 80 for the
DLPFC slices) and falls back to 300 when the key is missing. A count of 300
on one side therefore points at a config that was not read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.compare.result import CheckResult
from harness.diagnose._support import (
    format_value,
    label_agreement,
    same_upstream,
    with_diagnosis,
)
from harness.diagnose.vocabulary import lookup
from harness.diff.context import DiffContext, Mode

STAIG_FALLBACK_K = 300
"""Pseudo-label clusters STAIG uses when the slice config has no ``k``."""


def check_count(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the number of pseudo-labels, observed and configured, of both sides."""
    check_id = "pseudo_labels.count"
    reference = np.asarray(context.ref("pseudo_labels", "pseudo_labels"))
    candidate = np.asarray(context.cand("pseudo_labels", "pseudo_labels", mode=mode))
    n_reference = int(np.unique(reference).size)
    n_candidate = int(np.unique(candidate).size)
    k_reference = _configured_k(context.ref_or_none("pseudo_labels", "config"))
    k_candidate = _configured_k(context.cand_or_none("pseudo_labels", "config", mode=mode))

    observed = abs(n_reference - n_candidate)
    if k_reference is not None and k_candidate is not None:
        observed = max(observed, abs(k_reference - k_candidate))
    result = CheckResult.judged(
        check_id=check_id, stage="pseudo_labels", artifact="pseudo_labels",
        metric="count_difference", observed=observed,
        threshold=context.threshold(check_id, "count_difference"),
        context=(
            f"{n_reference} distinct reference and {n_candidate} candidate pseudo-labels; "
            f"configured k: reference {_or_unrecorded(k_reference)}, candidate "
            f"{_or_unrecorded(k_candidate)}"
        ),
        details={
            "n_labels_reference": n_reference, "n_labels_candidate": n_candidate,
            "k_reference": k_reference, "k_candidate": k_candidate,
        },
    )
    if result.status != "fail":
        return [result]
    return [with_diagnosis(result, _explain_count(
        n_reference=n_reference, n_candidate=n_candidate,
        k_reference=k_reference, k_candidate=k_candidate,
    ))]


check_count.check_id = "pseudo_labels.count"


def check_agreement(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge the ARI between both sides' pseudo-labels."""
    check_id = "pseudo_labels.agreement"
    result = label_agreement(
        context, mode=mode, stage="pseudo_labels", artifact="pseudo_labels", check_id=check_id
    )
    if result.status != "fail":
        return [result]
    details = result.details
    if details["n_labels_reference"] != details["n_labels_candidate"]:
        diagnosis = (
            f"the sides have {details['n_labels_reference']} and "
            f"{details['n_labels_candidate']} pseudo-labels (reference, candidate), so their "
            "partitions cannot agree (see pseudo_labels.count)"
        )
    elif mode == "chained" and not same_upstream(context, "image_embedding", "img_emb"):
        diagnosis = (
            "the image embedding differs upstream (see image_embedding.img_emb), so KMeans "
            "partitions other points"
        )
    else:
        reference = context.ref_or_none("pseudo_labels", "config")
        candidate = context.cand_or_none("pseudo_labels", "config", mode=mode)
        settings = ", ".join(
            f"{name} reference {_setting(reference, name)}, candidate {_setting(candidate, name)}"
            for name in ("random_state", "n_init")
        )
        diagnosis = (
            "KMeans on the same image embedding and with the same k gave different "
            f"partitions; check its seeding ({settings}; STAIG: random_state 0, n_init 10)"
        )
    return [with_diagnosis(result, diagnosis)]


check_agreement.check_id = "pseudo_labels.agreement"


def _explain_count(
    *, n_reference: int, n_candidate: int, k_reference: int | None, k_candidate: int | None
) -> str:
    if k_reference is not None and k_candidate is not None and k_reference == k_candidate:
        return (
            f"both sides configure k = {k_reference}, but the candidate's KMeans returned "
            f"{n_candidate} distinct pseudo-labels and the reference's {n_reference} "
            "(a cluster ended up empty)"
        )
    if k_reference is not None and k_candidate is not None:
        value_reference, value_candidate = k_reference, k_candidate
        sentence = (
            f"candidate uses k = {k_candidate} pseudo-label clusters, the reference "
            f"{k_reference}"
        )
    else:
        value_reference, value_candidate = n_reference, n_candidate
        sentence = (
            f"candidate has {n_candidate} distinct pseudo-labels, the reference {n_reference} "
            "(k is not recorded in both stage configs)"
        )
    if STAIG_FALLBACK_K in (value_candidate, value_reference):
        sentence += (
            f" (STAIG's fallback default {STAIG_FALLBACK_K} applies when the slice config "
            "lacks `k`)"
        )
    return sentence


def _configured_k(config: Any) -> int | None:
    value = lookup(config, "k", stage="pseudo_labels")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return None


def _or_unrecorded(value: int | None) -> str:
    return "not recorded" if value is None else str(value)


def _setting(config: Any, name: str) -> str:
    value = lookup(config, name, stage="pseudo_labels")
    return "not recorded" if value is None else format_value(value)


DIAGNOSES = [check_count, check_agreement]
