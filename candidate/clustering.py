"""Domain clustering: R's mclust through rpy2, and the spatial majority-vote refinement.

The ``legacy`` profile reproduces a defect of the implementation it models:
when rpy2 or the mclust package cannot be imported it clusters with KMeans
instead and reports nothing about the switch (see :func:`cluster_legacy`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

from candidate.neighbors import nearest_neighbours
from harness.errors import InputError, MissingDependencyError

logger = logging.getLogger(__name__)

KMEANS_N_INIT = 10
"""KMeans restarts. scikit-learn 1.2, which STAIG pins, defaulted to 10, and 1.4+ defaults to 1."""


@dataclass(frozen=True)
class MclustStatus:
    """Whether R's mclust can be called, and why not.

    Attributes
    ----------
    available
        ``True`` when rpy2 imports and R loads the mclust package.
    reason
        Why it is unavailable, or ``None``.
    versions
        R, mclust and rpy2 versions when available.
    """

    available: bool
    reason: str | None = None
    versions: dict[str, str] | None = None


def mclust_status(*, simulate_absent: bool = False) -> MclustStatus:
    """Check whether rpy2 imports and R can load mclust.

    Parameters
    ----------
    simulate_absent
        Report mclust as unavailable without trying, as on a machine without R.
    """
    if simulate_absent:
        return MclustStatus(available=False, reason="R is treated as absent (option simulate_no_r)")
    try:
        import rpy2.robjects as robjects
        from rpy2.robjects.packages import importr

        importr("mclust")
        versions = {
            "r": str(robjects.r("R.version.string")[0]),
            "mclust": str(robjects.r('as.character(packageVersion("mclust"))')[0]),
            "rpy2": importlib.metadata.version("rpy2"),
        }
    except (ImportError, RuntimeError, OSError) as error:
        return MclustStatus(available=False, reason=f"{type(error).__name__}: {error}")
    return MclustStatus(available=True, versions=versions)


def run_mclust(embedding: np.ndarray, *, n_clusters: int, model: str, seed: int) -> np.ndarray:
    """Cluster with R's ``Mclust(embedding, G=n_clusters, modelNames=model)``.

    R's generator is seeded with ``set.seed(seed)`` first.

    Parameters
    ----------
    embedding
        Shape ``(n_obs, n_dims)``, float64.
    n_clusters
        Number of mixture components ``G``.
    model
        mclust covariance model, e.g. ``"EEE"``.
    seed
        Seed of R's random number generator.

    Returns
    -------
    Shape ``(n_obs,)``, int64, mclust's classification (1 to ``n_clusters``).

    Raises
    ------
    MissingDependencyError
        When rpy2 or mclust cannot be imported.
    InputError
        When mclust fits no model (it returns ``NULL``), e.g. for a singular embedding.
    """
    status = mclust_status()
    if not status.available:
        msg = f"mclust is not available ({status.reason}); install R and the mclust package"
        raise MissingDependencyError(msg)

    import rpy2.robjects as robjects
    from rpy2.rinterface import NULL
    from rpy2.robjects import numpy2ri
    from rpy2.robjects.conversion import localconverter
    from rpy2.robjects.packages import importr

    started = time.perf_counter()
    logger.info("mclust %s with G = %d on %d x %d started", model, n_clusters, *embedding.shape)
    mclust = importr("mclust")
    with localconverter(robjects.default_converter + numpy2ri.converter):
        matrix = robjects.conversion.get_conversion().py2rpy(
            np.ascontiguousarray(embedding, dtype=np.float64)
        )
    robjects.r["set.seed"](seed)
    # verbose=FALSE only hides the progress bar that an embedded R prints.
    result = mclust.Mclust(matrix, G=n_clusters, modelNames=model, verbose=False)
    if result is NULL:
        msg = (
            f"mclust fitted no {model} model with G = {n_clusters} to the {embedding.shape} "
            "embedding (Mclust returned NULL); check the embedding for constant or duplicate "
            "columns"
        )
        raise InputError(msg)
    classification = np.asarray(result.rx2("classification"))
    logger.info("mclust finished in %.1f s", time.perf_counter() - started)
    return classification.astype(np.int64)


def validate_embedding(embedding: np.ndarray, *, n_clusters: int) -> None:
    """Check that an embedding can be clustered into ``n_clusters`` domains.

    Raises
    ------
    InputError
        When the embedding is not 2-D, has no rows or no columns, has fewer rows
        than ``n_clusters``, or contains NaN or infinite values.
    """
    array = np.asarray(embedding)
    if array.ndim != 2:
        msg = f"the embedding must be 2-D (n_obs, n_dims); got shape {array.shape}"
        raise InputError(msg)
    n_obs, n_dims = array.shape
    if n_obs == 0 or n_dims == 0:
        msg = (
            f"the embedding has shape {array.shape}; clustering needs at least one spot and "
            "one dimension (check the training stage's output)"
        )
        raise InputError(msg)
    if n_obs < n_clusters:
        msg = f"the embedding has {n_obs} spots, fewer than the {n_clusters} clusters requested"
        raise InputError(msg)
    finite = np.isfinite(array)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        msg = (
            f"the embedding contains {int((~finite).sum())} NaN or infinite values in "
            f"{bad_rows.size} spots (first rows {bad_rows[:5].tolist()}); training diverged"
        )
        raise InputError(msg)


def cluster_strict(
    embedding: np.ndarray, *, n_clusters: int, model: str, seed: int, simulate_no_r: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """Validate the embedding, then cluster with mclust; never fall back.

    Returns
    -------
    labels
        Shape ``(n_obs,)``, int64, 1 to ``n_clusters``.
    backend
        Algorithm, model, seed and software versions.

    Raises
    ------
    InputError
        From :func:`validate_embedding`.
    MissingDependencyError
        When R or mclust cannot be imported (or ``simulate_no_r``).
    """
    validate_embedding(embedding, n_clusters=n_clusters)
    status = mclust_status(simulate_absent=simulate_no_r)
    if not status.available:
        msg = (
            f"clustering needs R with the mclust package, which is not available "
            f"({status.reason}); install R and mclust (R: install.packages('mclust')) and rpy2"
        )
        raise MissingDependencyError(msg)
    labels = run_mclust(embedding, n_clusters=n_clusters, model=model, seed=seed)
    backend = {
        "algorithm": "mclust",
        "model_names": model,
        "G": n_clusters,
        "r_seed": seed,
        "versions": status.versions,
    }
    return labels, backend


def cluster_legacy(
    embedding: np.ndarray, *, n_clusters: int, model: str, seed: int, simulate_no_r: bool
) -> np.ndarray:
    """Cluster with mclust when it imports, otherwise with KMeans, as the legacy code does.

    The KMeans labels are shifted to 1 to ``n_clusters`` like mclust's, so the
    output does not show which algorithm ran.

    Returns
    -------
    Shape ``(n_obs,)``, int64, 1 to ``n_clusters``.
    """
    status = mclust_status(simulate_absent=simulate_no_r)
    if status.available:
        return run_mclust(embedding, n_clusters=n_clusters, model=model, seed=seed)
    logger.debug("mclust unavailable (%s); the legacy profile clusters with KMeans", status.reason)
    kmeans = KMeans(n_clusters=n_clusters, random_state=seed, n_init=KMEANS_N_INIT)
    return kmeans.fit_predict(np.asarray(embedding, dtype=np.float64)).astype(np.int64) + 1


def refine_domains(domains: np.ndarray, spatial: np.ndarray, *, n_neighbours: int) -> np.ndarray:
    """Replace each spot's domain by the most frequent domain of its nearest spots.

    The spot's own domain is not counted. A tie goes to the domain that comes
    first when the neighbours are listed nearest first (equal distances by spot
    index), as in STAIG's ``refine_label``.

    Parameters
    ----------
    domains
        Shape ``(n_obs,)``, domain labels (any hashable dtype).
    spatial
        Shape ``(n_obs, 2)``, spot centres in full-resolution px.
    n_neighbours
        Spots that vote, STAIG: 15.

    Returns
    -------
    Shape ``(n_obs,)``, the refined labels, same dtype as ``domains``.
    """
    domains = np.asarray(domains)
    neighbours, _ = nearest_neighbours(spatial, k=n_neighbours)
    categories, codes = np.unique(domains, return_inverse=True)
    votes = codes[neighbours]
    n_obs, n_categories = len(domains), len(categories)

    counts = np.zeros((n_obs, n_categories), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n_obs), n_neighbours), votes.ravel()), 1)
    top = counts.max(axis=1)
    # For each neighbour slot, whether its domain reaches the top count; the first
    # such slot, nearest first, names the winner.
    reaches_top = np.take_along_axis(counts, votes, axis=1) == top[:, None]
    winner_slot = reaches_top.argmax(axis=1)
    return categories[votes[np.arange(n_obs), winner_slot]]
