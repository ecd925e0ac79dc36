"""Stand-ins for the stage context and Visium slice in the image stage tests, and data locators.

:class:`FakeSlice` serves images held in memory through the same methods as
:class:`harness.data.visium.VisiumSlice` (``image_level``, ``read_image``,
``read_region``), with the same bound checks and errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.config import RunConfig
from harness.data.images import ImageLevel
from harness.errors import InputError, MissingImageLevelError
from reference.config import resolve_params

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("HARNESS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_folder(relative: str, *, marker: str) -> Path:
    """Return a real data folder, or skip the test when ``marker`` inside it is absent."""
    folder = SHARED_DATA / relative
    if not (folder / marker).exists():
        pytest.skip(f"real Visium data not found at {folder / marker}; set HARNESS_SHARED_DATA")
    return folder


@dataclass
class FakeSlice:
    """In-memory image levels: ``{name: ((height, width, 3) uint8, scale)}``."""

    images: Mapping[str, tuple[np.ndarray, float]]
    region_reads: list[tuple[str, int, int, int, int]] = field(default_factory=list)

    def image_level(self, name: str) -> ImageLevel:
        if name not in self.images:
            msg = f"fake slice has no {name} image; it has {sorted(self.images)}"
            raise MissingImageLevelError(msg)
        pixels, scale = self.images[name]
        return ImageLevel(
            name=name, path=Path(f"/fake/{name}.png"), scale=scale, shape=pixels.shape[:2]
        )

    def read_image(self, name: str) -> np.ndarray:
        self.image_level(name)
        return self.images[name][0].copy()

    def read_region(self, level: str, *, left: int, top: int, right: int, bottom: int) -> np.ndarray:
        pixels = self.images[self.image_level(level).name][0]
        height, width = pixels.shape[:2]
        if not (0 <= left < right <= width and 0 <= top < bottom <= height):
            msg = f"region ({left}, {top}, {right}, {bottom}) outside {width} x {height}"
            raise InputError(msg)
        self.region_reads.append((level, left, top, right, bottom))
        return pixels[top:bottom, left:right].copy()

    def scalefactors_artifact(self) -> dict[str, Any]:
        """Return the ``load/scalefactors`` JSON for these levels."""
        return {
            "image_levels": {
                name: {"scale": scale, "shape": list(pixels.shape[:2]), "path": f"/fake/{name}.png"}
                for name, (pixels, scale) in self.images.items()
            }
        }


@dataclass
class FakeContext:
    """The attributes of :class:`harness.implementation.StageContext` the image stages use."""

    config: RunConfig
    slice: Any = None
    device: str = "cpu"
    side: str = "reference"
    data_dir: Path | None = None

    def visium_slice(self) -> Any:
        if self.slice is None:
            msg = "this fake context has no slice"
            raise InputError(msg)
        return self.slice


def quick_params(**image: Any) -> dict[str, Any]:
    """Return the quick preset's resolved parameters with ``image`` settings overridden."""
    params = resolve_params(RunConfig(preset="quick", slice_config="151673"), None)
    params["image"] = {**params["image"], **image}
    return params


def textured_image(height: int, width: int, *, seed: int) -> np.ndarray:
    """Return a ``(height, width, 3)`` uint8 image with smooth structure plus noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    base = 127 + 60 * np.sin(rows / 7.0)[..., None] * np.cos(cols / 11.0)[..., None]
    noise = rng.normal(0, 25, size=(height, width, 3))
    return np.clip(base + noise + np.array([20, -10, 5]), 0, 255).astype(np.uint8)
