"""Stage 9, pseudo-labels: KMeans clusters of the image embedding.

STAIG runs scikit-learn's ``KMeans(n_clusters=k, random_state=0)`` on
``img_emb`` with ``k = 80`` from its 151673 config. STAIG pins scikit-learn
1.2.2, whose ``n_init`` default resolved to 10 (later versions default to 1
or "auto"), so the reference passes ``n_init=10`` explicitly. The algorithm
is Lloyd's, the default in both versions.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from harness.errors import InputError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)

# STAIG's KMeans seed (random_state=0 in its pseudo-label helper).
KMEANS_RANDOM_STATE = 0
# scikit-learn 1.2.2's default n_init, which STAIG relied on.
KMEANS_N_INIT = 10


def kmeans_pseudo_labels(
    img_emb: ArrayLike,
    *,
    n_clusters: int,
    random_state: int = KMEANS_RANDOM_STATE,
    n_init: int = KMEANS_N_INIT,
) -> tuple[NDArray[np.int64], dict[str, Any]]:
    """Cluster the image embedding with KMeans.

    Parameters
    ----------
    img_emb
        ``(n_spots, n_dims)`` image embedding; must be finite.
    n_clusters
        Number of clusters (STAIG's config key ``k``; 80 for DLPFC 151673).
    random_state
        KMeans seed; default 0 as in STAIG.
    n_init
        KMeans restarts; default 10, scikit-learn 1.2.2's default.

    Returns
    -------
    labels
        ``(n_spots,)`` int64 cluster index per spot, in ``0 .. n_clusters - 1``.
    info
        Inertia, iterations, the number of distinct labels found, and any
        convergence warning scikit-learn raised.

    Raises
    ------
    InputError
        When there are fewer spots than clusters or the embedding is not a
        finite 2-D array.
    """
    embedding = np.asarray(img_emb)
    if embedding.ndim != 2 or embedding.shape[1] == 0 or embedding.dtype.kind not in "fiu":
        msg = (
            "img_emb must be a numeric (n_spots, n_dims) array; "
            f"got shape {embedding.shape}, dtype {embedding.dtype}"
        )
        raise InputError(msg)
    embedding = embedding.astype(np.float64, copy=False)
    if not np.isfinite(embedding).all():
        msg = "img_emb contains NaN or infinite values; recompute the image embedding"
        raise InputError(msg)
    n_spots = embedding.shape[0]
    if n_clusters < 1:
        msg = f"the number of KMeans pseudo-label clusters k must be at least 1; got {n_clusters}"
        raise InputError(msg)
    if n_spots < n_clusters:
        msg = (
            f"KMeans pseudo-labels need at least k={n_clusters} spots, got {n_spots}; "
            "lower the slice config's 'k' or use a larger slice"
        )
        raise InputError(msg)

    model = KMeans(n_clusters=n_clusters, random_state=random_state, n_init=n_init)
    # Record scikit-learn's ConvergenceWarning (fewer distinct points than clusters)
    # for the stage config; any other warning is emitted again unchanged.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(embedding)
    convergence = [
        str(item.message) for item in caught if issubclass(item.category, ConvergenceWarning)
    ]
    for message in convergence:
        logger.warning("KMeans pseudo-labels: %s", message)
    for item in caught:
        if not issubclass(item.category, ConvergenceWarning):
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)

    labels = model.labels_.astype(np.int64)
    info = {
        "inertia": float(model.inertia_),
        "n_iter": int(model.n_iter_),
        "n_labels_found": int(np.unique(labels).size),
        "convergence_warnings": convergence,
    }
    return labels, info


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``pseudo_labels`` and ``config`` of the pseudo-label stage."""
    n_clusters = int(params["hyper"]["k"])
    img_emb = inputs["image_embedding/img_emb"]

    start = time.perf_counter()
    logger.info("KMeans with k=%d on an image embedding of shape %s", n_clusters, np.shape(img_emb))
    labels, info = kmeans_pseudo_labels(img_emb, n_clusters=n_clusters)
    logger.info(
        "pseudo-labels: %d distinct labels (%.2f s)",
        info["n_labels_found"],
        time.perf_counter() - start,
    )

    config = {
        "k": n_clusters,
        "algorithm": "sklearn.cluster.KMeans, lloyd",
        "random_state": KMEANS_RANDOM_STATE,
        "n_init": KMEANS_N_INIT,
        "sklearn_version": sklearn.__version__,
        **info,
        "slice_config": params["slice_config"],
        "preset": params["preset"],
        "reductions": {},
    }
    return {"pseudo_labels": labels, "config": config}
