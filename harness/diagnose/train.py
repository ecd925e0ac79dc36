"""Check of the ``train`` stage: the learned spot embedding, and the loss curves behind it.

Training draws random numbers, so two correct runs agree only as
representations. The check judges linear CKA (agreement up to rotation and
isotropic scale) and the mean overlap of each spot's 15 nearest neighbours,
each against its own threshold. Both thresholds are documented defaults until
a calibration measures the reference's seed-to-seed spread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.compare.representation import DEFAULT_K, compare_cka, compare_knn_overlap
from harness.compare.result import CheckResult, format_pair
from harness.diagnose._support import aligned_pair, as_metric, with_diagnosis
from harness.diff.context import DiffContext, Mode

CHECK_ID = "train.embedding"


def check_embedding(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge the CKA and kNN overlap of the two embeddings; name the loss curves.

    The result carries metric ``cka``; a failing kNN overlap fails it as a forced
    failure. NOTE: re-judging a saved report can therefore change the CKA bound
    only, because the kNN bound is applied when the check runs.
    """
    labels = {"check_id": CHECK_ID, "stage": "train", "artifact": "emb"}
    reference, candidate = aligned_pair(context, "train", "emb", mode=mode)
    cka = as_metric(compare_cka(
        reference, candidate, threshold=context.threshold(CHECK_ID, "cka"), **labels
    ), "cka")
    losses = describe_losses(
        context.ref_or_none("train", "loss"), context.cand_or_none("train", "loss", mode=mode)
    )
    if cka.status == "error":
        return [with_diagnosis(cka, losses["sentence"])]
    overlap = compare_knn_overlap(
        reference, candidate, k=DEFAULT_K, threshold=context.threshold(CHECK_ID, "knn_overlap"),
        keys=context.barcodes, **labels,
    )

    forced = [cka.forced_failure] if cka.forced_failure else []
    if overlap.status == "fail":
        forced.append(_failed_text("mean kNN overlap", overlap))
    details = {
        **cka.details,
        "knn_overlap": {
            "status": overlap.status,
            "observed": overlap.observed,
            "threshold": None if overlap.threshold is None else overlap.threshold.to_json(),
            "description": overlap.description,
            **{key: overlap.details[key] for key in
               ("k", "median_overlap", "min_overlap", "fraction_full_overlap")
               if key in overlap.details},
        },
        "loss": {key: value for key, value in losses.items() if key != "sentence"},
    }
    result = CheckResult.judged(
        **labels, metric="cka", observed=cka.observed, threshold=cka.threshold,
        context="; ".join(
            part for part in (cka.context, _measure_text("mean kNN overlap", overlap)) if part
        ),
        forced_failure=", and ".join(forced),
        evidence=overlap.evidence, n_offending=overlap.n_offending, details=details,
    )
    return [with_diagnosis(result, _explain(result, cka, overlap, losses["sentence"]))]


check_embedding.check_id = CHECK_ID


def describe_losses(reference: Any, candidate: Any) -> dict[str, Any]:
    """Summarise both loss curves: epochs, final loss, first non-finite epoch, and a sentence.

    Parameters
    ----------
    reference, candidate
        Shape ``(n_epochs,)``: the loss per epoch of each side, or ``None`` when
        the side did not store one.
    """
    summary: dict[str, Any] = {}
    parts = []
    for side, values in (("reference", reference), ("candidate", candidate)):
        if values is None:
            summary[side] = None
            parts.append(f"{side} stored no loss")
            continue
        loss = np.asarray(values, dtype=np.float64).reshape(-1)
        finite = np.isfinite(loss)
        first_bad = int(np.argmin(finite)) + 1 if not finite.all() else None
        final = float(loss[-1]) if loss.size else None
        summary[side] = {"epochs": int(loss.size), "final_loss": final,
                         "first_nonfinite_epoch": first_bad}
        text = f"{side} {loss.size} epochs, final loss {_number(final)}"
        if first_bad is not None:
            text += f" (non-finite from epoch {first_bad})"
        parts.append(text)
    sentence = "loss curves: " + "; ".join(parts)
    epochs = [summary[side]["epochs"] for side in ("reference", "candidate") if summary[side]]
    if len(epochs) == 2 and epochs[0] != epochs[1]:
        sentence += (
            f"; the candidate trained {epochs[1]} epochs, the reference {epochs[0]} (num_epochs)"
        )
    summary["sentence"] = sentence
    return summary


def _explain(result: CheckResult, cka: CheckResult, overlap: CheckResult, losses: str) -> str:
    measures = [_measure_text("CKA", cka)]
    if overlap.status in ("pass", "fail"):
        measures.append(_measure_text("kNN overlap", overlap))
    else:
        measures.append(f"kNN overlap not measured ({overlap.context})")
    joined = ", ".join(measures)
    if result.status == "pass":
        return f"the embeddings agree as representations ({joined}); {losses}"
    return f"the embeddings differ beyond the thresholds ({joined}); {losses}"


def _measure_text(name: str, result: CheckResult) -> str:
    observed = result.observed
    threshold = result.threshold
    if threshold is None or not isinstance(observed, int | float):
        return f"{name} not measured"
    value, bound = format_pair(float(observed), threshold.value)
    relation = ">=" if threshold.accepts(float(observed)) else "<"
    return f"{name} {value} {relation} {bound}, {threshold.source} threshold"


def _failed_text(name: str, result: CheckResult) -> str:
    threshold = result.threshold
    observed = result.observed
    if threshold is None or not isinstance(observed, int | float):
        return f"{name} failed"
    value, bound = format_pair(float(observed), threshold.value)
    return f"{name} {value} < {bound} ({threshold.source} threshold)"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


DIAGNOSES = [check_embedding]
