"""Stage ``patch_filter``: STAIG's frequency-domain low-pass filter, or nothing.

The filter of STAIG's image notebook, per 512 x 512 patch: OpenCV grayscale,
5 x 5 Gaussian blur (uint8), 2-D FFT, keep the square of rows and columns
245 <= i < 275 of the centred spectrum, inverse FFT, absolute value, 15 x 15
Gaussian blur, float32, then saturated to uint8 and replicated to three
channels.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import scipy.fft

from candidate.config import StaigFusionConfig
from harness.errors import InputError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)

PATCH_PX = 512
MASK_START = 245
MASK_STOP = 275
INNER_BLUR = (5, 5)
OUTER_BLUR = (15, 15)
_FFT_WORKERS = 2


def lowpass_mask(n: int) -> np.ndarray:
    """Return the (n, n) 0/1 mask of the kept frequencies in numpy's unshifted FFT layout.

    In the centred spectrum (``np.fft.fftshift``) the mask keeps rows and
    columns ``245 <= i < 275``. Masking the centred spectrum and shifting back
    equals multiplying the unshifted spectrum by ``ifftshift(mask)``.
    """
    centred = np.zeros((n, n))
    centred[MASK_START:MASK_STOP, MASK_START:MASK_STOP] = 1.0
    return np.fft.ifftshift(centred)


def lowpass_filter(patches: np.ndarray) -> np.ndarray:
    """Apply STAIG's grayscale low-pass filter to RGB patches.

    One patch at a time: two 512 x 512 FFTs per patch dominate the cost, and
    measured on a 2-core CPU the per-patch loop beat batched FFTs and partial
    DFTs by matrix products, because each patch's arrays stay in cache.

    Parameters
    ----------
    patches
        Shape ``(n_obs, 512, 512, 3)``, uint8 RGB.

    Returns
    -------
    Shape ``(n_obs, 512, 512, 3)``, uint8, the filtered grey image in all three channels.

    Raises
    ------
    InputError
        When the patches are not 512 x 512 RGB uint8.
    """
    if (
        patches.ndim != 4
        or patches.shape[1:] != (PATCH_PX, PATCH_PX, 3)
        or patches.dtype != np.uint8
    ):
        msg = (
            f"the low-pass filter needs uint8 patches of shape (n, {PATCH_PX}, {PATCH_PX}, 3); "
            f"got {patches.shape} {patches.dtype}"
        )
        raise InputError(msg)
    started = time.perf_counter()
    keep = lowpass_mask(PATCH_PX)
    filtered = np.empty_like(patches)
    for index, patch in enumerate(patches):
        grey = cv2.GaussianBlur(
            cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2GRAY), INNER_BLUR, 0
        )
        spectrum = scipy.fft.fft2(grey, workers=_FFT_WORKERS) * keep
        magnitude = np.abs(scipy.fft.ifft2(spectrum, workers=_FFT_WORKERS))
        blurred = cv2.GaussianBlur(magnitude, OUTER_BLUR, 0).astype(np.float32)
        # cv2.imwrite saturates float images to uint8 with rounding; do the same.
        filtered[index] = np.clip(np.rint(blurred), 0, 255).astype(np.uint8)[:, :, None]
    logger.info(
        "low-pass filtered %d patches in %.1f s", len(patches), time.perf_counter() - started
    )
    return filtered


def run(
    inputs: Mapping[str, Any], context: StageContext, config: StaigFusionConfig
) -> dict[str, Any]:
    """Filter the patches (strict) or pass them on unchanged (legacy).

    Returns
    -------
    dict
        ``filtered`` (N, S, S, 3) uint8 and ``config``.
    """
    patches = inputs["patches/patches"]
    if config.patches.filter == "none":
        filtered = np.asarray(patches)
        filter_config: dict[str, Any] = {"filter": "none"}
    else:
        filtered = lowpass_filter(np.asarray(patches))
        filter_config = {
            "filter": "fft_lowpass",
            "grayscale": "OpenCV RGB2GRAY (0.299 R + 0.587 G + 0.114 B)",
            "inner_blur": list(INNER_BLUR),
            "mask_rows_cols": [MASK_START, MASK_STOP],
            "outer_blur": list(OUTER_BLUR),
            "output": "uint8, rounded and saturated, grey in 3 channels",
        }
    return {"filtered": filtered, "config": {**config.header(), **filter_config}}
