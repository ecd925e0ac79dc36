"""Stage ``image_features``: embed every filtered patch with the chosen encoder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from candidate.config import StaigFusionConfig
from candidate.encoders.embed import build_encoder, embed_patches
from candidate.encoders.selection import choose_encoder
from harness.implementation import StageContext


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Build the encoder (weights from a local file, or random when allowed) and embed the patches.

    Returns
    -------
    dict
        ``features`` (N, D) float32, ``encoder`` (requested and actual model,
        parameter count, weights digest or ``"random init"``, input size,
        normalisation, device) and ``config``.

    Raises
    ------
    MissingDependencyError
        When the encoder has no weights file and random initialisation is not allowed.
    """
    settings = config.encoder
    choice = choose_encoder(
        settings.requested, profile=config.profile, quick_stand_in=settings.quick_stand_in
    )
    model, record = build_encoder(
        choice, weights=context.config.weights, allow_random_init=context.config.allow_random_init
    )
    patches = inputs["patch_filter/filtered"]
    features = embed_patches(
        model,
        np.asarray(patches),
        spec=choice.spec,
        device=context.device,
        batch_size=settings.batch_size,
    )
    record.update(
        {
            "input_size": choice.spec.input_px,
            "patch_size": int(patches.shape[1]),
            "resize": "torch bilinear, antialias"
            if patches.shape[1] != choice.spec.input_px
            else "none",
            "normalisation": {
                "mean": list(choice.spec.mean),
                "std": list(choice.spec.std),
                "name": "imagenet",
            },
            "device": context.device,
            "feature_dim": int(features.shape[1]),
        }
    )
    stage_config: dict[str, Any] = {**config.header(), **settings.to_dict()}
    if choice.stand_in_for is not None:
        stage_config["reductions"] = {
            "encoder": {"configured": choice.stand_in_for, "used": choice.spec.name},
        }
    return {"features": features, "encoder": record, "config": stage_config}
