"""Image encoders of the reference: torchvision ResNets with weights from a local file.

Weights are never downloaded: torchvision builds the architecture with
``weights=None`` and the ImageNet weights, when given, are read from a file
with ``torch.load(weights_only=True)``. Without a file the encoder is refused
unless random initialisation is explicitly allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from numpy.typing import NDArray
from PIL import Image
from torch import nn

from harness.artifacts.io import sha256_file
from harness.errors import InputError, MissingDependencyError, MissingFileError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderArchitecture:
    """A supported encoder.

    Attributes
    ----------
    builder
        torchvision constructor, called with ``weights=None``.
    embedding_dim
        Width of the ``avgpool`` output (the embedding).
    """

    builder: Callable[..., nn.Module]
    embedding_dim: int


ARCHITECTURES: Mapping[str, EncoderArchitecture] = {
    "resnet18": EncoderArchitecture(torchvision.models.resnet18, 512),
    "resnet50": EncoderArchitecture(torchvision.models.resnet50, 2048),
}


def build_encoder(
    name: str, *, weights_path: str | Path | None, allow_random_init: bool
) -> tuple[nn.Module, dict[str, Any]]:
    """Build a torchvision ResNet and load its weights from a local file.

    Parameters
    ----------
    name
        ``"resnet18"`` or ``"resnet50"``.
    weights_path
        A ``torch.save``-d torchvision ``state_dict`` for this architecture, or ``None``.
    allow_random_init
        Keep the random initialisation when ``weights_path`` is ``None``; a
        given file is always loaded.

    Returns
    -------
    The model (float32, CPU, train mode) and its weights record for the
    encoder artifact: ``{"weights": {"path", "sha256"}}`` or
    ``{"weights": "random init", "allow_random_init": True}``.

    Raises
    ------
    InputError
        For an unknown encoder name, or a file that is not a matching state dict.
    MissingFileError
        When ``weights_path`` does not exist.
    MissingDependencyError
        When there is no weights file and random initialisation is not allowed.
    """
    if name not in ARCHITECTURES:
        msg = f"Unknown image encoder {name!r}; the reference supports {', '.join(ARCHITECTURES)}."
        raise InputError(msg)
    model = ARCHITECTURES[name].builder(weights=None)

    if weights_path is None:
        if not allow_random_init:
            msg = (
                f"The image encoder {name} needs ImageNet weights, but no weights file was given. "
                f"Pass --weights {name}=PATH with a torchvision state_dict saved by torch.save "
                "(the reference never downloads weights), or --allow-random-init to run with "
                "random initialisation, which is recorded in the encoder artifact."
            )
            raise MissingDependencyError(msg)
        logger.warning("Image encoder %s runs with random initialisation (no weights file)", name)
        return model, {"weights": "random init", "allow_random_init": True}

    path = Path(weights_path)
    if not path.is_file():
        msg = f"Weights file of the image encoder {name} not found: {path}. Check --weights {name}=PATH."
        raise MissingFileError(msg)
    state = _load_state_dict(path, name=name)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        msg = (
            f"{path} does not match torchvision's {name}: {error}. Pass the state_dict of a "
            f"torchvision {name} (e.g. `torch.save(model.state_dict(), path)`)."
        )
        raise InputError(msg) from error
    digest = sha256_file(path)
    logger.info("Loaded %s weights from %s (sha256 %s)", name, path, digest)
    return model, {"weights": {"path": str(path.resolve()), "sha256": digest}, "allow_random_init": False}


def _load_state_dict(path: Path, *, name: str) -> Mapping[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for unreadable files
        msg = (
            f"Cannot read {path} as weights of {name} with torch.load(weights_only=True): {error}. "
            "Pass a state_dict saved with torch.save."
        )
        raise InputError(msg) from error
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        msg = (
            f"{path} holds a {type(state).__name__}, not a state_dict of tensors. Save the "
            f"weights of a torchvision {name} with `torch.save(model.state_dict(), path)`."
        )
        raise InputError(msg)
    return state


def count_parameters(model: nn.Module) -> int:
    """Return the number of scalar parameters of ``model``."""
    return sum(parameter.numel() for parameter in model.parameters())


def patches_to_tensor(
    patches: NDArray[np.uint8],
    indices: NDArray[np.int64],
    *,
    size: int,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Resize selected patches and scale them to [0, 1] as ``Resize`` + ``ToTensor`` do.

    Each patch is resized with Pillow's bilinear filter, which is what
    torchvision's ``transforms.Resize((size, size))`` does on a PIL image.
    No ImageNet normalisation is applied.

    Parameters
    ----------
    patches
        ``(n_spots, side, side, 3)`` uint8 RGB patches; may be a memory map.
    indices
        Rows of ``patches`` to convert, in output order.
    size
        Output side in px.
    dtype
        Output dtype. Default float64, STAIG's model precision.

    Returns
    -------
    ``(len(indices), 3, size, size)`` tensor on the CPU.
    """
    batch = np.empty((len(indices), size, size, 3), dtype=np.uint8)
    for row, index in enumerate(indices):
        image = Image.fromarray(np.asarray(patches[index]))
        batch[row] = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
    # ToTensor divides in float32, so the values are rounded to float32 before widening.
    scaled = torch.from_numpy(batch).permute(0, 3, 1, 2).to(torch.float32).div(255.0)
    return scaled.to(dtype)
