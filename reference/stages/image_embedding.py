"""Stage 5, image embedding: standardise the image features, then PCA to 16 components.

STAIG: ``StandardScaler().fit_transform`` followed by
``PCA(n_components=16, random_state=42).fit_transform`` (scikit-learn 1.2.2).
The solver is scikit-learn's ``"auto"`` choice. It resolves to the randomized
solver for a 3639 x 2048 or 3639 x 512 feature matrix, and the config records
the solver used.

NOTE: scikit-learn 1.9 fixes the sign of each component from the component
itself (``svd_flip(u_based_decision=False)``), while STAIG's 1.2.2 fixed it
from the scores, so a column of ``img_emb`` can have the opposite sign from
STAIG's. The later stages use distances on ``img_emb`` (edge probabilities,
KMeans), which a sign flip leaves unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from harness.errors import InputError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)

N_COMPONENTS = 16
"""Width of ``img_emb`` (STAIG's ``PCA(n_components=16)``)."""

PCA_RANDOM_STATE = 42
"""STAIG's ``PCA(random_state=42)``."""


def embed_features(features: ArrayLike) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Standardise ``(n_spots, n_features)`` features and project them on 16 principal components.

    Returns
    -------
    img_emb
        ``(n_spots, 16)`` float64.
    details
        The PCA solver actually used and the explained variance ratios.

    Raises
    ------
    InputError
        When the features are not a finite 2-D array with at least 16 rows and columns.
    """
    values = np.asarray(features, dtype=np.float64)
    if values.ndim != 2 or min(values.shape) < N_COMPONENTS:
        msg = (
            f"Invalid image features of shape {values.shape}; expected (n_spots, n_features) "
            f"with at least {N_COMPONENTS} spots and {N_COMPONENTS} features for a "
            f"{N_COMPONENTS}-component PCA."
        )
        raise InputError(msg)
    if not np.isfinite(values).all():
        n_bad = int((~np.isfinite(values)).any(axis=1).sum())
        msg = f"{n_bad} spots have NaN or infinite image features; rerun the image_features stage."
        raise InputError(msg)

    scaled = StandardScaler().fit_transform(values)
    pca = PCA(n_components=N_COMPONENTS, random_state=PCA_RANDOM_STATE)
    img_emb = pca.fit_transform(scaled)
    details = {
        "svd_solver": pca._fit_svd_solver,  # the solver "auto" resolved to
        "explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
    }
    return np.asarray(img_emb, dtype=np.float64), details


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``img_emb`` ``(n_spots, 16)`` float64 and ``config``."""
    features = inputs["image_features/features"]
    started = time.perf_counter()
    img_emb, details = embed_features(features)
    logger.info(
        "Image embedding: %s -> %s with the %s PCA solver (%.2f s)",
        tuple(np.shape(features)), img_emb.shape, details["svd_solver"], time.perf_counter() - started,
    )
    config = {
        "scaler": "StandardScaler()",
        "n_components": N_COMPONENTS,
        "random_state": PCA_RANDOM_STATE,
        "svd_solver": f"auto (resolved to {details['svd_solver']})",
        "explained_variance_ratio": details["explained_variance_ratio"],
        "scikit_learn": sklearn.__version__,
    }
    return {"img_emb": img_emb, "config": config}
