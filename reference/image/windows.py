"""Window geometry: one square window per spot, in the pixel frame of an image level.

The rule, for a level with scale ``s`` (level px per full-resolution px):

* full-resolution side ``504 = int(3.5 * 144)`` px. STAIG hard-codes 144 px as
  the spot diameter and cuts windows of 3.5 diameters; for DLPFC 151673 that
  is close to ``fiducial_diameter_fullres`` (144.6 px);
* side in the level ``side = max(1, round(504 * s))`` px;
* centre ``(cx, cy) = (x * s, y * s)``;
* ``left = floor(cx - side / 2)``, ``top = floor(cy - side / 2)``,
  ``right = left + side``, ``bottom = top + side`` (right and bottom exclusive).

At full resolution ``left`` equals STAIG's ``int(x - 252)`` for every spot with
``x >= 252``; STAIG truncates toward zero, which only differs for windows that
cross the left or top border, and those STAIG does not handle at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.errors import InputError

# STAIG's hard-coded spot diameter (px, full resolution) and window width in diameters.
STAIG_SPOT_DIAMETER_PX = 144
STAIG_WINDOW_DIAMETERS = 3.5
WINDOW_SIDE_FULLRES_PX = int(STAIG_WINDOW_DIAMETERS * STAIG_SPOT_DIAMETER_PX)  # 504


@dataclass(frozen=True)
class WindowGeometry:
    """Windows of all spots in one image level.

    Attributes
    ----------
    centers
        ``(n_spots, 2)`` float64, ``(cx, cy)`` spot centres in level px.
    boxes
        ``(n_spots, 4)`` int64, ``(left, top, right, bottom)`` in level px;
        right and bottom are exclusive.
    side_px
        Window side in level px, the same for every spot.
    scale
        Level px per full-resolution px.
    """

    centers: NDArray[np.float64]
    boxes: NDArray[np.int64]
    side_px: int
    scale: float


def window_side(scale: float) -> int:
    """Return the window side in px of a level with ``scale`` level px per full-resolution px.

    ``max(1, round(504 * scale))``, with Python's round-half-to-even.

    Raises
    ------
    InputError
        When ``scale`` is not a finite positive number.
    """
    if not np.isfinite(scale) or scale <= 0:
        msg = f"Invalid image scale {scale!r}; expected a finite number > 0 (level px per full-resolution px)."
        raise InputError(msg)
    return max(1, round(WINDOW_SIDE_FULLRES_PX * float(scale)))


def window_geometry(spatial: ArrayLike, *, scale: float) -> WindowGeometry:
    """Compute the window of every spot in a level, vectorised over spots.

    Parameters
    ----------
    spatial
        ``(n_spots, 2)`` spot centres, ``(x, y)`` in full-resolution px.
    scale
        Level px per full-resolution px (1.0 for the full-resolution image).

    Returns
    -------
    The centres and boxes in level px.

    Raises
    ------
    InputError
        When ``spatial`` is not ``(n_spots, 2)`` or contains non-finite values,
        or ``scale`` is invalid.
    """
    xy = np.asarray(spatial, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        msg = f"Invalid spot coordinates of shape {xy.shape}; expected (n_spots, 2) = (x, y) in full-resolution px."
        raise InputError(msg)
    if not np.isfinite(xy).all():
        n_bad = int((~np.isfinite(xy)).any(axis=1).sum())
        msg = f"{n_bad} spot coordinates are NaN or infinite; expected finite (x, y) in full-resolution px."
        raise InputError(msg)

    side = window_side(scale)
    centers = xy * float(scale)
    corner = np.floor(centers - side / 2).astype(np.int64)
    boxes = np.concatenate([corner, corner + side], axis=1)
    return WindowGeometry(centers=centers, boxes=boxes, side_px=side, scale=float(scale))


def crosses_border(boxes: ArrayLike, *, image_shape: tuple[int, int]) -> NDArray[np.bool_]:
    """Flag the windows that extend beyond an image of ``(height, width)`` px.

    Parameters
    ----------
    boxes
        ``(n_spots, 4)`` ``(left, top, right, bottom)`` in px, right and bottom exclusive.
    image_shape
        ``(height, width)`` of the level in px.

    Returns
    -------
    ``(n_spots,)`` bool, True where part of the window lies outside the image.
    """
    boxes = np.asarray(boxes)
    height, width = image_shape
    left, top, right, bottom = boxes.T
    return (left < 0) | (top < 0) | (right > width) | (bottom > height)
