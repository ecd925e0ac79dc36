"""Gaussian mixture clustering with R's mclust package, called through rpy2.

STAIG clusters its embedding with ``set.seed(2023)`` followed by
``Mclust(emb, G, modelNames = "EEE")`` (``mclust_R`` in ``staig/utils.py``).
This module does the same with explicit rpy2 conversions: a local
numpy-to-R converter instead of the global ``numpy2ri.activate()``, and a
check on the R side that the matrix arrived with the expected dimensions.
The embedding is validated before R is started. When R, rpy2 or mclust is
missing, :func:`run_mclust` raises :class:`MissingDependencyError` and never
falls back to another algorithm.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from harness.errors import InputError, MissingDependencyError

logger = logging.getLogger(__name__)

MCLUST_SEED = 2023
"""Seed passed to R's ``set.seed`` before fitting: STAIG's ``mclust_R`` default ``random_seed``."""

DEFAULT_MODEL = "EEE"
"""mclust covariance model STAIG uses: ellipsoidal, equal volume, shape and orientation."""

R_PACKAGE = "mclust"
"""R package that provides ``Mclust``."""

R_INSTALL_HINT = "apt-get install --no-install-recommends r-base-core r-cran-mclust"
RPY2_INSTALL_HINT = "pip install 'rpy2<3.6'"

_FIT_FUNCTION = """
function(x, n_obs, n_dims, n_clusters, model_name, seed) {
    if (!is.matrix(x) || nrow(x) != n_obs || ncol(x) != n_dims) {
        return(list(ok = FALSE, dim = as.integer(c(NROW(x), NCOL(x))), is_matrix = is.matrix(x)))
    }
    set.seed(seed)
    fit <- mclust::Mclust(x, G = n_clusters, modelNames = model_name, verbose = FALSE)
    if (is.null(fit)) {
        return(list(ok = TRUE, fitted = FALSE))
    }
    list(
        ok = TRUE,
        fitted = TRUE,
        classification = as.integer(unname(fit$classification)),
        G = as.integer(fit$G),
        model_name = as.character(fit$modelName),
        loglik = as.numeric(fit$loglik),
        bic = as.numeric(fit$bic)
    )
}
"""


@dataclass(frozen=True)
class MclustFit:
    """Result of one Mclust fit.

    Attributes
    ----------
    classification
        ``(n_obs,)`` int64 component of each row, in ``1..n_clusters``.
    n_clusters
        Number of mixture components fitted (``G``).
    model_name
        mclust covariance model, e.g. ``"EEE"``.
    seed
        Seed given to R's ``set.seed``.
    loglik
        Log-likelihood of the fit.
    bic
        BIC of the fit (mclust's sign convention: larger is better).
    r_version, mclust_version, rpy2_version
        Software versions, e.g. ``"4.2.2"``, ``"6.0.0"``, ``"3.5.17"``.
    """

    classification: np.ndarray
    n_clusters: int
    model_name: str
    seed: int
    loglik: float
    bic: float
    r_version: str
    mclust_version: str
    rpy2_version: str


@dataclass(frozen=True)
class _RSession:
    robjects: ModuleType
    converter: Any
    r_error: type[Exception]
    r_version: str
    mclust_version: str
    rpy2_version: str


def validate_embedding(emb: Any, *, n_clusters: int) -> np.ndarray:
    """Check an embedding before it is sent to R and return it as float64, C-contiguous.

    Parameters
    ----------
    emb
        ``(n_obs, n_dims)`` real matrix.
    n_clusters
        Number of mixture components requested.

    Raises
    ------
    InputError
        When ``emb`` is not 2-D, is empty, is not real-valued, has NaN or
        infinite entries, has fewer rows than ``n_clusters``, or has a
        constant column (the common EEE covariance would be singular and
        Mclust returns no fit), or when ``n_clusters < 1``.
    """
    array = np.asarray(emb)
    if n_clusters < 1:
        msg = f"num_clusters must be at least 1, got {n_clusters}"
        raise InputError(msg)
    if array.ndim != 2:
        msg = f"the embedding must be a 2-D (n_obs, n_dims) matrix, got shape {array.shape}"
        raise InputError(msg)
    n_obs, n_dims = array.shape
    if n_obs == 0 or n_dims == 0:
        msg = f"the embedding is empty: shape {array.shape}; it needs at least one row and column"
        raise InputError(msg)
    if array.dtype.kind not in "iuf":
        msg = f"the embedding must be real numbers, got dtype {array.dtype} (shape {array.shape})"
        raise InputError(msg)
    array = np.ascontiguousarray(array, dtype=np.float64)
    n_nan = int(np.isnan(array).sum())
    n_inf = int(np.isinf(array).sum())
    if n_nan or n_inf:
        rows = int((~np.isfinite(array)).any(axis=1).sum())
        msg = (
            f"the embedding of shape {array.shape} has {n_nan} NaN and {n_inf} infinite "
            f"entries in {rows} rows; mclust needs finite values"
        )
        raise InputError(msg)
    if n_obs < n_clusters:
        msg = (
            f"the embedding has {n_obs} rows but {n_clusters} clusters were requested; "
            "use num_clusters <= the number of spots"
        )
        raise InputError(msg)
    constant = np.flatnonzero(np.ptp(array, axis=0) == 0)
    if constant.size:
        msg = (
            f"the embedding of shape {array.shape} has {constant.size} constant columns "
            f"(first: {constant[:10].tolist()}); the {DEFAULT_MODEL} covariance would be "
            "singular. Check the training output"
        )
        raise InputError(msg)
    return array


def run_mclust(
    emb: Any,
    *,
    n_clusters: int,
    model_name: str = DEFAULT_MODEL,
    seed: int = MCLUST_SEED,
) -> MclustFit:
    """Cluster the rows of ``emb`` with ``set.seed(seed); Mclust(emb, G, modelNames)``.

    Parameters
    ----------
    emb
        ``(n_obs, n_dims)`` embedding, e.g. ``train/emb``.
    n_clusters
        Number of components ``G`` (STAIG's ``num_clusters``: 7 for slice 151673).
    model_name
        mclust covariance model, default :data:`DEFAULT_MODEL`.
    seed
        R seed, default :data:`MCLUST_SEED`. mclust draws a random subset of
        rows for its hierarchical initialisation when there are more rows
        than ``mclust.options("subset")``, so the seed matters.

    Raises
    ------
    InputError
        When the embedding is invalid (checked before R starts, see
        :func:`validate_embedding`), or Mclust fails or returns no fit.
    MissingDependencyError
        When rpy2, R or the mclust package is not available.
    """
    data = validate_embedding(emb, n_clusters=n_clusters)
    session = _load_r()
    n_obs, n_dims = data.shape

    logger.info(
        "mclust start: %d x %d embedding, G=%d, model %s, seed %d",
        n_obs, n_dims, n_clusters, model_name, seed,
    )
    start = time.perf_counter()
    result = _call_r_fit(session, data, n_clusters=n_clusters, model_name=model_name, seed=seed)
    if not result["fitted"]:
        msg = (
            f"Mclust returned no fit (NULL) for the {n_obs} x {n_dims} embedding with "
            f"G={n_clusters}, model {model_name}: every fit failed, typically because the "
            "covariance is singular (fewer rows than dimensions, or collinear columns)"
        )
        raise InputError(msg)
    classification = result["classification"]
    if classification.shape != (n_obs,):
        msg = f"Mclust returned {classification.shape[0]} labels for {n_obs} rows"
        raise RuntimeError(msg)
    logger.info("mclust finished in %.1f s", time.perf_counter() - start)
    return MclustFit(
        classification=classification,
        n_clusters=result["G"],
        model_name=result["model_name"],
        seed=seed,
        loglik=result["loglik"],
        bic=result["bic"],
        r_version=session.r_version,
        mclust_version=session.mclust_version,
        rpy2_version=session.rpy2_version,
    )


def _import_module(name: str) -> ModuleType:
    """Import ``name``. Tests replace this function to simulate a machine without rpy2 or R."""
    return importlib.import_module(name)


def _load_r() -> _RSession:
    """Start R through rpy2 and load mclust, or raise MissingDependencyError naming what is missing."""
    try:
        rpy2 = _import_module("rpy2")
    except ImportError as error:
        msg = (
            f"the Python package rpy2 is not installed ({error}). The cluster stage runs R's "
            f"mclust through it. Install it with {RPY2_INSTALL_HINT} and R with {R_INSTALL_HINT}"
        )
        raise MissingDependencyError(msg) from error
    try:
        robjects = _import_module("rpy2.robjects")
        numpy2ri = _import_module("rpy2.robjects.numpy2ri")
        embedded = _import_module("rpy2.rinterface_lib.embedded")
    except (ImportError, OSError, RuntimeError, ValueError) as error:
        msg = (
            f"R could not be started through rpy2 {rpy2.__version__}: {error}. Install R and "
            f"mclust with {R_INSTALL_HINT}, or set R_HOME to an existing R installation"
        )
        raise MissingDependencyError(msg) from error

    r = robjects.r
    has_package = bool(r["requireNamespace"](R_PACKAGE, quietly=True)[0])
    r_version = f"{r('R.version$major')[0]}.{r('R.version$minor')[0]}"
    if not has_package:
        msg = (
            f"the R package {R_PACKAGE!r} is not installed in R {r_version} "
            f"({r('R.home()')[0]}); install it with "
            f"apt-get install --no-install-recommends r-cran-{R_PACKAGE.lower()}, or in R with "
            f"install.packages('{R_PACKAGE}')"
        )
        raise MissingDependencyError(msg)
    r(f"suppressPackageStartupMessages(library({R_PACKAGE}))")
    package_version = r(f"as.character(packageVersion('{R_PACKAGE}'))")[0]
    return _RSession(
        robjects=robjects,
        converter=robjects.default_converter + numpy2ri.converter,
        r_error=embedded.RRuntimeError,
        r_version=r_version,
        mclust_version=str(package_version),
        rpy2_version=rpy2.__version__,
    )


def _call_r_fit(
    session: _RSession, data: np.ndarray, *, n_clusters: int, model_name: str, seed: int
) -> dict[str, Any]:
    """Send ``data`` to R, check its dimensions there, and fit Mclust."""
    n_obs, n_dims = data.shape
    r = session.robjects.r
    fit_function = r(_FIT_FUNCTION)
    with session.converter.context() as converter:
        r_data = converter.py2rpy(data)
        try:
            result = fit_function(r_data, n_obs, n_dims, n_clusters, model_name, seed)
        except session.r_error as error:
            msg = (
                f"Mclust failed on the {n_obs} x {n_dims} embedding with G={n_clusters}, "
                f"model {model_name}: {str(error).strip()}"
            )
            raise InputError(msg) from error
        fields = dict(result.items())
        if not bool(fields["ok"][0]):
            dims = [int(value) for value in fields["dim"]]
            msg = (
                f"the matrix reached R with dimensions {dims} (is.matrix: "
                f"{bool(fields['is_matrix'][0])}) instead of [{n_obs}, {n_dims}]; "
                "the rpy2 numpy conversion lost the dim attribute"
            )
            raise RuntimeError(msg)
        if not bool(fields["fitted"][0]):
            return {"fitted": False}
        return {
            "fitted": True,
            "classification": np.asarray(fields["classification"], dtype=np.int64),
            "G": int(fields["G"][0]),
            "model_name": str(fields["model_name"][0]),
            "loglik": float(fields["loglik"][0]),
            "bic": float(fields["bic"][0]),
        }
