"""STAIG's frequency-domain patch filter: a box low-pass of the grey patch, blurred.

Per 512 x 512 patch:

1. grey level with OpenCV's weights 0.299 R + 0.587 G + 0.114 B (see
   :data:`GrayscaleMethod` for the two roundings);
2. ``cv2.GaussianBlur`` 5 x 5, sigma 0 (OpenCV derives sigma 1.1 from the size);
3. ``fft2``, ``fftshift``, keep rows and columns ``245 <= i < 275`` of the shifted
   spectrum (zero elsewhere), ``ifftshift``, ``ifft2``, absolute value;
4. ``cv2.GaussianBlur`` 15 x 15, sigma 0 (sigma 2.6), on the float64 image;
5. cast to float32 and convert to uint8 as OpenCV's ``saturate_cast`` does
   (round half to even, clip to 0..255), replicated to three channels.

Step 5 is what STAIG gets when it writes the float32 RGB image with
``cv2.imwrite`` to PNG: OpenCV converts unsupported depths with
``Mat.convertTo(CV_8U)``. Checked with OpenCV 5.1 ``cv2.imencode``, and
pinned by a test.

The band rows and columns are the low frequencies ``-11 <= k < 19`` cycles per
patch, so the filter is defined for 512 px patches only.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from harness.errors import InputError

logger = logging.getLogger(__name__)

PATCH_SIZE_PX = 512
"""Patch side the band is defined for (STAIG resizes every window to 512 px)."""

BAND_START = 245
BAND_STOP = 275
"""Kept rows and columns ``BAND_START <= i < BAND_STOP`` of the fftshift-ed spectrum (STAIG's values)."""

PRE_BLUR_KSIZE = (5, 5)
POST_BLUR_KSIZE = (15, 15)

GrayscaleMethod = Literal["libpng", "cvtcolor"]
"""RGB-to-grey conversion; both methods use OpenCV's weights 0.299, 0.587, 0.114.

``"libpng"``
    STAIG's path: it saves each patch as PNG and reads it back with
    ``cv2.imread(path, IMREAD_GRAYSCALE)``, so the PNG decoder converts with
    15-bit fixed-point weights and truncates:
    ``(9797 R + 19234 G + 3737 B) >> 15``. Checked against OpenCV 5.1's
    decoder and pinned by a test. NOTE: STAIG pins OpenCV 4.7, whose
    decoder was not run here.
``"cvtcolor"``
    ``cv2.cvtColor(RGB2GRAY)``: 14-bit weights with rounding. On random RGB it
    is one grey level higher than ``"libpng"`` on about half of the pixels.
"""

DEFAULT_GRAYSCALE: GrayscaleMethod = "libpng"

# floor(w * 32768) for red (0.299) and green (0.587); blue gets the rest of 32768.
_LIBPNG_WEIGHTS = (9797, 19234, 3737)
_LIBPNG_SHIFT = 15

# Patches per FFT batch; 8 complex128 spectra of 512 x 512 px are 34 MB. Batches
# of 16 were not faster on a 2-core CPU.
_FFT_CHUNK = 8


def to_grayscale(patches: NDArray[np.uint8], *, method: GrayscaleMethod = DEFAULT_GRAYSCALE) -> NDArray[np.uint8]:
    """Convert ``(n, h, w, 3)`` uint8 RGB patches to ``(n, h, w)`` uint8 grey.

    Parameters
    ----------
    patches
        RGB patches.
    method
        See :data:`GrayscaleMethod`. Default :data:`DEFAULT_GRAYSCALE`.
    """
    if method == "libpng":
        red, green, blue = _LIBPNG_WEIGHTS
        weighted = (
            patches[..., 0].astype(np.uint32) * red
            + patches[..., 1].astype(np.uint32) * green
            + patches[..., 2].astype(np.uint32) * blue
        )
        return (weighted >> _LIBPNG_SHIFT).astype(np.uint8)
    if method == "cvtcolor":
        return np.stack([cv2.cvtColor(np.ascontiguousarray(p), cv2.COLOR_RGB2GRAY) for p in patches])
    msg = f"Unknown grayscale method {method!r}; expected 'libpng' or 'cvtcolor'."
    raise InputError(msg)


def lowpass_band(grey: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Apply the box low-pass to ``(n, 512, 512)`` grey images and return ``|ifft2|``.

    The result equals, bit for bit, the per-image
    ``abs(ifft2(ifftshift(fftshift(fft2(x)) * mask)))`` of numpy's pocketfft.
    ``fft2`` transforms the last axis first, so only the 30 kept columns need
    the second pass. The inverse needs its row pass only on the 30 kept rows.
    The last pass runs on a transposed, contiguous array, which is faster than
    strided access.

    Returns
    -------
    ``(n, 512, 512)`` float64.
    """
    band = (np.arange(BAND_START, BAND_STOP) - PATCH_SIZE_PX // 2) % PATCH_SIZE_PX  # unshifted indices
    n_band = len(band)
    n_images = grey.shape[0]

    rows = np.fft.fft(grey, axis=-1)[:, :, band]
    spectrum = np.fft.fft(rows, axis=-2)[:, band, :]

    row_pass = np.zeros((n_images, n_band, PATCH_SIZE_PX), dtype=np.complex128)
    row_pass[:, :, band] = spectrum
    row_pass = np.fft.ifft(row_pass, axis=-1)

    transposed = np.zeros((n_images, PATCH_SIZE_PX, PATCH_SIZE_PX), dtype=np.complex128)
    transposed[:, :, band] = row_pass.swapaxes(-1, -2)
    return np.abs(np.fft.ifft(transposed, axis=-1)).swapaxes(-1, -2)


def saturate_uint8(image: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Convert to uint8 like OpenCV's ``saturate_cast``: round half to even, clip to 0..255."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def filter_patches(
    patches: NDArray[np.uint8],
    *,
    grayscale: GrayscaleMethod = DEFAULT_GRAYSCALE,
) -> NDArray[np.uint8]:
    """Filter ``(n_spots, 512, 512, 3)`` uint8 RGB patches as STAIG does.

    The FFTs run on chunks of :data:`_FFT_CHUNK` patches; the two Gaussian
    blurs loop over patches because ``cv2.GaussianBlur`` takes one image. The
    input may be a read-only memory map; it is read chunk by chunk.

    Parameters
    ----------
    patches
        RGB patches.
    grayscale
        See :data:`GrayscaleMethod`. Default :data:`DEFAULT_GRAYSCALE`.

    Returns
    -------
    ``(n_spots, 512, 512, 3)`` uint8, the filtered grey image in all three channels.

    Raises
    ------
    InputError
        When the patches are not uint8 of shape ``(n, 512, 512, 3)``.
    """
    shape = tuple(patches.shape)
    expected = (PATCH_SIZE_PX, PATCH_SIZE_PX, 3)
    if patches.ndim != 4 or shape[1:] != expected or patches.dtype != np.uint8:
        msg = (
            f"Invalid patches: shape {shape}, dtype {patches.dtype}; the frequency filter "
            f"expects uint8 of shape (n_spots, {PATCH_SIZE_PX}, {PATCH_SIZE_PX}, 3) because its "
            f"band {BAND_START} <= i < {BAND_STOP} is defined for {PATCH_SIZE_PX} px patches. "
            f"Cut the patches with patch_size {PATCH_SIZE_PX}."
        )
        raise InputError(msg)

    started = time.perf_counter()
    n_spots = shape[0]
    filtered = np.empty((n_spots, *expected), dtype=np.uint8)
    for start in range(0, n_spots, _FFT_CHUNK):
        chunk = np.asarray(patches[start:start + _FFT_CHUNK])
        grey = to_grayscale(chunk, method=grayscale)
        blurred = np.stack([cv2.GaussianBlur(image, PRE_BLUR_KSIZE, 0) for image in grey])
        lowpass = lowpass_band(blurred)
        for offset, image in enumerate(lowpass):
            smooth = cv2.GaussianBlur(np.ascontiguousarray(image), POST_BLUR_KSIZE, 0)
            filtered[start + offset] = saturate_uint8(smooth.astype(np.float32))[:, :, None]

    logger.info("Filtered %d patches (%.2f s)", n_spots, time.perf_counter() - started)
    return filtered
