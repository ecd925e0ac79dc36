"""Checks of the ``cluster`` stage: the clustering backend and the domains it produced.

The reference records ``{"algorithm": "mclust", ...}`` in ``cluster/backend``.
A candidate whose record names no algorithm gets its backend determined by
the harness: its own ``train/emb`` is clustered again with mclust and with
KMeans, and the algorithm that reproduces its domains is recorded in the
check's details (see :mod:`harness.diagnose.reclustering`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.compare.result import CheckResult, Threshold
from harness.diagnose._support import (
    format_score,
    format_value,
    label_agreement,
    with_diagnosis,
)
from harness.diagnose.reclustering import Reclustering, recluster
from harness.diff.context import DiffContext, Mode
from harness.errors import InputError, MissingDependencyError

BACKEND_CHECK = "cluster.backend"
DOMAINS_CHECK = "cluster.domains"

BACKEND_FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "model": ("model", "model_name", "model_names", "modelNames", "mclust_model"),
    "G": ("G", "n_clusters", "num_clusters"),
    "seed": ("seed", "r_seed", "random_seed", "random_state"),
}
"""Backend record fields compared besides ``algorithm``, with their spellings."""


def check_backend(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge whether the candidate clustered with the reference's algorithm."""
    labels = {"check_id": BACKEND_CHECK, "stage": "cluster", "artifact": "backend"}
    threshold = context.threshold(BACKEND_CHECK, "differing_fields")
    reference = context.ref_or_none("cluster", "backend")
    candidate = context.cand_or_none("cluster", "backend", mode=mode)
    if not isinstance(reference, Mapping) or "algorithm" not in reference:
        return [CheckResult.errored(
            **labels, metric="differing_fields", threshold=threshold,
            reason="the reference's cluster/backend names no algorithm to compare with",
        )]
    reference_algorithm = normalise_algorithm(reference["algorithm"])
    if isinstance(candidate, Mapping) and "algorithm" in candidate:
        return [_compare_recorded(reference, candidate, threshold=threshold, labels=labels)]
    return [_determine_backend(
        context, mode=mode, reference_algorithm=reference_algorithm, threshold=threshold,
        labels=labels,
    )]


check_backend.check_id = BACKEND_CHECK


def check_domains(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge the ARI between both sides' domains."""
    result = label_agreement(
        context, mode=mode, stage="cluster", artifact="domains", check_id=DOMAINS_CHECK
    )
    if result.status != "fail":
        return [result]
    details = result.details
    sentences = [
        f"the sides' domains have ARI {format_score(result.observed)} "
        f"({details['n_labels_reference']} "
        f"reference and {details['n_labels_candidate']} candidate domains)"
    ]
    reference = context.ref_or_none("cluster", "backend")
    candidate = context.cand_or_none("cluster", "backend", mode=mode)
    if isinstance(reference, Mapping) and "algorithm" in reference:
        if not (isinstance(candidate, Mapping) and "algorithm" in candidate):
            sentences.append(
                "the candidate's backend record names no algorithm, see cluster.backend for the "
                "algorithm its domains come from"
            )
        elif normalise_algorithm(candidate["algorithm"]) != normalise_algorithm(
            reference["algorithm"]
        ):
            sentences.append(
                f"the candidate clustered with {candidate['algorithm']}, the reference with "
                f"{reference['algorithm']}"
            )
    if mode == "chained":
        sentences.append("clustering is stochastic and its input is judged by train.embedding")
    return [with_diagnosis(result, "; ".join(sentences))]


check_domains.check_id = DOMAINS_CHECK


def normalise_algorithm(name: Any) -> str:
    """Return ``"mclust"``, ``"kmeans"`` or the lower-cased name without punctuation.

    Examples
    --------
    >>> normalise_algorithm("sklearn.cluster.KMeans")
    'kmeans'
    """
    text = re.sub(r"[^a-z0-9]", "", str(name).lower())
    for known in ("mclust", "kmeans"):
        if known in text:
            return known
    return text


def _compare_recorded(
    reference: Mapping[str, Any],
    candidate: Mapping[str, Any],
    *,
    threshold: Threshold,
    labels: dict[str, str],
) -> CheckResult:
    """Compare the algorithm and the settings both backend records contain."""
    rows = []
    reference_algorithm = normalise_algorithm(reference["algorithm"])
    candidate_algorithm = normalise_algorithm(candidate["algorithm"])
    if reference_algorithm != candidate_algorithm:
        rows.append({"key": "algorithm", "reference": reference["algorithm"],
                     "candidate": candidate["algorithm"]})

    compared = ["algorithm"]
    # Settings of different algorithms are not comparable.
    shared_settings = BACKEND_FIELD_ALIASES if not rows else {}
    for name, spellings in shared_settings.items():
        first = _field(reference, spellings)
        second = _field(candidate, spellings)
        if first is None or second is None:
            continue
        compared.append(name)
        if first != second:
            rows.append({"key": name, "reference": first, "candidate": second})

    result = CheckResult.judged(
        **labels, metric="differing_fields", observed=len(rows), threshold=threshold,
        context=f"{len(rows)} of {len(compared)} recorded fields differ ({', '.join(compared)})",
        evidence=rows,
        details={"backend": {"reference": reference_algorithm, "candidate": candidate_algorithm,
                             "candidate_source": "recorded by the candidate"},
                 "compared_fields": compared},
    )
    if not rows:
        return result

    sentences = []
    if reference_algorithm != candidate_algorithm:
        sentences.append(
            f"the candidate clustered with {candidate['algorithm']}, the reference with "
            f"{reference['algorithm']} (as each side records in cluster/backend)"
        )
    sentences.extend(
        f"{row['key']}: reference {format_value(row['reference'])}, candidate "
        f"{format_value(row['candidate'])}"
        for row in rows if row["key"] != "algorithm"
    )
    return with_diagnosis(result, "; ".join(sentences))


def _determine_backend(
    context: DiffContext,
    *,
    mode: Mode,
    reference_algorithm: str,
    threshold: Threshold,
    labels: dict[str, str],
) -> CheckResult:
    """Re-cluster the candidate's embedding to find the algorithm behind its domains."""
    metric = "differing_fields"
    domains = np.asarray(context.cand("cluster", "domains", mode=mode))
    # Fed the reference's inputs, the isolated candidate clustered the reference's embedding.
    if mode == "isolated":
        embedding = context.ref_or_none("train", "emb")
    else:
        embedding = context.cand_or_none("train", "emb")
    if embedding is None:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=(
                "the candidate's cluster/backend names no algorithm and its train/emb is not "
                "stored, so the harness cannot determine which algorithm produced its domains"
            ),
        )
    min_ari = context.threshold(BACKEND_CHECK, "reproduction_ari").value
    try:
        found = recluster(np.asarray(embedding), domains, min_ari=min_ari)
    except MissingDependencyError as error:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=(
                "the candidate's cluster/backend names no algorithm, and the harness cannot "
                f"run mclust to find the algorithm behind its domains: {error}"
            ),
            details={"backend": {"reference": reference_algorithm, "candidate": None,
                                 "candidate_source": "not determined: mclust unavailable"}},
        )
    except InputError as error:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=f"the candidate's embedding cannot be clustered again: {error}",
        )

    determined = found.determined
    result = CheckResult.judged(
        **labels, metric=metric, observed=int(determined != reference_algorithm),
        threshold=threshold,
        context=(
            f"backend determined by the harness: {determined or 'undetermined'}; mclust ARI "
            f"{found.mclust_ari:.4g}, KMeans ARI {found.kmeans_ari:.4g} against the "
            f"candidate's {found.n_clusters} domains"
        ),
        details={
            "backend": {
                "reference": reference_algorithm,
                "candidate": determined,
                "candidate_source": "determined by the harness from the candidate's train/emb",
            },
            "reclustering": found.to_json(),
        },
    )
    return with_diagnosis(result, _explain_determined(found, reference_algorithm))


def _explain_determined(found: Reclustering, reference_algorithm: str) -> str:
    mclust = f"mclust (ARI {format_score(found.mclust_ari)})"
    kmeans = f"KMeans (ARI {format_score(found.kmeans_ari)})"
    determined = found.determined
    if determined is None:
        return (
            f"neither {mclust} nor {kmeans} reproduces the candidate's domains from its own "
            "train/emb, and its backend record names no algorithm: the algorithm behind its "
            "domains is unknown"
        )
    if determined == "kmeans":
        sentence = f"the candidate's domains match {kmeans}, not {mclust}"
        if reference_algorithm != "kmeans":
            sentence += (
                ": the candidate fell back to KMeans silently (its backend record names no "
                "algorithm)"
            )
        return sentence
    sentence = (
        f"the candidate's backend record names no algorithm; its domains match {mclust}"
    )
    if found.kmeans_ari >= found.min_ari:
        sentence += f", and {kmeans} gives the same partition on this embedding"
    if reference_algorithm == "mclust":
        sentence += ", the reference's algorithm"
    return sentence


def _field(record: Mapping[str, Any], spellings: tuple[str, ...]) -> Any:
    for spelling in spellings:
        if spelling in record:
            return record[spelling]
    return None


DIAGNOSES = [check_backend, check_domains]
