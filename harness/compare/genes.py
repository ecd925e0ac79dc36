"""Comparison of gene sets, such as the highly variable genes each side selected."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.compare._common import as_strings, duplicated_values, format_examples
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold

DEFAULT_MIN_JACCARD = 1.0
"""Documented default for the minimum Jaccard index: the same genes on both sides."""


def compare_gene_sets(
    reference: Any,
    candidate: Any,
    *,
    threshold: Threshold | None = None,
    check_id: str = "genes.set",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Judge the Jaccard index between two sets of gene names.

    Parameters
    ----------
    reference, candidate
        Shape ``(n_genes,)``: gene names, each at most once per side.
    threshold
        Bound on the Jaccard index, default ``Threshold(DEFAULT_MIN_JACCARD, "min")``.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"jaccard"``: common genes / genes on either side. ``details``: sizes,
        counts on one side only, and whether the common genes appear in the same
        order on both sides. Evidence rows ``{"key": gene, "side": "reference only" |
        "candidate only"}``, reference-only genes first. Duplicated genes on a side,
        or two empty sets, give status ``"error"``.

    Raises
    ------
    InputError
        When a side is not a 1-D array of strings.
    """
    threshold = threshold or Threshold(DEFAULT_MIN_JACCARD, "min")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    metric = "jaccard"
    first = as_strings(reference, name="reference genes")
    second = as_strings(candidate, name="candidate genes")

    for side, genes in (("reference", first), ("candidate", second)):
        duplicated = duplicated_values(genes)
        if duplicated.size:
            return CheckResult.errored(
                **labels, metric=metric, threshold=threshold,
                reason=(
                    f"{side} lists {duplicated.size} genes more than once "
                    f"({format_examples(duplicated)}); a gene set holds each gene once"
                ),
                details={"duplicated": duplicated[:MAX_EVIDENCE_ROWS].tolist()},
            )
    if first.size == 0 and second.size == 0:
        return CheckResult.errored(**labels, metric=metric, threshold=threshold,
                                   reason="nothing to compare: both gene sets are empty")

    only_first = first[np.isin(first, second, invert=True)]
    only_second = second[np.isin(second, first, invert=True)]
    common_in_first = first[np.isin(first, second)]
    common_in_second = second[np.isin(second, first)]
    n_common = int(common_in_first.size)
    n_union = int(first.size + second.size - n_common)
    jaccard = n_common / n_union

    evidence = [{"key": gene, "side": "reference only"} for gene in
                only_first[:MAX_EVIDENCE_ROWS].tolist()]
    evidence += [{"key": gene, "side": "candidate only"} for gene in
                 only_second[: max(0, MAX_EVIDENCE_ROWS - len(evidence))].tolist()]
    same_order = bool(np.array_equal(common_in_first, common_in_second))
    details = {
        "n_reference": int(first.size),
        "n_candidate": int(second.size),
        "n_common": n_common,
        "n_only_in_reference": int(only_first.size),
        "n_only_in_candidate": int(only_second.size),
        "common_in_same_order": same_order,
    }
    context = (
        f"{n_common} common of {first.size} reference and {second.size} candidate genes; "
        f"{only_first.size} only in reference, {only_second.size} only in candidate; "
        f"common genes in {'the same' if same_order else 'a different'} order"
    )
    return CheckResult.judged(
        **labels, metric=metric, observed=jaccard, threshold=threshold, context=context,
        evidence=evidence, n_offending=int(only_first.size + only_second.size),
        details=details,
    )
