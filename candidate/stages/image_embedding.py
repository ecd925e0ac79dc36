"""Stage ``image_embedding``: standardise the image features, then PCA to 16 components."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from candidate.config import StaigFusionConfig
from harness.errors import InputError
from harness.implementation import StageContext


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Scale every feature to zero mean and unit variance and project on the leading components.

    Returns
    -------
    dict
        ``img_emb`` (N, 16) float64 and ``config``.

    Raises
    ------
    InputError
        When there are fewer spots or features than PCA components.
    """
    features = np.asarray(inputs["image_features/features"])
    n_components = config.pca_components
    if min(features.shape) < n_components:
        msg = (
            f"PCA to {n_components} components needs at least {n_components} spots and "
            f"features; the image features have shape {features.shape}"
        )
        raise InputError(msg)
    scaled = StandardScaler().fit_transform(features.astype(np.float64))
    pca = PCA(n_components=n_components, random_state=config.pca_seed)
    img_emb = pca.fit_transform(scaled)
    return {
        "img_emb": img_emb,
        "config": {
            **config.header(),
            "scaler": "StandardScaler",
            "pca_components": n_components,
            "pca_random_state": config.pca_seed,
            "explained_variance_ratio": float(pca.explained_variance_ratio_.sum()),
        },
    }
