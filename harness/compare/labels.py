"""Comparison of per-spot label vectors (domains, pseudo-labels).

Label names are arbitrary on each side (cluster 3 on one side may be cluster 5
on the other), so agreement is measured with the adjusted Rand index, which
ignores naming, and summarised with the contingency table of label pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from harness.compare._common import key_of, row_keys
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold
from harness.errors import InputError

DEFAULT_MIN_ARI = 1.0
"""Documented default for the minimum ARI: identical partitions. Stages that draw random
numbers (clustering) need a calibrated bound instead."""

DEFAULT_TOP_PAIRS = 10
"""Number of most frequent (reference label, candidate label) pairs listed in details."""


def compare_labels(
    reference: Any,
    candidate: Any,
    *,
    threshold: Threshold | None = None,
    keys: Any = None,
    top_pairs: int = DEFAULT_TOP_PAIRS,
    check_id: str = "labels.ari",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Judge the adjusted Rand index between two labelings of the same spots.

    Parameters
    ----------
    reference, candidate
        Shape ``(n_obs,)``: one label per spot (strings or integers), rows aligned by
        barcode.
    threshold
        Bound on the ARI, default ``Threshold(DEFAULT_MIN_ARI, "min")``.
    keys
        Shape ``(n_obs,)``: barcodes for the evidence; row indices when ``None``.
    top_pairs
        Label pairs listed in ``details["top_pairs"]``, default :data:`DEFAULT_TOP_PAIRS`.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"ari"`` (scikit-learn ``adjusted_rand_score``). ``details``: number of
        distinct labels per side, NMI, the most frequent label pairs, and the
        majority mapping (each reference label to the candidate label most of its
        spots received). Evidence: spots whose candidate label differs from the
        majority mapping of their reference label. Missing labels (None, NaN) fail
        whatever the threshold; a length mismatch gives status ``"error"``.

    Raises
    ------
    InputError
        For ``top_pairs < 0`` or ``keys`` of the wrong length.
    """
    threshold = threshold or Threshold(DEFAULT_MIN_ARI, "min")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    metric = "ari"
    if top_pairs < 0:
        msg = f"`top_pairs` is {top_pairs}; expected an integer >= 0"
        raise InputError(msg)

    first = np.asarray(reference)
    second = np.asarray(candidate)
    if first.ndim != 1 or second.ndim != 1 or first.shape != second.shape or first.size == 0:
        return CheckResult.errored(
            **labels, metric=metric, threshold=threshold,
            reason=(
                f"label vectors have shapes reference {first.shape}, candidate "
                f"{second.shape}; expected the same non-zero length (n_obs,)"
            ),
        )
    n_obs = first.size
    labels_of_rows = row_keys(keys, n_rows=n_obs)

    missing_first = pd.isna(first)
    missing_second = pd.isna(second)
    present = ~(missing_first | missing_second)
    forced_failure = ""
    if not present.all():
        forced_failure = (
            f"labels missing at {int(missing_first.sum())} reference and "
            f"{int(missing_second.sum())} candidate spots"
        )
    if not present.any():
        return CheckResult.errored(**labels, metric=metric, threshold=threshold,
                                   reason=f"no spot has a label on both sides; {forced_failure}")

    codes_first, names_first = pd.factorize(first[present])
    codes_second, names_second = pd.factorize(second[present])
    ari = float(adjusted_rand_score(codes_first, codes_second))
    nmi = float(normalized_mutual_info_score(codes_first, codes_second))
    pairs, majority = _contingency(codes_first, codes_second, n_second=names_second.size)

    expected = majority[codes_first]
    disagree = np.flatnonzero(present)[codes_second != expected]
    missing = np.flatnonzero(~present)
    offending = np.concatenate([missing, disagree])
    evidence = [
        _label_row(labels_of_rows, index, first, second, expected_label=None)
        for index in missing[:MAX_EVIDENCE_ROWS]
    ]
    position_in_present = np.cumsum(present) - 1
    evidence += [
        _label_row(labels_of_rows, index, first, second,
                   expected_label=names_second[expected[position_in_present[index]]])
        for index in disagree[: max(0, MAX_EVIDENCE_ROWS - len(evidence))]
    ]

    details = {
        "n_obs": n_obs,
        "n_labels_reference": int(names_first.size),
        "n_labels_candidate": int(names_second.size),
        "nmi": nmi,
        "n_missing_reference": int(missing_first.sum()),
        "n_missing_candidate": int(missing_second.sum()),
        "n_disagree_with_majority": int(disagree.size),
        "top_pairs": [
            {"reference": _plain_label(names_first[a]),
             "candidate": _plain_label(names_second[b]), "count": int(count)}
            for a, b, count in pairs[:top_pairs]
        ],
        "majority_mapping": {
            str(_plain_label(names_first[index])): _plain_label(names_second[target])
            for index, target in enumerate(majority)
        },
    }
    context = (
        f"{n_obs} spots; {names_first.size} reference and {names_second.size} candidate "
        f"labels; NMI {nmi:.4g}; {disagree.size} spots disagree with the majority mapping"
    )
    return CheckResult.judged(
        **labels, metric=metric, observed=ari, threshold=threshold, context=context,
        forced_failure=forced_failure, evidence=evidence, n_offending=int(offending.size),
        details=details,
    )


def _contingency(
    codes_first: np.ndarray, codes_second: np.ndarray, *, n_second: int
) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """Return label pairs by count (most frequent first) and each first label's majority.

    Ties in the majority go to the candidate label that appears first.
    """
    pair_ids, counts = np.unique(
        codes_first.astype(np.int64) * n_second + codes_second, return_counts=True
    )
    firsts = pair_ids // n_second
    seconds = pair_ids % n_second
    order = np.lexsort((seconds, firsts, -counts))
    pairs = [(int(firsts[i]), int(seconds[i]), int(counts[i])) for i in order]

    # Sorted by first label, then by count (descending): each group's leader is its majority.
    by_first = np.lexsort((seconds, -counts, firsts))
    first_sorted = firsts[by_first]
    leaders = by_first[np.r_[True, first_sorted[1:] != first_sorted[:-1]]]
    majority = np.empty(int(firsts.max()) + 1, dtype=np.int64)
    majority[firsts[leaders]] = seconds[leaders]
    return pairs, majority


def _label_row(
    keys: np.ndarray | None,
    index: int,
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    expected_label: Any,
) -> dict[str, Any]:
    row = {
        "key": key_of(keys, index),
        "reference": _plain_label(reference[index]),
        "candidate": _plain_label(candidate[index]),
    }
    if expected_label is not None:
        row["majority_candidate_label"] = _plain_label(expected_label)
    return row


def _plain_label(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
