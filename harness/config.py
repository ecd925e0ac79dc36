"""Run configuration shared by both sides, and device selection."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from harness.artifacts.io import dumps_json
from harness.errors import InputError, MissingDependencyError

Device = Literal["auto", "cpu", "cuda"]
PRESETS = ("staig", "quick", "quick-encoders")
QUICK_ENCODER_PRESETS = frozenset({"quick", "quick-encoders"})
"""Presets whose image encoders are small stand-ins, run from random weights unless given some."""


@dataclass(frozen=True)
class RunConfig:
    """Settings of one run of one side.

    Attributes
    ----------
    preset
        ``"staig"`` runs the published settings (1 BYOL epoch on ResNet-50,
        300 training epochs). ``"quick"`` shrinks the encoder and epochs for
        CPUs and CI, and each side records every reduction in its stage configs.
        ``"quick-encoders"`` shrinks only the image encoders and trains for
        the published number of epochs: the image branch steers training
        through edge dropping and pseudo-labels, and 30 epochs give it too
        little time to matter for an attribution.
    slice_config
        Name of a per-slice hyperparameter set (e.g. ``"151673"``); ``None``
        lets the side choose from the data folder's name.
    device
        ``"auto"`` uses CUDA when present; ``"cuda"`` without a GPU is an error.
    seed
        Override of the slice's training seed; ``None`` keeps the configured one.
    allow_random_init
        Allow image encoders without a weights file (random initialisation);
        the encoder artifact records the choice.
    weights
        Encoder name to local weights file path.
    fullres_image
        Path of the full-resolution TIFF when it is not in the Space Ranger folder.
    options
        Side-specific settings (candidate profile, simulated absence of R, ...).
    """

    preset: str = "quick"
    slice_config: str | None = None
    device: Device = "auto"
    seed: int | None = None
    allow_random_init: bool = False
    weights: Mapping[str, str] = field(default_factory=dict)
    fullres_image: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            msg = f"unknown preset {self.preset!r}; expected one of {', '.join(PRESETS)}"
            raise InputError(msg)
        if self.device not in ("auto", "cpu", "cuda"):
            msg = f"unknown device {self.device!r}; expected auto, cpu or cuda"
            raise InputError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON types."""
        data = asdict(self)
        data["weights"] = dict(self.weights)
        data["options"] = dict(self.options)
        return data

    def digest(self) -> str:
        """Return the SHA-256 of the configuration's canonical JSON."""
        return hashlib.sha256(dumps_json(self.to_dict()).encode()).hexdigest()

    def with_options(self, **options: Any) -> RunConfig:
        """Return a copy with ``options`` merged into :attr:`options`."""
        return replace(self, options={**self.options, **options})


def resolve_device(device: Device) -> str:
    """Turn ``auto``, ``cpu`` or ``cuda`` into the device a run uses.

    Raises
    ------
    MissingDependencyError
        When ``cuda`` is requested and torch finds no CUDA device.
    """
    import torch

    if device == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        msg = (
            "--device cuda was requested but torch finds no CUDA device "
            f"(torch {torch.__version__}); use --device cpu or auto"
        )
        raise MissingDependencyError(msg)
    return "cuda" if available else "cpu"
