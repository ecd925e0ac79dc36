"""Stage 4, image features: BYOL fine-tuning of a ResNet and the ``avgpool`` embedding.

STAIG fine-tunes an ImageNet ResNet-50 with BYOL on its filtered patches for
one epoch, then embeds every patch in spot order (2048 values). The ``quick``
preset uses a ResNet-18 (512 values) at 64 px and trains BYOL on a random
subset of 256 patches. The stage config lists every reduction.

Seeds: torch, numpy and Python's ``random`` are seeded with 42 (STAIG's
image-feature notebook) and restored afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import numpy as np
import torch

from harness.errors import InputError
from harness.implementation import StageContext
from reference.image.byol import (
    COLOR_JITTER,
    HIDDEN_LAYER,
    ROTATION_DEGREES,
    build_learner,
    embed_patches,
    seeded_run,
    train_byol,
)
from reference.image.encoders import ARCHITECTURES, build_encoder, count_parameters

logger = logging.getLogger(__name__)

BYOL_SEED = 42
"""Seed of torch, numpy and ``random`` for BYOL (STAIG's image-feature notebook)."""

MODEL_DTYPES = {"float64": torch.float64, "float32": torch.float32}
"""Model precisions; STAIG trains and embeds in float64, the default of ``params["image"]["dtype"]``."""

_IMAGE_KEYS = (
    "encoder",
    "encoder_input_size",
    "byol_epochs",
    "byol_batch_size",
    "byol_learning_rate",
    "byol_max_patches",
    "embed_batch_size",
)


def select_training_patches(n_spots: int, *, max_patches: int | None, seed: int) -> np.ndarray:
    """Return the sorted rows BYOL trains on: all, or ``max_patches`` drawn without replacement.

    The draw uses ``numpy.random.default_rng(seed)``, independent of the global state.

    Raises
    ------
    InputError
        When ``max_patches`` is below 2 (BYOL trains on batches of two or more).
    """
    if max_patches is not None and max_patches < 2:
        msg = f"Invalid byol_max_patches {max_patches!r}; expected None (all patches) or at least 2."
        raise InputError(msg)
    if max_patches is None or max_patches >= n_spots:
        return np.arange(n_spots, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_spots, size=max_patches, replace=False)).astype(np.int64)


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``features`` ``(n_spots, embedding_dim)`` float64, ``encoder`` and ``config``.

    Raises
    ------
    InputError
        When the filtered patches are not ``(n_spots, side, side, 3)`` uint8
        with at least two spots, a setting is out of range, or the weights
        file does not fit the encoder.
    MissingDependencyError
        When no weights file is given for the encoder and
        ``context.config.allow_random_init`` is false.
    """
    patches = inputs["patch_filter/filtered"]
    settings = {key: params["image"][key] for key in _IMAGE_KEYS}
    _check_patches(patches)
    _check_settings(settings)
    dtype_name = params["image"].get("dtype", "float64")
    if dtype_name not in MODEL_DTYPES:
        msg = f"Invalid image setting dtype={dtype_name!r}; expected one of {sorted(MODEL_DTYPES)}."
        raise InputError(msg)
    name = str(settings["encoder"])
    image_size = int(settings["encoder_input_size"])
    weights_path = context.config.weights.get(name)
    device = context.device

    started = time.perf_counter()
    n_spots = len(patches)
    train_rows = select_training_patches(
        n_spots, max_patches=settings["byol_max_patches"], seed=BYOL_SEED
    )
    logger.info(
        "Image features: %s at %d px on %s, BYOL on %d of %d patches",
        name, image_size, device, len(train_rows), n_spots,
    )
    with seeded_run(seed=BYOL_SEED, device=device) as determinism:
        encoder, weights_record = build_encoder(
            name, weights_path=weights_path, allow_random_init=context.config.allow_random_init
        )
        n_parameters = count_parameters(encoder)
        learner = build_learner(
            encoder, image_size=image_size, device=device, dtype=MODEL_DTYPES[dtype_name]
        )
        training = train_byol(
            learner,
            patches,
            train_rows,
            epochs=int(settings["byol_epochs"]),
            batch_size=int(settings["byol_batch_size"]),
            learning_rate=float(settings["byol_learning_rate"]),
            image_size=image_size,
            device=device,
        )
        features = embed_patches(
            learner, patches, image_size=image_size,
            batch_size=int(settings["embed_batch_size"]), device=device,
        )
    elapsed = time.perf_counter() - started
    logger.info(
        "Image features finished: %s, model in %s (%.1f s)", features.shape, dtype_name, elapsed
    )

    byol_settings = {
        "epochs": int(settings["byol_epochs"]),
        "batch_size": int(settings["byol_batch_size"]),
        "learning_rate": float(settings["byol_learning_rate"]),
        "optimizer": "Adam",
        "shuffle": "torch.randperm per epoch",
        "max_patches": settings["byol_max_patches"],
        "n_training_patches": int(len(train_rows)),
        "training_subset": (
            "all patches" if len(train_rows) == n_spots
            else f"{len(train_rows)} of {n_spots} drawn with numpy default_rng({BYOL_SEED})"
        ),
        "hidden_layer": HIDDEN_LAYER,
        "simplicial_embeddings": False,
        "augmentations": (
            f"ColorJitter{COLOR_JITTER} p 0.3, RandomGrayscale p 0.2, horizontal and vertical "
            f"flips, GaussianBlur 3x3 sigma (1, 2) p 0.2, RandomRotation {ROTATION_DEGREES}, "
            "RandomResizedCrop(input size), ImageNet Normalize"
        ),
        "steps": training.n_steps,
        "skipped_single_batches": training.skipped_single_batches,
        "losses": training.losses,
        "training_s": round(training.elapsed_s, 3),
    }
    encoder_record = {
        "requested": name,
        "architecture": f"torchvision.models.{name}",
        "parameter_count": n_parameters,
        **weights_record,
        "input_size": image_size,
        "normalisation_at_embedding": "none, [0,1] scaling",
        "resize": "PIL Image.resize(BILINEAR)",
        "embedding": f"{HIDDEN_LAYER} output, {ARCHITECTURES[name].embedding_dim} values",
        "dtype": dtype_name,
        "byol": byol_settings,
        "device": device,
        "packages": {
            "torch": version("torch"),
            "torchvision": version("torchvision"),
            "byol-pytorch": version("byol-pytorch"),
        },
    }
    reductions = params.get("reductions", {})
    config = {
        **settings,
        "seed": BYOL_SEED,
        "determinism": determinism,
        "dtype": dtype_name,
        "reductions": {
            key: value for key, value in reductions.items() if key in (*_IMAGE_KEYS, "dtype")
        },
    }
    return {"features": features, "encoder": encoder_record, "config": config}


def _check_patches(patches: Any) -> None:
    shape = tuple(getattr(patches, "shape", ()))
    dtype = getattr(patches, "dtype", None)
    valid = len(shape) == 4 and shape[1] == shape[2] and shape[3] == 3 and dtype == np.uint8
    if not valid or shape[0] < 2:
        msg = (
            f"Invalid filtered patches: shape {shape}, dtype {dtype}; expected uint8 of shape "
            "(n_spots, side, side, 3) with at least 2 spots (BYOL trains on batches of two or "
            "more). Rerun the patch_filter stage."
        )
        raise InputError(msg)


def _check_settings(settings: Mapping[str, Any]) -> None:
    minimums = {
        "byol_epochs": 0,
        "byol_batch_size": 2,  # batch normalisation in BYOL's projector needs two samples
        "encoder_input_size": 1,
        "embed_batch_size": 1,
    }
    for key, minimum in minimums.items():
        value = settings[key]
        if not isinstance(value, int) or value < minimum:
            msg = f"Invalid image setting {key}={value!r}; expected an integer >= {minimum}."
            raise InputError(msg)
