"""Named check of the ``image_embedding`` stage: the scaled, PCA-reduced image features."""

from __future__ import annotations

import dataclasses
import math

from harness.compare.representation import compare_cka
from harness.compare.result import CheckResult
from harness.diagnose.image_features import features_cka
from harness.diff.context import DiffContext, Mode

STAGE = "image_embedding"


def check_img_emb(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare ``img_emb`` by linear CKA over spots aligned by barcode.

    The diagnosis of a failing result tells whether the image features the
    stage read already differ (chained mode) or the scaling and PCA themselves differ.
    """
    labels = {"check_id": "image_embedding.img_emb", "stage": STAGE, "artifact": "img_emb"}
    reference, candidate = context.pair(STAGE, "img_emb", mode=mode)
    result = compare_cka(
        reference,
        candidate,
        threshold=context.threshold("image_embedding.img_emb", "cka"),
        **labels,
    )
    if result.status != "fail":
        return [result]

    if mode == "isolated" or not context.has_artifact("image_features", "features"):
        diagnosis = (
            "the image embeddings differ although both sides read the same image features: "
            "the standardisation or the PCA (components, random state, solver) differs"
            if mode == "isolated"
            else "the image embeddings differ; the image features are not available to tell "
            "whether they differ already"
        )
        return [dataclasses.replace(result, diagnosis=diagnosis)]

    upstream = features_cka(context, mode).rejudge(
        context.threshold("image_features.features", "cka")
    )
    value = upstream.observed
    if upstream.status == "pass":
        diagnosis = (
            f"the image features agree (CKA {value:.3f}) but the embeddings do not: the "
            "standardisation or the PCA (components, random state, solver) differs"
        )
    elif isinstance(value, float) and math.isfinite(value):
        diagnosis = (
            f"the image features already differ (CKA {value:.3f}, see image_features.features), "
            "and the embedding inherits that"
        )
    else:
        diagnosis = f"the image features could not be compared ({upstream.context})"
    details = {**result.details, "features_cka": value}
    return [dataclasses.replace(result, diagnosis=diagnosis, details=details)]


check_img_emb.check_id = "image_embedding.img_emb"

DIAGNOSES = [check_img_emb]
