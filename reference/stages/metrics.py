"""Stage 13, metrics: agreement of the domains with the ground-truth layers.

ARI and NMI from scikit-learn (``adjusted_rand_score``,
``normalized_mutual_info_score`` with its default arithmetic normalisation),
as STAIG reports them, for the refined domains and for the domains before
refinement. Spots without a ground-truth label are left out and counted.

Every input is in ``load/barcodes`` order (``cluster``, ``refine`` and
``load`` keep the spot order of ``load``), so the stage pairs them by
position after checking that all have one entry per barcode.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import sklearn
from numpy.typing import ArrayLike
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from harness.errors import InputError, LabelJoinError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)

# Label strings that mean "no ground truth", compared after stripping blanks and
# lower-casing. R writes NA, and numpy turns a missing NaN or None into "nan" or "None".
MISSING_LABELS = frozenset({"", "na", "nan", "none"})


def missing_label_mask(labels: ArrayLike) -> np.ndarray:
    """Return a bool mask ``(n_spots,)`` of labels that mean "not annotated"."""
    text = np.char.lower(np.char.strip(np.asarray(labels).astype(str)))
    return np.isin(text, list(MISSING_LABELS))


def score_domains(
    refined: ArrayLike, domains: ArrayLike, labels: ArrayLike, *, n_barcodes: int
) -> dict[str, Any]:
    """Compute ARI and NMI of refined and unrefined domains against the ground truth.

    Parameters
    ----------
    refined
        ``(n_spots,)`` domains after refinement (``refine/refined``).
    domains
        ``(n_spots,)`` domains before refinement (``cluster/domains``).
    labels
        ``(n_spots,)`` ground-truth layers (``load/labels``); entries in
        :data:`MISSING_LABELS` are left out.
    n_barcodes
        Length of ``load/barcodes``; every other input must have this length.

    Returns
    -------
    dict
        ``ari``, ``nmi`` (refined), ``ari_unrefined``, ``nmi_unrefined``,
        ``n_spots_scored``, ``n_spots_unlabelled``, ``n_domains`` (distinct
        refined domains on the scored spots), ``n_truth_labels`` (distinct
        ground-truth layers on the scored spots).

    Raises
    ------
    LabelJoinError
        When an input does not have one entry per barcode.
    InputError
        When no spot has a ground-truth label.
    """
    arrays = {
        "refine/refined": np.asarray(refined).astype(str),
        "cluster/domains": np.asarray(domains).astype(str),
        "load/labels": np.asarray(labels).astype(str),
    }
    for name, values in arrays.items():
        if values.shape != (n_barcodes,):
            msg = (
                f"{name} has shape {values.shape}, but load/barcodes lists {n_barcodes} spots; "
                "every stage must keep load's spot order and count, rerun the stages after load"
            )
            raise LabelJoinError(msg)

    missing = missing_label_mask(arrays["load/labels"])
    scored = ~missing
    if not scored.any():
        msg = (
            f"none of the {n_barcodes} spots has a ground-truth label; metrics need "
            "ground truth, so provide truth.txt (barcode, layer) with the slice"
        )
        raise InputError(msg)

    truth = arrays["load/labels"][scored]
    after = arrays["refine/refined"][scored]
    before = arrays["cluster/domains"][scored]
    return {
        "ari": float(adjusted_rand_score(truth, after)),
        "nmi": float(normalized_mutual_info_score(truth, after)),
        "ari_unrefined": float(adjusted_rand_score(truth, before)),
        "nmi_unrefined": float(normalized_mutual_info_score(truth, before)),
        "n_spots_scored": int(scored.sum()),
        "n_spots_unlabelled": int(missing.sum()),
        "n_domains": int(np.unique(after).size),
        "n_truth_labels": int(np.unique(truth).size),
    }


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``scores`` and ``config`` of the metrics stage."""
    labels = inputs.get("load/labels")
    if labels is None:
        msg = (
            "metrics need ground-truth labels, but load wrote no load/labels; add truth.txt "
            "(barcode TAB layer) to the slice folder, or run only up to the refine stage"
        )
        raise InputError(msg)
    barcodes = np.asarray(inputs["load/barcodes"])

    scores = score_domains(
        inputs["refine/refined"], inputs["cluster/domains"], labels, n_barcodes=barcodes.shape[0]
    )
    logger.info(
        "ARI %.4f, NMI %.4f (before refinement: ARI %.4f, NMI %.4f) on %d spots",
        scores["ari"],
        scores["nmi"],
        scores["ari_unrefined"],
        scores["nmi_unrefined"],
        scores["n_spots_scored"],
    )

    config = {
        "ari": "sklearn.metrics.adjusted_rand_score",
        "nmi": "sklearn.metrics.normalized_mutual_info_score, average_method arithmetic",
        "missing_labels": sorted(MISSING_LABELS),
        "pairing": "by position; all inputs are in load/barcodes order",
        "sklearn_version": sklearn.__version__,
        "slice_config": params["slice_config"],
        "preset": params["preset"],
        "reductions": {},
    }
    return {"scores": scores, "config": config}
