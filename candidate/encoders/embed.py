"""Build the chosen encoder and embed patches in batches."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from candidate.encoders.registry import EncoderSpec, count_parameters
from candidate.encoders.selection import EncoderChoice
from candidate.encoders.weights import load_weights
from harness.errors import MissingDependencyError

logger = logging.getLogger(__name__)

RANDOM_INIT_SEED = 0
"""torch seed of a randomly initialised encoder, so that its weights repeat across runs."""


def build_encoder(
    choice: EncoderChoice,
    *,
    weights: Mapping[str, str],
    allow_random_init: bool,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build the encoder of ``choice`` and load its weights.

    Parameters
    ----------
    choice
        The encoder to build.
    weights
        Encoder name to local weights file; the built encoder's name is looked up.
    allow_random_init
        Keep timm's random initialisation when no weights file is given.

    Returns
    -------
    model
        The encoder in eval mode on the CPU.
    record
        The ``encoder`` artifact without the device and input fields.

    Raises
    ------
    MissingDependencyError
        When no weights file is given and random initialisation is not allowed.
    """
    spec = choice.spec
    path = weights.get(spec.name)
    if path is None and not allow_random_init:
        msg = (
            f"no weights for image encoder {spec.name!r}; pass --weights {spec.name}=PATH "
            "(a local state dict; nothing is downloaded) or --allow-random-init for tests"
        )
        raise MissingDependencyError(msg)

    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = spec.build()
    if path is None:
        weights_record: Any = "random init"
    else:
        digest = load_weights(model, Path(path), encoder=spec.name)
        weights_record = {"path": str(Path(path).resolve()), "sha256": digest}
    model.eval()
    logger.info(
        "built encoder %s (%s) in %.1f s", spec.name, spec.timm_name, time.perf_counter() - started
    )

    record: dict[str, Any] = {
        "requested": choice.requested,
        "actual": spec.name,
        "architecture": spec.description,
        "timm_model": spec.timm_name,
        "timm_kwargs": spec.recorded_kwargs(),
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "param_count": count_parameters(model),
        "weights": weights_record,
        "allow_random_init": allow_random_init,
    }
    if path is None:
        record["random_init_seed"] = RANDOM_INIT_SEED
    if choice.stand_in_for is not None:
        record["stand_in_for"] = choice.stand_in_for
    unused = {name: value for name, value in weights.items() if name != spec.name}
    if unused:
        record["weights_not_used"] = dict(unused)
    return model, record


def embed_patches(
    model: torch.nn.Module,
    patches: np.ndarray,
    *,
    spec: EncoderSpec,
    device: str,
    batch_size: int,
) -> np.ndarray:
    """Embed RGB patches in batches.

    Each batch is scaled to [0, 1], resized to the encoder's input side with
    torch's antialiased bilinear interpolation when its side differs, and
    normalised with the encoder's mean and std.

    Parameters
    ----------
    model
        The encoder; moved to ``device``.
    patches
        Shape ``(n_obs, side, side, 3)``, uint8 (a memory map is fine).
    spec
        The encoder's spec (input side, normalisation).
    device
        ``"cpu"`` or ``"cuda"``.
    batch_size
        Patches per forward pass.

    Returns
    -------
    Shape ``(n_obs, n_features)``, float32.
    """
    started = time.perf_counter()
    model = model.to(device)
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    outputs: list[np.ndarray] = []
    n_obs = patches.shape[0]
    with torch.inference_mode():
        for start in range(0, n_obs, batch_size):
            # A copy: the patches are often a read-only memory map.
            batch = torch.from_numpy(np.array(patches[start : start + batch_size]))
            images = batch.to(device).permute(0, 3, 1, 2).to(torch.float32) / 255.0
            if images.shape[-1] != spec.input_px or images.shape[-2] != spec.input_px:
                images = functional.interpolate(
                    images,
                    size=(spec.input_px, spec.input_px),
                    mode="bilinear",
                    align_corners=False,
                    antialias=True,
                )
            features = model((images - mean) / std)
            outputs.append(features.float().cpu().numpy())
    logger.info(
        "embedded %d patches with %s on %s in %.1f s",
        n_obs,
        spec.name,
        device,
        time.perf_counter() - started,
    )
    return np.concatenate(outputs, axis=0)
