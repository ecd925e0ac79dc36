"""Stage 3, patch filter: STAIG's frequency-domain filter of every patch.

See :mod:`reference.image.fft_filter` for the steps. The filter keeps only the
lowest spatial frequencies of the grey patch, so the image features describe
coarse tissue texture rather than stain and cell detail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from harness.errors import InputError
from harness.implementation import StageContext
from reference.image.fft_filter import (
    BAND_START,
    BAND_STOP,
    DEFAULT_GRAYSCALE,
    PATCH_SIZE_PX,
    POST_BLUR_KSIZE,
    PRE_BLUR_KSIZE,
    filter_patches,
)

logger = logging.getLogger(__name__)


def run(
    inputs: Mapping[str, Any], context: StageContext, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``filtered`` ``(n_spots, 512, 512, 3)`` uint8 and ``config``.

    Raises
    ------
    InputError
        When ``params["image"]["patch_size"]`` or the patches are not 512 px:
        the filter's band is defined for 512 px patches only.
    """
    patch_size = int(params["image"]["patch_size"])
    if patch_size != PATCH_SIZE_PX:
        msg = (
            f"patch_size is {patch_size} px, but STAIG's patch filter keeps the band "
            f"{BAND_START} <= i < {BAND_STOP} of a {PATCH_SIZE_PX} px spectrum and is defined "
            f"for {PATCH_SIZE_PX} px patches only. Use patch_size {PATCH_SIZE_PX}."
        )
        raise InputError(msg)

    filtered = filter_patches(inputs["patches/patches"], grayscale=DEFAULT_GRAYSCALE)
    config = {
        "patch_size": patch_size,
        "grayscale": f"{DEFAULT_GRAYSCALE} (weights 0.299 R + 0.587 G + 0.114 B)",
        "pre_blur": {"ksize": list(PRE_BLUR_KSIZE), "sigma": 0},
        "band": {"start": BAND_START, "stop": BAND_STOP, "frame": "fftshift-ed spectrum"},
        "post_blur": {"ksize": list(POST_BLUR_KSIZE), "sigma": 0},
        "to_uint8": "float32, then round half to even and clip to 0..255 (OpenCV saturate_cast)",
        "channels": "grey replicated to RGB",
    }
    return {"filtered": filtered, "config": config}
