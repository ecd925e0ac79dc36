"""A tissue mask of the histology image, to tell windows centred on tissue from windows on glass.

H&E-stained tissue is pink and purple while the bare slide is white or light
grey, so the HSV saturation separates them. The mask is Otsu's threshold on
the saturation channel (OpenCV), followed by a morphological closing and
opening that fill small gaps and drop specks of dust. It is built from the
lowest-resolution image level that exists: a coarse mask is enough to tell
whether a window centre lies on tissue, and a lowres PNG is small.

The saturation mask assumes a stained section on a pale background; an
eosin-only or fluorescence image may need another mask.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from harness.data.images import ImageLevel, find_image_levels, read_level_image
from harness.data.scalefactors import SCALEFACTORS_FILE, read_scalefactors
from harness.errors import InputError, MissingFileError

logger = logging.getLogger(__name__)

KERNEL_FRACTION = 0.012
"""Side of the closing and opening kernel as a fraction of the image's shorter side.

Documented default: 7 px on a 600 px lowres PNG, about the size of one spot
there, so gaps and specks smaller than a spot are removed."""

MIN_KERNEL_PX = 3
"""Smallest kernel side in px."""

# Decoded masks kept in memory; one lowres mask is 360 kB.
_MASK_CACHE_SIZE = 4


@dataclass(frozen=True)
class TissueMask:
    """A boolean tissue mask of one image level.

    Attributes
    ----------
    mask
        Shape ``(height, width)``, bool: True on tissue. Read-only.
    scale
        Mask px per full-resolution px (the level's scale factor).
    level
        Image level the mask was built from (``"lowres"``, ``"hires"`` or ``"fullres"``).
    source
        The image file.
    otsu_threshold
        Saturation threshold Otsu's method chose, 0-255.
    """

    mask: np.ndarray
    scale: float
    level: str
    source: str
    otsu_threshold: float

    @property
    def fraction_tissue(self) -> float:
        """Fraction of the image's pixels that are tissue."""
        return float(self.mask.mean())

    def on_tissue(self, points_fullres: np.ndarray) -> np.ndarray:
        """Return, per point, whether it lies on tissue.

        Parameters
        ----------
        points_fullres
            Shape ``(n_obs, 2)``: (x, y) in full-resolution px.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_obs,)``, bool. Points outside the image, or not finite,
            are off tissue.
        """
        points = np.asarray(points_fullres, dtype=np.float64)
        height, width = self.mask.shape
        with np.errstate(invalid="ignore"):
            columns = np.floor(points[:, 0] * self.scale)
            rows = np.floor(points[:, 1] * self.scale)
        inside = (
            np.isfinite(columns)
            & np.isfinite(rows)
            & (columns >= 0)
            & (columns < width)
            & (rows >= 0)
            & (rows < height)
        )
        result = np.zeros(points.shape[0], dtype=bool)
        result[inside] = self.mask[rows[inside].astype(np.int64), columns[inside].astype(np.int64)]
        return result

    def inside_image(self, points_fullres: np.ndarray) -> np.ndarray:
        """Return, per point ``(n_obs, 2)`` in full-resolution px, whether it is in the image."""
        points = np.asarray(points_fullres, dtype=np.float64)
        height, width = self.mask.shape
        with np.errstate(invalid="ignore"):
            x = points[:, 0] * self.scale
            y = points[:, 1] * self.scale
            return (x >= 0) & (x < width) & (y >= 0) & (y < height)


def tissue_mask_from_image(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Segment tissue in an RGB image by Otsu's threshold on the HSV saturation.

    Parameters
    ----------
    image
        Shape ``(height, width, 3)``, uint8 RGB.

    Returns
    -------
    mask
        Shape ``(height, width)``, bool, True on tissue.
    threshold
        The saturation threshold (0-255) Otsu's method chose. A uniform image
        gives 0, and then only pixels with non-zero saturation count as tissue.

    Raises
    ------
    InputError
        When ``image`` is not ``(height, width, 3)`` uint8.
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        msg = (
            "a tissue mask needs an RGB uint8 image of shape (height, width, 3); got "
            f"{array.shape} {array.dtype}"
        )
        raise InputError(msg)
    saturation = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2HSV)[:, :, 1]
    threshold, binary = cv2.threshold(saturation, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)

    side = max(MIN_KERNEL_PX, round(KERNEL_FRACTION * min(array.shape[:2])))
    side += 1 - side % 2  # an odd side keeps the kernel centred
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    cleaned = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    cleaned = cv2.morphologyEx(cleaned, cv2.MORPH_OPEN, kernel)
    return cleaned > 0, float(threshold)


def load_tissue_mask(
    scalefactors: Mapping[str, Any], *, data_dir: Path | None = None
) -> TissueMask:
    """Build the tissue mask of the lowest-resolution image level of a slice.

    The levels come from the ``"image_levels"`` of a ``load/scalefactors``
    record (``{name: {"scale", "shape", "path"}}``). When none of the recorded
    files exists (the run folder moved to another machine) and ``data_dir``
    is given, the levels found in that slice folder are used instead. The
    returned mask's ``source`` is the file that was read.

    Parameters
    ----------
    scalefactors
        The reference's ``load/scalefactors`` record.
    data_dir
        The Space Ranger slice folder, default ``None``.

    Returns
    -------
    TissueMask

    Raises
    ------
    MissingFileError
        When no image level can be read from either place.
    """
    recorded = scalefactors.get("image_levels") or {}
    levels = sorted(
        (
            ImageLevel(
                name=name,
                path=Path(entry["path"]),
                scale=float(entry["scale"]),
                shape=(int(entry["shape"][0]), int(entry["shape"][1])),
            )
            for name, entry in recorded.items()
            if isinstance(entry, Mapping) and {"scale", "path", "shape"} <= set(entry)
        ),
        key=lambda level: level.scale,
    )
    for level in levels:
        if level.path.is_file():
            return _cached_mask(level, level.path.stat().st_mtime_ns)

    if data_dir is not None:
        folder = Path(data_dir)
        scalefactors_path = folder / "spatial" / SCALEFACTORS_FILE
        if scalefactors_path.is_file():
            found = find_image_levels(folder, scalefactors=read_scalefactors(scalefactors_path))
            if found:
                level = min(found.values(), key=lambda item: item.scale)
                logger.info(
                    "recorded image files are missing; reading %s from %s", level.name, folder
                )
                return _cached_mask(level, level.path.stat().st_mtime_ns)

    listed = ", ".join(f"{level.name}: {level.path}" for level in levels) or "none recorded"
    msg = (
        f"no histology image to build a tissue mask from: the reference's load/scalefactors "
        f"lists {listed}, and none of these files exists"
        + (f", nor any image level in {data_dir}" if data_dir is not None else "")
        + "; pass the slice folder (--data) that both sides read"
    )
    raise MissingFileError(msg)


@functools.lru_cache(maxsize=_MASK_CACHE_SIZE)
def _cached_mask(level: ImageLevel, mtime_ns: int) -> TissueMask:
    """Build a mask once per file version (``mtime_ns`` is part of the cache key)."""
    if not math.isfinite(level.scale) or level.scale <= 0:
        msg = (
            f"image level {level.name!r} ({level.path}) has scale {level.scale!r}; expected a "
            "positive number"
        )
        raise InputError(msg)
    started = time.perf_counter()
    mask, threshold = tissue_mask_from_image(read_level_image(level))
    mask.setflags(write=False)
    logger.info(
        "tissue mask of %s (%d x %d px): %.0f%% tissue, Otsu saturation threshold %g (%.2f s)",
        level.path,
        mask.shape[1],
        mask.shape[0],
        100 * mask.mean(),
        threshold,
        time.perf_counter() - started,
    )
    return TissueMask(
        mask=mask,
        scale=level.scale,
        level=level.name,
        source=str(level.path),
        otsu_threshold=threshold,
    )
