"""Stage 2, patches: one square window per spot, cut from the histology image.

The level used is the first present of fullres, hires and lowres. Windows follow
the rule in :mod:`reference.image.windows`: 504 full-resolution px, scaled to
the level. Parts outside the image are padded with white and counted. Each
window is resized to ``patch_size`` (512) px with Pillow's bilinear filter.

STAIG cuts its windows from the full-resolution TIFF only and does not handle
windows that cross the image border. When a slice has only a downscaled image
the reference cuts the same window in that image's pixel frame, which gives
few source pixels (about 23 px on a lowres PNG) upsampled to 512 px. The
stage then logs a warning and adds a note to the ``image_level`` artifact.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.errors import InputError, MissingImageLevelError
from harness.implementation import StageContext
from reference.image.cutting import DEFAULT_BAND_ROWS, PAD_VALUE, cut_patches
from reference.image.windows import (
    WINDOW_SIDE_FULLRES_PX,
    crosses_border,
    window_geometry,
)

logger = logging.getLogger(__name__)

LEVEL_PREFERENCE = ("fullres", "hires", "lowres")
"""Image levels in the order the stage prefers them (most detail first)."""

# Number of padded barcodes listed in the image_level artifact.
_PADDED_EXAMPLES = 10

# Relative difference tolerated between the level scale in load/scalefactors and
# the one the slice reports (both come from scalefactors_json.json).
_SCALE_RTOL = 1e-9


def choose_level(image_levels: Mapping[str, Any]) -> str:
    """Return the first level of :data:`LEVEL_PREFERENCE` present in ``image_levels``.

    Raises
    ------
    MissingImageLevelError
        When none of fullres, hires and lowres is present.
    """
    for name in LEVEL_PREFERENCE:
        if name in image_levels:
            return name
    msg = (
        "The patches stage needs a histology image, but the slice has none "
        f"(image levels found: {sorted(image_levels) or 'none'}). Add "
        "spatial/tissue_hires_image.png or spatial/tissue_lowres_image.png to the slice "
        "folder, or pass the full-resolution TIFF with --fullres-image."
    )
    raise MissingImageLevelError(msg)


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``centers``, ``boxes``, ``image_level``, ``patches`` and ``config``.

    Parameters
    ----------
    inputs
        ``load/barcodes`` ``(n_spots,)``, ``load/spatial`` ``(n_spots, 2)``
        ``(x, y)`` in full-resolution px, and ``load/scalefactors`` with
        ``"image_levels"``: ``{name: {"scale", "shape", "path"}}``.
    context
        Gives the image pixels through ``context.visium_slice()``.
    params
        Reference parameters; uses ``params["image"]["patch_size"]``.

    Returns
    -------
    ``centers`` ``(n_spots, 2)`` float64 and ``boxes`` ``(n_spots, 4)`` int64 in
    px of the level used, ``patches`` ``(n_spots, patch_size, patch_size, 3)``
    uint8, and the ``image_level`` and ``config`` JSON records.

    Raises
    ------
    MissingImageLevelError
        When the slice has no image, or lacks the level ``load/scalefactors`` lists.
    InputError
        When the inputs disagree in length, or the level's scale or shape differs
        between ``load/scalefactors`` and the slice folder.
    """
    barcodes = np.asarray(inputs["load/barcodes"])
    spatial = np.asarray(inputs["load/spatial"], dtype=np.float64)
    image_levels = inputs["load/scalefactors"].get("image_levels") or {}
    patch_size = int(params["image"]["patch_size"])
    if len(barcodes) != len(spatial):
        msg = (
            f"load/barcodes has {len(barcodes)} entries but load/spatial has {len(spatial)} rows; "
            "both must list the same spots. Rerun the load stage."
        )
        raise InputError(msg)

    level_name = choose_level(image_levels)
    scale = float(image_levels[level_name]["scale"])
    visium = context.visium_slice()
    level = visium.image_level(level_name)
    _check_level(level_name, recorded=image_levels[level_name], scale=level.scale, shape=level.shape)
    height, width = level.shape

    started = time.perf_counter()
    geometry = window_geometry(spatial, scale=scale)
    padded = crosses_border(geometry.boxes, image_shape=(height, width))
    logger.info(
        "Cutting %d windows of %d px from the %s image (%d x %d px, scale %g); %d cross its border",
        len(spatial), geometry.side_px, level_name, width, height, scale, int(padded.sum()),
    )
    note = None
    if level_name != "fullres":
        note = (
            f"patches cut from the {level_name} image (about {geometry.side_px} px windows) "
            f"and upsampled to {patch_size} px; STAIG cuts {WINDOW_SIDE_FULLRES_PX} px windows "
            "from the full-resolution image"
        )
        logger.warning("The slice has no full-resolution image: %s", note)

    def read_region(left: int, top: int, right: int, bottom: int) -> np.ndarray:
        return visium.read_region(level_name, left=left, top=top, right=right, bottom=bottom)

    patches = cut_patches(
        read_region, geometry.boxes, image_shape=(height, width), patch_size=patch_size
    )
    logger.info("Patches finished in %.2f s", time.perf_counter() - started)

    image_level: dict[str, Any] = {
        "level": level_name,
        "scale": scale,
        "image_shape": [int(height), int(width)],
        "image_path": str(level.path),
        "padded_windows": int(padded.sum()),
        "padded_barcodes_examples": [str(b) for b in barcodes[padded][:_PADDED_EXAMPLES]],
        "window_side_px": geometry.side_px,
        "window_side_fullres_px": WINDOW_SIDE_FULLRES_PX,
    }
    if note is not None:
        image_level["note"] = note

    reductions = params.get("reductions", {})
    config = {
        "patch_size": patch_size,
        "level_preference": list(LEVEL_PREFERENCE),
        "window_side_fullres_px": WINDOW_SIDE_FULLRES_PX,
        "window_rule": (
            "side = max(1, round(504 * scale)); centre = (x, y) * scale; "
            "left = floor(cx - side / 2); top = floor(cy - side / 2)"
        ),
        "pad_value": PAD_VALUE,
        "resize": "PIL Image.resize(BILINEAR)",
        "band_rows": DEFAULT_BAND_ROWS,
        "reductions": {key: value for key, value in reductions.items() if key == "patch_size"},
    }
    return {
        "centers": geometry.centers,
        "boxes": geometry.boxes,
        "image_level": image_level,
        "patches": patches,
        "config": config,
    }


def _check_level(
    name: str, *, recorded: Mapping[str, Any], scale: float, shape: tuple[int, int]
) -> None:
    """Raise when load/scalefactors and the slice folder disagree on a level."""
    recorded_scale = float(recorded["scale"])
    if not math.isclose(recorded_scale, scale, rel_tol=_SCALE_RTOL):
        msg = (
            f"The {name} image has scale {scale:g} in the slice folder but {recorded_scale:g} in "
            "load/scalefactors; the load stage output belongs to another slice. Rerun the load stage."
        )
        raise InputError(msg)
    recorded_shape = recorded.get("shape")
    if recorded_shape is not None and tuple(int(v) for v in recorded_shape) != tuple(shape):
        msg = (
            f"The {name} image is {tuple(shape)} px (height, width) in the slice folder but "
            f"{tuple(recorded_shape)} in load/scalefactors; the load stage output belongs to "
            "another slice. Rerun the load stage."
        )
        raise InputError(msg)
