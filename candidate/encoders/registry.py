"""Image encoders by name: how to build each with timm, its input size and output width.

UNI (Chen et al., Nat Med 2024) is a ViT-L/16; UNI2-h a ViT-H/14 with a
SwiGLU MLP and 8 register tokens. Both are built with ``pretrained=False``
from the timm keyword arguments their model cards publish, and get their
weights only from a local file (see :mod:`candidate.encoders.weights`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import timm
import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class EncoderSpec:
    """How to build one encoder.

    Attributes
    ----------
    name
        Registry name.
    timm_name
        timm architecture passed to ``timm.create_model``.
    timm_kwargs
        Keyword arguments of ``timm.create_model`` besides ``pretrained=False``.
    input_px
        Side of the square input image in px.
    description
        Architecture in words, recorded in the encoder artifact.
    family
        Foundation-model family (``"uni"``, ``"uni2"``) or ``None`` for generic models.
    mean, std
        Per-channel normalisation of the [0, 1] input (ImageNet statistics).
    """

    name: str
    timm_name: str
    timm_kwargs: Mapping[str, Any]
    input_px: int
    description: str
    family: str | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def build(self) -> nn.Module:
        """Create the model with random weights (timm's initialisation)."""
        return timm.create_model(self.timm_name, pretrained=False, **dict(self.timm_kwargs))

    def recorded_kwargs(self) -> dict[str, Any]:
        """Return the timm keyword arguments as JSON-friendly values (classes by name)."""
        recorded: dict[str, Any] = {}
        for key, value in self.timm_kwargs.items():
            if isinstance(value, type):
                recorded[key] = f"{value.__module__}.{value.__qualname__}"
            else:
                recorded[key] = value
        return recorded


UNI = EncoderSpec(
    name="uni",
    timm_name="vit_large_patch16_224",
    timm_kwargs=MappingProxyType(
        {
            "img_size": 224,
            "patch_size": 16,
            "init_values": 1e-5,
            "num_classes": 0,
            "dynamic_img_size": True,
        }
    ),
    input_px=224,
    description="ViT-L/16 (UNI), 1024-d class token",
    family="uni",
)

UNI2 = EncoderSpec(
    name="uni2",
    timm_name="vit_giant_patch14_224",
    timm_kwargs=MappingProxyType(
        {
            "img_size": 224,
            "patch_size": 14,
            "depth": 24,
            "num_heads": 24,
            "init_values": 1e-5,
            "embed_dim": 1536,
            "mlp_ratio": 2.66667 * 2,
            "num_classes": 0,
            "no_embed_class": True,
            "mlp_layer": timm.layers.SwiGLUPacked,
            "act_layer": torch.nn.SiLU,
            "reg_tokens": 8,
            "dynamic_img_size": True,
        }
    ),
    input_px=224,
    description="ViT-H/14 with SwiGLU MLP and 8 register tokens (UNI2-h), 1536-d",
    family="uni2",
)

# At 32 px the ViT-Ti/16 splits the input into 2 x 2 patches. On a shared 2-core
# CPU it embedded about 2.6 times faster than at 64 px (15.7 against 41.5 ms per
# image, batches of 128), which keeps a quick run of a 3600-spot slice short.
VIT_TINY_32 = EncoderSpec(
    name="vit_tiny_patch16_224",
    timm_name="vit_tiny_patch16_224",
    timm_kwargs=MappingProxyType({"img_size": 32, "num_classes": 0}),
    input_px=32,
    description="ViT-Ti/16 at 32 px input (2 x 2 patches), 192-d; a small model for tests and CPUs",
)

ENCODERS: Mapping[str, EncoderSpec] = MappingProxyType(
    {spec.name: spec for spec in (UNI, UNI2, VIT_TINY_32)}
)
"""Every encoder ``staig_fusion`` can build, by name."""


def get_encoder(name: str) -> EncoderSpec:
    """Return the spec of encoder ``name``.

    Raises
    ------
    KeyError
        With the valid names, when ``name`` is unknown.
    """
    try:
        return ENCODERS[name]
    except KeyError:
        msg = f"unknown image encoder {name!r}; known encoders: {', '.join(ENCODERS)}"
        raise KeyError(msg) from None


def count_parameters(model: nn.Module) -> int:
    """Return the number of parameters of ``model``."""
    return sum(parameter.numel() for parameter in model.parameters())
