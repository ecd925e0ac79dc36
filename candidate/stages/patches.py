"""Stage ``patches``: one square window per spot, padded white outside the image, resized.

The window side is ``504 = int(3.5 * 144)`` full-resolution px scaled to the
image level used (the first present of fullres, hires, lowres). The centres
depend on the profile. ``strict`` multiplies full-resolution coordinates by the
scale of that level. ``legacy`` multiplies them by ``tissue_hires_scalef``,
whatever level it reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from candidate.config import StaigFusionConfig
from harness.data.visium import VisiumSlice
from harness.errors import MissingImageLevelError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)

WHITE = 255


def level_side(window_fullres_px: int, scale: float) -> int:
    """Return the window side in level px: ``max(1, round(window_fullres_px * scale))``."""
    return max(1, int(round(window_fullres_px * scale)))


def window_boxes(centres: np.ndarray, *, side: int) -> np.ndarray:
    """Return ``(left, top, right, bottom)`` of square windows around ``centres``.

    Parameters
    ----------
    centres
        Shape ``(n_obs, 2)``, (x, y) in level px.
    side
        Window side in level px.

    Returns
    -------
    Shape ``(n_obs, 4)``, int64, with ``left = floor(x - side / 2)``,
    ``top = floor(y - side / 2)``, ``right = left + side``, ``bottom = top + side``.
    """
    left_top = np.floor(centres - side / 2).astype(np.int64)
    return np.concatenate([left_top, left_top + side], axis=1)


def cut_windows(
    visium_slice: VisiumSlice, level: str, boxes: np.ndarray, *, output_px: int
) -> tuple[np.ndarray, int]:
    """Cut the windows ``boxes`` from an image level and resize them.

    Pixels outside the image are white. Each window is resized with PIL's
    ``Image.resize((output_px, output_px), Image.Resampling.BILINEAR)``. PIL
    has no batch call, so the windows are cut and resized one at a time, each
    cut being a slice of the image read once.

    Parameters
    ----------
    visium_slice
        The slice that contains the image.
    level
        Image level name.
    boxes
        Shape ``(n_obs, 4)``, int64, (left, top, right, bottom) in level px, all the same side.
    output_px
        Side of the resized windows.

    Returns
    -------
    patches
        Shape ``(n_obs, output_px, output_px, 3)``, uint8.
    n_padded
        Windows that extend beyond the image.
    """
    height, width = visium_slice.image_level(level).shape
    side = int(boxes[0, 2] - boxes[0, 0])
    visible = np.column_stack(
        [
            np.clip(boxes[:, 0], 0, width),
            np.clip(boxes[:, 1], 0, height),
            np.clip(boxes[:, 2], 0, width),
            np.clip(boxes[:, 3], 0, height),
        ]
    )
    padded = (visible != boxes).any(axis=1)
    has_pixels = (visible[:, 2] > visible[:, 0]) & (visible[:, 3] > visible[:, 1])

    # Read only the part of the image that some window covers.
    region = np.full((1, 1, 3), WHITE, dtype=np.uint8)
    region_left = region_top = 0
    if has_pixels.any():
        region_left, region_top = (int(value) for value in visible[has_pixels, :2].min(axis=0))
        region_right, region_bottom = (int(value) for value in visible[has_pixels, 2:].max(axis=0))
        region = visium_slice.read_region(
            level, left=region_left, top=region_top, right=region_right, bottom=region_bottom
        )

    patches = np.empty((boxes.shape[0], output_px, output_px, 3), dtype=np.uint8)
    for index, (box, seen) in enumerate(zip(boxes, visible, strict=True)):
        rows = slice(seen[1] - region_top, seen[3] - region_top)
        cols = slice(seen[0] - region_left, seen[2] - region_left)
        if padded[index]:
            window = np.full((side, side, 3), WHITE, dtype=np.uint8)
            if has_pixels[index]:
                inner_rows = slice(seen[1] - box[1], seen[3] - box[1])
                inner_cols = slice(seen[0] - box[0], seen[2] - box[0])
                window[inner_rows, inner_cols] = region[rows, cols]
        else:
            window = np.ascontiguousarray(region[rows, cols])
        resized = Image.fromarray(window).resize((output_px, output_px), Image.Resampling.BILINEAR)
        patches[index] = np.asarray(resized)
    return patches, int(padded.sum())


def choose_level(visium_slice: VisiumSlice, preference: tuple[str, ...]) -> str:
    """Return the first level of ``preference`` that the slice has.

    Raises
    ------
    MissingImageLevelError
        When the slice has none of them.
    """
    for name in preference:
        if name in visium_slice.images:
            return name
    msg = (
        f"slice {visium_slice.library_id!r} has no histology image at any of the levels "
        f"{', '.join(preference)}; add spatial/tissue_hires_image.png, "
        "spatial/tissue_lowres_image.png or a full-resolution TIFF (--fullres-image)"
    )
    raise MissingImageLevelError(msg)


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Cut and resize one window per spot.

    Returns
    -------
    dict
        ``centers`` (N, 2) and ``boxes`` (N, 4) in px of the level used,
        ``image_level``, ``patches`` (N, S, S, 3) uint8 and ``config``.
    """
    started = time.perf_counter()
    settings = config.patches
    spatial = np.asarray(inputs["load/spatial"], dtype=np.float64)
    scalefactors = inputs["load/scalefactors"]
    visium_slice = context.visium_slice()

    level_name = choose_level(visium_slice, settings.level_preference)
    level = visium_slice.image_level(level_name)
    if settings.centre_frame == "tissue_hires_scalef":
        centre_scale = float(scalefactors["tissue_hires_scalef"])
    else:
        centre_scale = float(level.scale)
    centres = spatial * centre_scale
    side = level_side(settings.window_fullres_px, level.scale)
    boxes = window_boxes(centres, side=side)
    patches, n_padded = cut_windows(visium_slice, level_name, boxes, output_px=settings.output_px)
    logger.info(
        "cut %d windows of %d px from the %s image (scale %g), %d padded, resized to %d px "
        "in %.1f s",
        len(boxes),
        side,
        level_name,
        level.scale,
        n_padded,
        settings.output_px,
        time.perf_counter() - started,
    )
    return {
        "centers": centres,
        "boxes": boxes,
        "image_level": {
            "name": level_name,
            "scale": level.scale,
            "shape": list(level.shape),
            "path": str(level.path),
            "window_side_px": side,
            "padded_windows": n_padded,
            "upsampled": side < settings.output_px,
        },
        "patches": patches,
        "config": {
            **config.header(),
            **settings.to_dict(),
            "coordinate_scale": centre_scale,
            "window_side_level_px": side,
            "resample": "PIL bilinear",
        },
    }
