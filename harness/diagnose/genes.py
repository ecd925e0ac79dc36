"""Named checks of the ``genes`` stage: the highly variable genes and the feature matrix.

When the sides differ, the reference's preprocessing is rerun on its own
``load/counts`` under alternative hypotheses (:mod:`harness.diagnose.gene_hypotheses`),
and the hypothesis that reproduces the candidate names the difference.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from harness.compare.genes import compare_gene_sets
from harness.compare.numeric import compare_arrays
from harness.compare.result import CheckResult
from harness.diagnose.gene_hypotheses import HypothesisInputs, HypothesisReport, evaluate_hypotheses
from harness.diff.context import DiffContext, Mode
from harness.errors import InputError

STAGE = "genes"


def check_hvg(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the two HVG sets by Jaccard index and explain a difference.

    Metric ``jaccard``; evidence rows name the genes found on one side only.
    """
    labels = {"check_id": "genes.hvg", "stage": STAGE, "artifact": "hvg"}
    reference, candidate = context.pair(STAGE, "hvg", mode=mode)
    result = compare_gene_sets(
        reference, candidate, threshold=context.threshold("genes.hvg", "jaccard"), **labels
    )
    if result.status != "fail":
        return [result]
    return [_with_hypotheses(result, context, mode, artifact="hvg")]


check_hvg.check_id = "genes.hvg"


def check_matrix(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare ``feat`` element-wise over the genes both sides selected.

    Columns are matched by gene name and rows by barcode. Metric
    ``fraction_differing`` (``numpy.isclose`` with rtol 1e-5, atol 1e-8).
    """
    labels = {"check_id": "genes.matrix", "stage": STAGE, "artifact": "feat"}
    threshold = context.threshold("genes.matrix", "fraction_differing")
    reference_hvg, candidate_hvg = context.pair(STAGE, "hvg", mode=mode)
    reference_feat, candidate_feat = context.pair(STAGE, "feat", mode=mode)
    reference_hvg = np.asarray(reference_hvg).astype(str)
    candidate_hvg = np.asarray(candidate_hvg).astype(str)
    common, reference_columns, candidate_columns = np.intersect1d(
        reference_hvg, candidate_hvg, return_indices=True
    )
    if common.size == 0:
        return [
            CheckResult.errored(
                **labels,
                metric="fraction_differing",
                threshold=threshold,
                reason=(
                    f"the sides select no common gene ({reference_hvg.size} reference, "
                    f"{candidate_hvg.size} candidate HVGs), so their matrices cannot be compared"
                ),
            )
        ]
    # Keep the reference's column order for the evidence.
    order = np.argsort(reference_columns, kind="stable")
    reference_columns = reference_columns[order]
    candidate_columns = candidate_columns[order]
    result = compare_arrays(
        np.asarray(reference_feat)[:, reference_columns],
        np.asarray(candidate_feat)[:, candidate_columns],
        threshold=threshold,
        keys=context.barcodes,
        **labels,
    )
    details = {
        **result.details,
        "n_common_genes": int(common.size),
        "n_reference_genes": int(reference_hvg.size),
        "n_candidate_genes": int(candidate_hvg.size),
        "columns": "common genes, in reference order; 'column' in the evidence indexes them",
    }
    result = dataclasses.replace(result, details=details)
    if result.status != "fail":
        return [result]
    return [_with_hypotheses(result, context, mode, artifact="feat")]


check_matrix.check_id = "genes.matrix"


def _with_hypotheses(
    result: CheckResult, context: DiffContext, mode: Mode, *, artifact: str
) -> CheckResult:
    """Attach the hypothesis diagnosis, or the reason the hypotheses could not run."""
    load = context.reference.get("load")
    if load is None or not {"counts", "genes", "barcodes"} <= set(load.artifacts):
        return dataclasses.replace(
            result,
            diagnosis=(
                "the reference's load/counts or load/genes is not stored, so no hypothesis was "
                "tested"
            ),
        )
    try:
        report = hypotheses_for(context, mode)
    except InputError as error:
        # The comparison result is kept; only its explanation is unavailable.
        return dataclasses.replace(result, diagnosis=f"the gene hypotheses could not run: {error}")
    details = {**result.details, "hypotheses": report.to_json()}
    diagnosis = report.diagnosis(artifact="hvg" if artifact == "hvg" else "feat")
    reference_hvg, candidate_hvg = context.pair(STAGE, "hvg", mode=mode)
    if len(reference_hvg) != len(candidate_hvg):
        diagnosis = (
            f"the candidate selects {len(candidate_hvg)} genes, the reference "
            f"{len(reference_hvg)}; {diagnosis}"
        )
    return dataclasses.replace(result, diagnosis=diagnosis, details=details)


def hypotheses_for(context: DiffContext, mode: Mode) -> HypothesisReport:
    """Return the hypothesis report for the candidate's genes stage (cached by content digests).

    The hypotheses run on the reference's ``load/counts`` and ``load/genes``;
    rows are matched to the candidate's by barcode.
    """
    candidate_records = context.isolated if mode == "isolated" else context.candidate
    reference_load = context.reference["load"].artifacts
    reference_genes = context.reference[STAGE].artifacts
    candidate_genes = candidate_records[STAGE].artifacts
    digests = (
        reference_load["counts"].sha256,
        reference_load["genes"].sha256,
        reference_load["barcodes"].sha256,
        context.candidate["load"].artifacts["barcodes"].sha256,
        candidate_genes["hvg"].sha256,
        candidate_genes["feat"].sha256,
        reference_genes["hvg"].sha256 if "hvg" in reference_genes else "",
        reference_genes["feat"].sha256 if "feat" in reference_genes else "",
    )

    def load() -> dict[str, Any]:
        alignment = context.alignment
        return {
            "counts": context.ref("load", "counts"),
            "genes": context.ref("load", "genes"),
            "candidate_hvg": context.cand(STAGE, "hvg", mode=mode),
            "candidate_feat": context.cand(STAGE, "feat", mode=mode),
            "rows": alignment.reference_index,
            "candidate_rows": alignment.candidate_index,
            "reference_hvg": context.ref_or_none(STAGE, "hvg"),
            "reference_feat": context.ref_or_none(STAGE, "feat"),
        }

    return evaluate_hypotheses(HypothesisInputs(digests=digests, load=load))


DIAGNOSES = [check_hvg, check_matrix]
