"""BYOL fine-tuning of the image encoder and the patch embedding, as in STAIG.

STAIG trains the encoder with the ``byol-pytorch`` package (it pins 0.6.0):
hidden layer ``avgpool``, projection 256, projection hidden 4096, moving
average decay 0.99 (the package defaults), Adam, shuffled batches, float64.
The augmentations are STAIG's own list, applied to each batch twice, once
per view. ``nn.Sequential`` of torchvision transforms draws one set of
random parameters per call, so all patches of a view share them. The embedding of a patch is the online network's
``avgpool`` output for the patch resized and scaled to [0, 1], without the
ImageNet normalisation that the augmentations end with; STAIG does the same.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torchvision.transforms as T
from byol_pytorch import BYOL
from numpy.typing import NDArray
from torch import nn

from reference.image.encoders import patches_to_tensor
from reference.model.trainer import seeded_deterministic

logger = logging.getLogger(__name__)

HIDDEN_LAYER = "avgpool"
"""Layer whose output is the representation (STAIG's ``hidden_layer``)."""

# ImageNet channel statistics used by torchvision's pretrained models.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# STAIG's augmentation parameters.
COLOR_JITTER = (0.8, 0.8, 0.8, 0.2)  # brightness, contrast, saturation, hue
COLOR_JITTER_P = 0.3
GRAYSCALE_P = 0.2
BLUR_KERNEL = (3, 3)
BLUR_SIGMA = (1.0, 2.0)
BLUR_P = 0.2
ROTATION_DEGREES = (0.0, 360.0)


@contextlib.contextmanager
def seeded_run(*, seed: int, device: str) -> Iterator[dict[str, Any]]:
    """Seed torch, numpy and ``random`` and turn on deterministic algorithms, then restore.

    On CUDA the deterministic mode only warns: the backward pass of ResNet's
    ``AdaptiveAvgPool2d`` has no deterministic CUDA implementation, and
    PyTorch raises for it in strict mode. CUDA runs also set
    ``CUBLAS_WORKSPACE_CONFIG`` (left set, because cuBLAS reads it when a
    handle is created) and cuDNN's deterministic mode.

    NOTE: the CUDA path has not been run by the tests, which use the CPU.

    Yields
    ------
    The settings in force, for the stage config.
    """
    warn_only = device == "cuda"
    with seeded_deterministic(seed=seed, python_seed=seed, device=device, warn_only=warn_only) as settings:
        yield {key: value for key, value in settings.items() if key != "random_draws"}


def staig_augmentations(image_size: int) -> nn.Sequential:
    """Return STAIG's BYOL augmentations for ``(batch, 3, image_size, image_size)`` tensors in [0, 1].

    In order: colour jitter (0.8, 0.8, 0.8, 0.2) with p 0.3, grayscale with
    p 0.2, horizontal and vertical flips with p 0.5, and Gaussian blur 3 x 3
    with sigma in [1, 2] and p 0.2. Then rotation by 0-360 degrees, a random
    resized crop to ``image_size`` and ImageNet normalisation.
    """
    return nn.Sequential(
        T.RandomApply([T.ColorJitter(*COLOR_JITTER)], p=COLOR_JITTER_P),
        T.RandomGrayscale(p=GRAYSCALE_P),
        T.RandomHorizontalFlip(),
        T.RandomVerticalFlip(),
        T.RandomApply([T.GaussianBlur(BLUR_KERNEL, BLUR_SIGMA)], p=BLUR_P),
        T.RandomRotation(degrees=ROTATION_DEGREES),
        T.RandomResizedCrop((image_size, image_size)),
        T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    )


class StaigBYOL(BYOL):
    """BYOL with the training step of byol-pytorch 0.6.0, the version STAIG pins.

    byol-pytorch 0.9.1 passes the two augmented views through the online and
    target networks as one batch, so batch normalisation pools both views.
    0.6.0 passes each view on its own: batch statistics come from one view,
    and the running statistics are updated twice per step. This class keeps
    the 0.6.0 step and inherits everything else (networks, EMA, embedding).
    """

    def forward(
        self, x: torch.Tensor, *, return_embedding: bool = False, return_projection: bool = True
    ) -> Any:
        """Return the symmetric BYOL loss of batch ``x``, or its embedding with ``return_embedding``.

        With ``return_embedding``, the result is ``(projection, representation)``
        as in :meth:`BYOL.forward`; the representation is the ``avgpool`` output.
        """
        if return_embedding:
            return self.online_encoder(x, return_projection=return_projection)

        view_one, view_two = self.augment1(x), self.augment2(x)
        online_one = self.online_predictor(self.online_encoder(view_one)[0])
        online_two = self.online_predictor(self.online_encoder(view_two)[0])
        with torch.no_grad():
            target_encoder = self._get_target_encoder()
            target_one = target_encoder(view_one)[0].detach()
            target_two = target_encoder(view_two)[0].detach()
        loss = _cosine_distance(online_one, target_two) + _cosine_distance(online_two, target_one)
        return loss.mean()


def _cosine_distance(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return ``2 - 2 cos(prediction, target)`` per row, BYOL's regression loss."""
    prediction = torch.nn.functional.normalize(prediction, dim=-1, p=2)
    target = torch.nn.functional.normalize(target, dim=-1, p=2)
    return 2 - 2 * (prediction * target).sum(dim=-1)


def build_learner(
    encoder: nn.Module, *, image_size: int, device: str, dtype: torch.dtype = torch.float64
) -> StaigBYOL:
    """Wrap ``encoder`` in BYOL with STAIG's settings, in ``dtype`` (default float64) on ``device``.

    BYOL runs one float32 forward pass on random input while it is built (to
    create its projector), so the conversion to ``dtype`` happens afterwards.
    That pass also updates the encoder's batch-norm running statistics, as it
    does in STAIG.

    byol-pytorch 0.9.1 adds simplicial embeddings before the projector by
    default; 0.6.0 has none, so they are switched off.
    """
    augment = staig_augmentations(image_size)
    options = {}
    if "use_simplicial_embeddings" in inspect.signature(BYOL.__init__).parameters:
        options["use_simplicial_embeddings"] = False
    learner = StaigBYOL(
        encoder.to(device),
        image_size=image_size,
        hidden_layer=HIDDEN_LAYER,
        augment_fn=augment,
        augment_fn2=augment,
        **options,
    )
    return learner.to(dtype)


@dataclass(frozen=True)
class TrainingRecord:
    """Record of one BYOL training run.

    Attributes
    ----------
    losses
        Loss of every optimiser step, in order.
    n_steps
        Optimiser steps taken.
    skipped_single_batches
        Epochs whose last batch contained one patch and was skipped, because BYOL's
        batch-norm projector needs at least two samples in training mode.
    elapsed_s
        Wall-clock time in seconds.
    """

    losses: list[float]
    n_steps: int
    skipped_single_batches: int
    elapsed_s: float


def train_byol(
    learner: BYOL,
    patches: NDArray[np.uint8],
    indices: NDArray[np.int64],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    image_size: int,
    device: str,
) -> TrainingRecord:
    """Train ``learner`` with Adam on the patches ``indices``, shuffled every epoch.

    The batch order comes from ``torch.randperm`` on the global torch
    generator, as a shuffling ``DataLoader`` draws it. Patches are resized
    batch by batch, so the floating-point copies of only one batch are in memory.

    Parameters
    ----------
    learner
        The BYOL wrapper from :func:`build_learner`.
    patches
        ``(n_spots, side, side, 3)`` uint8; may be a memory map.
    indices
        Rows of ``patches`` to train on.
    epochs, batch_size, learning_rate
        STAIG: 1 epoch, 43 patches, 3e-4.
    image_size
        Side in px the patches are resized to (256 in STAIG).
    device
        ``"cpu"`` or ``"cuda"``.
    """
    started = time.perf_counter()
    dtype = next(learner.parameters()).dtype
    optimizer = torch.optim.Adam(learner.parameters(), lr=learning_rate)
    learner.train()
    losses: list[float] = []
    skipped = 0
    for epoch in range(epochs):
        order = indices[torch.randperm(len(indices)).numpy()]
        for start in range(0, len(order), batch_size):
            batch_indices = order[start:start + batch_size]
            if len(batch_indices) == 1:
                skipped += 1
                logger.warning(
                    "BYOL epoch %d: skipping the last batch of one patch (row %d); batch "
                    "normalisation needs two", epoch + 1, int(batch_indices[0]),
                )
                continue
            images = patches_to_tensor(patches, batch_indices, size=image_size, dtype=dtype).to(device)
            loss = learner(images)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            learner.update_moving_average()
            losses.append(float(loss.item()))
        logger.info(
            "BYOL epoch %d/%d: last loss %.4f (%.1f s)",
            epoch + 1, epochs, losses[-1] if losses else float("nan"), time.perf_counter() - started,
        )
    return TrainingRecord(
        losses=losses, n_steps=len(losses), skipped_single_batches=skipped,
        elapsed_s=time.perf_counter() - started,
    )


@torch.no_grad()
def embed_patches(
    learner: BYOL,
    patches: NDArray[np.uint8],
    *,
    image_size: int,
    batch_size: int,
    device: str,
) -> NDArray[np.float64]:
    """Return the ``avgpool`` embedding of every patch, in patch order, in eval mode.

    Parameters
    ----------
    learner
        The trained BYOL wrapper.
    patches
        ``(n_spots, side, side, 3)`` uint8; may be a memory map.
    image_size
        Side in px the patches are resized to before scaling to [0, 1].
    batch_size
        Patches per forward pass.
    device
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ``(n_spots, embedding_dim)`` float64, whatever the model's dtype.
    """
    started = time.perf_counter()
    dtype = next(learner.parameters()).dtype
    learner.eval()
    n_spots = len(patches)
    chunks = []
    for start in range(0, n_spots, batch_size):
        batch_indices = np.arange(start, min(start + batch_size, n_spots))
        images = patches_to_tensor(patches, batch_indices, size=image_size, dtype=dtype).to(device)
        _, representation = learner(images, return_embedding=True)
        chunks.append(representation.detach().cpu().numpy())
    features = np.concatenate(chunks).astype(np.float64, copy=False)
    logger.info("Embedded %d patches (%.1f s)", n_spots, time.perf_counter() - started)
    return features
