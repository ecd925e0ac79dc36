"""Encoder weights from a local file: digest, safe loading, strict key matching."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
from torch import nn

from harness.errors import InputError, MissingFileError

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def load_weights(model: nn.Module, path: Path, *, encoder: str) -> str:
    """Load a state dict from ``path`` into ``model``; return the file's SHA-256.

    ``.safetensors`` files are read with safetensors, anything else with
    ``torch.load(weights_only=True)``, which unpickles no code. Every key of
    the model must be present and every key of the file used.

    Raises
    ------
    MissingFileError
        When ``path`` does not exist.
    InputError
        When the file is not a state dict or its keys or shapes do not match.
    """
    if not path.is_file():
        msg = (
            f"weights file of encoder {encoder!r} not found: {path}; pass --weights {encoder}=PATH"
        )
        raise MissingFileError(msg)
    digest = sha256_of(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for non-checkpoint files
            msg = f"cannot read {path} as a torch state dict for encoder {encoder!r}: {error}"
            raise InputError(msg) from error
    if not isinstance(state, dict) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        msg = (
            f"{path} does not contain a flat state dict (name -> tensor) for encoder {encoder!r}; "
            "save it with torch.save(model.state_dict(), PATH)"
        )
        raise InputError(msg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        msg = f"the weights in {path} do not fit encoder {encoder!r}: {error}"
        raise InputError(msg) from error
    logger.info("loaded %s weights from %s (sha256 %s)", encoder, path, digest[:12])
    return digest
