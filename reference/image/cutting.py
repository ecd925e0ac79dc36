"""Cut spot windows out of an image level, pad them with white, resize them to patches.

The parts of a window outside the image are filled with white (255 in every
channel). Each window is then resized with Pillow's bilinear filter,
``Image.resize((size, size), Image.Resampling.BILINEAR)``, the resampling the
harness contract fixes for both sides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

logger = logging.getLogger(__name__)

PAD_VALUE = 255
"""Fill value of window parts outside the image (white on an 8-bit H&E image)."""

# Windows extracted and resized per step; bounds the memory of the raw windows
# (64 full-resolution windows of 504 px are 49 MB).
_CHUNK_WINDOWS = 64

DEFAULT_BAND_ROWS = 2048
"""Rows read at once: 2048 rows of a 13332 px wide RGB image are 82 MB."""

RegionReader = Callable[[int, int, int, int], NDArray[np.uint8]]
"""``read(left, top, right, bottom) -> (bottom - top, right - left, 3)`` uint8, inside the image."""


def extract_windows(image: NDArray[np.uint8], boxes: NDArray[np.int64]) -> NDArray[np.uint8]:
    """Extract equal-sized windows from an in-memory image, padding outside parts with white.

    Parameters
    ----------
    image
        ``(height, width, 3)`` uint8 RGB image.
    boxes
        ``(n_windows, 4)`` int ``(left, top, right, bottom)`` in px, all with the
        same side; they may extend beyond the image.

    Returns
    -------
    ``(n_windows, side, side, 3)`` uint8.
    """
    height, width = image.shape[:2]
    side = int(boxes[0, 2] - boxes[0, 0]) if len(boxes) else 0
    if len(boxes) == 0:
        return np.empty((0, side, side, 3), dtype=np.uint8)

    # Pad once by exactly the largest overhang, then index every window at once.
    margin = int(max(0, -boxes[:, 0].min(), -boxes[:, 1].min(),
                     boxes[:, 2].max() - width, boxes[:, 3].max() - height))
    padded = image
    if margin:
        padded = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), constant_values=PAD_VALUE)
    offsets = np.arange(side)
    rows = (boxes[:, 1, None] + margin + offsets)[:, :, None]
    cols = (boxes[:, 0, None] + margin + offsets)[:, None, :]
    return padded[rows, cols]


def resize_window(window: NDArray[np.uint8], *, size: int) -> NDArray[np.uint8]:
    """Resize one ``(side, side, 3)`` uint8 window to ``(size, size, 3)`` with Pillow's bilinear filter."""
    resized = Image.fromarray(window).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def cut_patches(
    read_region: RegionReader,
    boxes: NDArray[np.int64],
    *,
    image_shape: tuple[int, int],
    patch_size: int,
    band_rows: int = DEFAULT_BAND_ROWS,
) -> NDArray[np.uint8]:
    """Cut, pad and resize the window of every box.

    Windows are sorted by their top edge and grouped into horizontal bands of
    at most ``band_rows`` rows. Each band is read once, over the full image
    width, so a large TIFF is decoded about once in total and never held whole
    in memory. Resizing loops over windows because Pillow resizes one image at
    a time.

    Parameters
    ----------
    read_region
        Reader of an in-image rectangle of the level, see :data:`RegionReader`.
    boxes
        ``(n_spots, 4)`` int ``(left, top, right, bottom)`` in level px, one side for all.
    image_shape
        ``(height, width)`` of the level in px.
    patch_size
        Side of the output patches in px (512 in STAIG).
    band_rows
        Maximum rows of one band read at once; raised to the window side when
        smaller. Default :data:`DEFAULT_BAND_ROWS`.

    Returns
    -------
    ``(n_spots, patch_size, patch_size, 3)`` uint8 patches, in the order of ``boxes``.
    """
    started = time.perf_counter()
    height, width = image_shape
    n_spots = len(boxes)
    patches = np.empty((n_spots, patch_size, patch_size, 3), dtype=np.uint8)
    if n_spots == 0:
        return patches

    side = int(boxes[0, 2] - boxes[0, 0])
    order = np.argsort(boxes[:, 1], kind="stable")
    n_bands = 0
    for group in _band_groups(boxes[order, 1], side=side, band_rows=max(band_rows, side)):
        indices = order[group]
        band_top = max(0, int(boxes[indices, 1].min()))
        band_bottom = min(height, int(boxes[indices, 3].max()))
        n_bands += 1
        if band_bottom <= band_top:
            # Every window of the group lies wholly above or below the image.
            blank = np.full((side, side, 3), PAD_VALUE, dtype=np.uint8)
            patches[indices] = resize_window(blank, size=patch_size)
            continue
        band = read_region(0, band_top, width, band_bottom)

        for start in range(0, len(indices), _CHUNK_WINDOWS):
            chunk = indices[start:start + _CHUNK_WINDOWS]
            local = boxes[chunk].copy()
            local[:, [1, 3]] -= band_top
            for index, window in zip(chunk, extract_windows(band, local), strict=True):
                patches[index] = resize_window(window, size=patch_size)

    logger.info(
        "Cut %d windows of %d px in %d bands and resized them to %d px (%.2f s)",
        n_spots, side, n_bands, patch_size, time.perf_counter() - started,
    )
    return patches


def _band_groups(sorted_tops: NDArray[np.int64], *, side: int, band_rows: int) -> list[slice]:
    """Split windows sorted by top into runs whose rows span at most ``band_rows``."""
    groups = []
    start = 0
    for index in range(1, len(sorted_tops) + 1):
        if index == len(sorted_tops) or sorted_tops[index] + side - sorted_tops[start] > band_rows:
            groups.append(slice(start, index))
            start = index
    return groups
