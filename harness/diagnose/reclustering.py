"""Identification of the clustering algorithm behind a side's domains by re-clustering.

A side that does not record its clustering backend can still be checked:
cluster its own ``train/emb`` with R's mclust (STAIG's ``set.seed(2023)``,
``Mclust(emb, G, modelNames = "EEE")``) and with scikit-learn's KMeans, then
see which partition reproduces its domains. mclust runs through
:mod:`reference.mclust`, which raises :class:`MissingDependencyError` when R,
rpy2 or the mclust package is missing; this module never substitutes another
algorithm for mclust.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from harness.errors import InputError, MissingDependencyError

logger = logging.getLogger(__name__)

MCLUST_MODULE = "reference.mclust"
"""Module that runs R's mclust through rpy2 (explicit local numpy converter)."""

KMEANS_SEEDS: tuple[int, ...] = (0, 42, 2023)
"""KMeans ``random_state`` values tried (documented default): scikit-learn's usual 0 and
42, and 2023, STAIG's mclust seed, which an implementation may reuse for its fallback."""

KMEANS_N_INIT = 10
"""KMeans restarts: scikit-learn 1.2's default, the version STAIG pins."""

Backend = Literal["mclust", "kmeans"]


@dataclass(frozen=True)
class Reclustering:
    """Agreement of each algorithm's partition of an embedding with a labelling of it.

    Attributes
    ----------
    n_clusters
        Number of clusters used, the number of distinct labels of the labelling.
    mclust_ari
        ARI between the labelling and mclust's classification.
    kmeans_ari
        Highest ARI between the labelling and KMeans over :attr:`kmeans_seeds`.
    kmeans_ari_by_seed
        ARI per KMeans ``random_state``.
    min_ari
        ARI from which an algorithm counts as reproducing the labelling.
    mclust_settings
        ``G``, covariance model, R seed and software versions of the mclust fit.
    kmeans_n_init
        KMeans restarts per seed.
    """

    n_clusters: int
    mclust_ari: float
    kmeans_ari: float
    kmeans_ari_by_seed: dict[int, float]
    min_ari: float
    mclust_settings: dict[str, Any] = field(default_factory=dict)
    kmeans_n_init: int = KMEANS_N_INIT

    @property
    def reproducing(self) -> list[Backend]:
        """Algorithms whose ARI reaches :attr:`min_ari`, best first."""
        scores: list[tuple[float, Backend]] = [
            (self.mclust_ari, "mclust"), (self.kmeans_ari, "kmeans"),
        ]
        return [name for ari, name in sorted(scores, key=lambda item: -item[0])
                if ari >= self.min_ari]

    @property
    def determined(self) -> Backend | None:
        """The algorithm that produced the labelling, or ``None`` when neither reproduces it.

        mclust is named whenever it reproduces the labelling, even when KMeans does
        too: on well-separated clusters both give the same partition, and then the
        labelling is consistent with mclust.
        """
        if self.mclust_ari >= self.min_ari:
            return "mclust"
        if self.kmeans_ari >= self.min_ari:
            return "kmeans"
        return None

    def to_json(self) -> dict[str, Any]:
        """Return the comparison as a JSON-compatible dict."""
        data = asdict(self)
        data["kmeans_ari_by_seed"] = {str(seed): ari for seed, ari in
                                      self.kmeans_ari_by_seed.items()}
        data["determined"] = self.determined
        return data


def recluster(
    embedding: Any,
    labels: Any,
    *,
    min_ari: float,
    kmeans_seeds: Sequence[int] = KMEANS_SEEDS,
) -> Reclustering:
    """Cluster ``embedding`` with mclust and KMeans and compare both with ``labels``.

    Parameters
    ----------
    embedding
        Shape ``(n_obs, n_dims)``: the embedding the labels were computed from.
    labels
        Shape ``(n_obs,)``: the labelling to explain (any label type).
    min_ari
        ARI from which an algorithm counts as reproducing ``labels``.
    kmeans_seeds
        KMeans ``random_state`` values to try, default :data:`KMEANS_SEEDS`.

    Raises
    ------
    InputError
        When the shapes do not match, a label is missing, or the embedding
        cannot be clustered (see :func:`reference.mclust.validate_embedding`).
    MissingDependencyError
        When R, rpy2 or mclust is not available.
    """
    data = np.asarray(embedding)
    values = np.asarray(labels)
    if data.ndim != 2 or values.ndim != 1 or data.shape[0] != values.shape[0]:
        msg = (
            f"the embedding has shape {data.shape} and the labels {values.shape}; expected "
            "(n_obs, n_dims) and (n_obs,) for the same spots"
        )
        raise InputError(msg)
    if not kmeans_seeds:
        msg = "`kmeans_seeds` is empty; give at least one KMeans random_state"
        raise InputError(msg)
    n_clusters = int(np.unique(values.astype(str)).size)

    mclust = load_mclust()
    data = mclust.validate_embedding(data, n_clusters=n_clusters)
    start = time.perf_counter()
    logger.info("re-clustering %d x %d with mclust and KMeans, G=%d", *data.shape, n_clusters)
    fit = mclust.run_mclust(data, n_clusters=n_clusters)
    mclust_ari = float(adjusted_rand_score(values, fit.classification))
    by_seed = {
        int(seed): float(adjusted_rand_score(
            values,
            KMeans(n_clusters=n_clusters, random_state=int(seed), n_init=KMEANS_N_INIT)
            .fit_predict(data),
        ))
        for seed in kmeans_seeds
    }
    logger.info(
        "re-clustering finished in %.1f s: mclust ARI %.3f, KMeans ARI %.3f",
        time.perf_counter() - start, mclust_ari, max(by_seed.values()),
    )
    return Reclustering(
        n_clusters=n_clusters,
        mclust_ari=mclust_ari,
        kmeans_ari=max(by_seed.values()),
        kmeans_ari_by_seed=by_seed,
        min_ari=float(min_ari),
        mclust_settings={
            "G": fit.n_clusters, "model": fit.model_name, "seed": fit.seed,
            "r_version": fit.r_version, "mclust_version": fit.mclust_version,
            "rpy2_version": fit.rpy2_version,
        },
    )


def load_mclust() -> ModuleType:
    """Return the mclust bridge module; R itself starts on its first fit.

    Raises
    ------
    MissingDependencyError
        When the module cannot be imported.
    """
    try:
        return _import_module(MCLUST_MODULE)
    except ImportError as error:
        msg = (
            f"the harness runs mclust through {MCLUST_MODULE}, which cannot be imported "
            f"({error}); run from the project root or install the project"
        )
        raise MissingDependencyError(msg) from error


def _import_module(name: str) -> ModuleType:
    """Import ``name``. Tests replace this function to simulate a harness without R."""
    return importlib.import_module(name)
