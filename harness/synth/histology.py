"""H&E-like image of a synthetic slice, rendered region by region at any level.

The image is a function of full-resolution coordinates, so any region of any
level can be rendered on its own and the levels agree:

- each domain has its own eosin/haematoxylin base colour;
- nuclei are dark discs of two sizes whose densities depend on the domain.
  Their centres are a Poisson process drawn per 256 px cell of a fixed global
  lattice. A tile draws the discs of every cell it overlaps, including those
  centred in a neighbouring tile, so tiles have no seams. At the PNG levels a
  nucleus is smaller than a pixel, so those levels use each domain's expected
  nucleus coverage instead (the mean of the full-resolution texture over an area);
- a smooth stain-intensity field varies over thousands of pixels;
- zero-mean grain noise is drawn per rendered region.

The writer renders the full-resolution level one tile at a time through
:func:`iter_fullres_tiles`, so memory stays bounded for any image size.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from harness.synth._parallel import ordered_map
from harness.synth.domains import BACKGROUND, LayerModel
from harness.synth.spec import (
    DOMAIN_NAMES,
    LEVEL_SCALE,
    STREAM_GRAIN,
    STREAM_NUCLEI,
    STREAM_STAIN,
    ImageLevelName,
    stream_rng,
)

# Base RGB colour per domain (DOMAIN_NAMES order) and of the nuclei: pink
# eosin for sparse layers and white matter, more purple where cells are dense.
DOMAIN_RGB = np.array(
    [
        [236, 196, 216],  # Layer1
        [214, 160, 200],  # Layer2
        [226, 178, 208],  # Layer3
        [208, 154, 198],  # Layer4
        [222, 172, 206],  # Layer5
        [216, 166, 204],  # Layer6
        [242, 206, 222],  # WM
    ],
    dtype=np.float32,
)
NUCLEUS_RGB = np.array([72, 42, 122], dtype=np.float32)
# Glass outside the tissue: near white, with faint grain.
BACKGROUND_RGB = np.array([244, 243, 241], dtype=np.float32)

# Nucleus radii in full-resolution px (small glia, large neurons) and their
# densities per 10,000 px² in each domain (DOMAIN_NAMES order).
NUCLEUS_RADII_PX = (3, 6)
NUCLEUS_DENSITY_PER_1E4_PX2 = np.array(
    [
        [6.0, 0.5],  # Layer1
        [12.0, 5.0],  # Layer2
        [8.0, 6.0],  # Layer3
        [12.0, 3.0],  # Layer4
        [8.0, 7.0],  # Layer5
        [10.0, 4.0],  # Layer6
        [14.0, 0.3],  # WM
    ]
)
# Side of the global lattice cells that own nucleus centres, in px.
NUCLEUS_CELL_PX = 256
# Cells whose nuclei stay cached: three rows of cells across a 64,000 px wide
# image, enough for tiles rendered row by row to reuse the rows above.
NUCLEUS_CACHE_CELLS = 3 * (64_000 // NUCLEUS_CELL_PX + 4)

# Grain noise standard deviation in intensity levels (0-255).
GRAIN_SD_TISSUE = 3.0
GRAIN_SD_BACKGROUND = 1.5
# Side of the square blocks that share one grain value, in level px.
GRAIN_BLOCK_PX = 2
# Stain intensity: optical density scaled by 1 +/- STAIN_AMPLITUDE by the mean of
# sine waves along x and along y with wavelengths in STAIN_WAVELENGTH_PX.
STAIN_AMPLITUDE = 0.08
STAIN_WAVES = 3
STAIN_WAVELENGTH_PX = (3000.0, 8000.0)

TIFF_TILE_PX = 512
# PNG levels are rendered in bands of full rows with about this many pixels
# (one TIFF tile), so the float temporaries of a band stay a few MiB.
PNG_BAND_PIXELS = TIFF_TILE_PX * TIFF_TILE_PX

_LEVEL_CODE = {"fullres": 0, "hires": 1, "lowres": 2}


def _disc_kernel(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


_DISC_KERNELS = tuple(_disc_kernel(radius) for radius in NUCLEUS_RADII_PX)
# Share of pixels inside a nucleus, per domain: for Poisson centres of density
# d_k whose discs cover A_k pixels, a pixel is uncovered with probability
# exp(-sum_k d_k * A_k).
_DENSITY_PER_PX = NUCLEUS_DENSITY_PER_1E4_PX2 / 1e4
_DISC_AREAS = np.array([kernel.sum() for kernel in _DISC_KERNELS], dtype=np.float64)
NUCLEUS_COVERAGE = 1.0 - np.exp(-(_DENSITY_PER_PX * _DISC_AREAS).sum(axis=1))
_MAX_DENSITY_PER_PX = _DENSITY_PER_PX.max(axis=0)
# Reach of a nucleus beyond its centre, including the 3 x 3 edge blur.
_NUCLEUS_REACH_PX = max(NUCLEUS_RADII_PX) + 1

# Optical densities (255 - intensity) per channel, indexed by domain label;
# label -1 (background) picks the last entry.
_BASE_DENSITY = tuple(
    np.append(255.0 - DOMAIN_RGB[:, channel], 255.0 - BACKGROUND_RGB[channel]).astype(np.float32)
    for channel in range(3)
)
_NUCLEUS_DENSITY = tuple(np.float32(255.0 - value) for value in NUCLEUS_RGB)
_COVERAGE = np.append(NUCLEUS_COVERAGE, 0.0).astype(np.float32)


@dataclass(frozen=True)
class HistologyModel:
    """The H&E-like image of one slice as a function of position and level.

    Attributes
    ----------
    layers
        Domain of every position (and the tissue outline).
    seed
        Seed of the nucleus, stain and grain streams.
    stain_waves_x, stain_waves_y
        ``(STAIN_WAVES, 2)`` rows of ``(wavenumber, phase)`` of the stain waves
        along x and along y, wavenumbers in rad per full-resolution px.
    """

    layers: LayerModel
    seed: int
    stain_waves_x: np.ndarray = field(repr=False)
    stain_waves_y: np.ndarray = field(repr=False)
    # Nucleus centres of recently rendered lattice cells, oldest first.
    _cell_cache: dict[tuple[int, int], list[np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _cell_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def render(
        self, *, level: ImageLevelName, top: int, left: int, height: int, width: int
    ) -> np.ndarray:
        """Render a region of a level.

        Parameters
        ----------
        level
            Image level; its scale converts level px to full-resolution px.
        top, left
            Position of the region's first pixel, in level px.
        height, width
            Region size in level px.

        Returns
        -------
        numpy.ndarray
            ``(height, width, 3)`` uint8 RGB.
        """
        scale = LEVEL_SCALE[level]
        y = ((top + np.arange(height, dtype=np.float64)) / scale)[:, None]
        x = ((left + np.arange(width, dtype=np.float64)) / scale)[None, :]
        grain = self._grain(level=level, top=top, left=left, height=height, width=width)

        labels = self.layers.label_grid(x, y)
        if isinstance(labels, np.ndarray) and not np.any(labels != BACKGROUND):
            labels = BACKGROUND
        if isinstance(labels, int) and labels == BACKGROUND:
            grain *= np.float32(GRAIN_SD_BACKGROUND)
            return _compose(labels=labels, nucleus=0.0, gain=1.0, grain=grain)

        if level == "fullres":
            nucleus = self._nucleus_alpha(top=top, left=left, height=height, width=width)
        else:
            nucleus = _COVERAGE[labels]
        # The stain field scales optical density in tissue only.
        gain = 1.0 + np.float32(STAIN_AMPLITUDE) * self._stain_field(x, y)
        if isinstance(labels, np.ndarray):
            tissue = labels != BACKGROUND
            nucleus = nucleus * tissue
            gain = np.where(tissue, gain, np.float32(1.0))
            grain *= np.where(tissue, np.float32(GRAIN_SD_TISSUE), np.float32(GRAIN_SD_BACKGROUND))
        else:
            grain *= np.float32(GRAIN_SD_TISSUE)
        return _compose(labels=labels, nucleus=nucleus, gain=gain, grain=grain)

    def _grain(
        self, *, level: ImageLevelName, top: int, left: int, height: int, width: int
    ) -> np.ndarray:
        """Draw unit-variance grain in blocks of ``GRAIN_BLOCK_PX`` px, ``(height, width)`` float32.

        Blocks of 2 x 2 px look like fine tissue texture and compress better
        than independent pixels. At zlib level 1 a flat tile with this grain
        compresses to 11 % of its raw size, and to 29 % with per-pixel grain.
        """
        rng = stream_rng(self.seed, STREAM_GRAIN, _LEVEL_CODE[level], top, left)
        block = GRAIN_BLOCK_PX
        coarse = rng.standard_normal((-(-height // block), -(-width // block)), dtype=np.float32)
        grain = np.repeat(np.repeat(coarse, block, axis=0), block, axis=1)
        return grain[:height, :width]

    def _stain_field(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the stain field in [-1, 1] as float32, broadcast over ``x`` and ``y``.

        The field is the mean of sine waves along x and sine waves along y, so
        a region costs one addition per pixel.
        """
        along_x = np.zeros(x.shape, dtype=np.float64)
        along_y = np.zeros(y.shape, dtype=np.float64)
        for wavenumber, phase in self.stain_waves_x:
            along_x += np.sin(wavenumber * x + phase)
        for wavenumber, phase in self.stain_waves_y:
            along_y += np.sin(wavenumber * y + phase)
        total = len(self.stain_waves_x) + len(self.stain_waves_y)
        return (along_x / total).astype(np.float32) + (along_y / total).astype(np.float32)

    def nucleus_centers(self, cell_row: int, cell_col: int) -> list[np.ndarray]:
        """Return the nucleus centres owned by one lattice cell, per nucleus size.

        Candidates are drawn at the highest density of each size and thinned
        to the density of the domain under each centre (zero outside tissue).
        Neighbouring tiles share cells, so the last ``NUCLEUS_CACHE_CELLS``
        cells are kept.

        Returns
        -------
        list of numpy.ndarray
            One ``(n_k, 2)`` int64 array of ``(row, col)`` in full-resolution
            px per entry of ``NUCLEUS_RADII_PX``.
        """
        key = (cell_row, cell_col)
        with self._cell_lock:
            cached = self._cell_cache.get(key)
        if cached is not None:
            return cached
        # Threads may draw the same cell twice; both draws are identical.
        centers = self._draw_nucleus_centers(cell_row, cell_col)
        with self._cell_lock:
            self._cell_cache[key] = centers
            while len(self._cell_cache) > NUCLEUS_CACHE_CELLS:
                self._cell_cache.pop(next(iter(self._cell_cache)))
        return centers

    def _draw_nucleus_centers(self, cell_row: int, cell_col: int) -> list[np.ndarray]:
        rng = stream_rng(self.seed, STREAM_NUCLEI, cell_row, cell_col)
        cell_area = NUCLEUS_CELL_PX * NUCLEUS_CELL_PX
        origin = np.array([cell_row, cell_col], dtype=np.float64) * NUCLEUS_CELL_PX
        centers = []
        for size, max_density in enumerate(_MAX_DENSITY_PER_PX):
            n_candidates = rng.poisson(max_density * cell_area)
            points = origin + rng.random((n_candidates, 2)) * NUCLEUS_CELL_PX
            acceptance_draw = rng.random(n_candidates) * max_density
            labels = self.layers.label_at(points[:, 1], points[:, 0])
            density = np.where(labels >= 0, _DENSITY_PER_PX[labels, size], 0.0)
            accepted = points[acceptance_draw < density]
            centers.append(np.floor(accepted).astype(np.int64))
        return centers

    def _nucleus_alpha(self, *, top: int, left: int, height: int, width: int) -> np.ndarray:
        """Render nucleus opacity in [0, 1] for a full-resolution region.

        Returns
        -------
        numpy.ndarray
            ``(height, width)`` float32.
        """
        reach = _NUCLEUS_REACH_PX
        first_row = max(0, (top - reach) // NUCLEUS_CELL_PX)
        last_row = (top + height + reach - 1) // NUCLEUS_CELL_PX
        first_col = max(0, (left - reach) // NUCLEUS_CELL_PX)
        last_col = (left + width + reach - 1) // NUCLEUS_CELL_PX

        padded_shape = (height + 2 * reach, width + 2 * reach)
        seeds = [np.zeros(padded_shape, dtype=np.uint8) for _ in NUCLEUS_RADII_PX]
        for cell_row in range(first_row, last_row + 1):
            for cell_col in range(first_col, last_col + 1):
                for size, centers in enumerate(self.nucleus_centers(cell_row, cell_col)):
                    rows = centers[:, 0] - top + reach
                    cols = centers[:, 1] - left + reach
                    inside = (rows >= 0) & (rows < padded_shape[0])
                    inside &= (cols >= 0) & (cols < padded_shape[1])
                    seeds[size][rows[inside], cols[inside]] = 1
        mask = np.zeros(padded_shape, dtype=np.uint8)
        for size_seeds, kernel in zip(seeds, _DISC_KERNELS, strict=True):
            mask |= cv2.dilate(size_seeds, kernel)
        alpha = cv2.blur(mask.astype(np.float32), (3, 3))
        return alpha[reach : reach + height, reach : reach + width]


def build_histology_model(layers: LayerModel, *, seed: int) -> HistologyModel:
    """Draw the stain field of a slice and bundle it with its layers."""
    rng = stream_rng(seed, STREAM_STAIN)
    waves = []
    for _ in range(2):
        wavelength = rng.uniform(*STAIN_WAVELENGTH_PX, size=STAIN_WAVES)
        phase = rng.uniform(0.0, 2.0 * math.pi, size=STAIN_WAVES)
        waves.append(np.column_stack([2.0 * math.pi / wavelength, phase]))
    return HistologyModel(layers=layers, seed=seed, stain_waves_x=waves[0], stain_waves_y=waves[1])


def level_shape(level: ImageLevelName, fullres_shape: tuple[int, int]) -> tuple[int, int]:
    """Return ``(height, width)`` of a level in px: the full-resolution size times its scale."""
    scale = LEVEL_SCALE[level]
    height, width = fullres_shape
    return max(1, round(height * scale)), max(1, round(width * scale))


def iter_fullres_tiles(
    model: HistologyModel,
    fullres_shape: tuple[int, int],
    *,
    tile: int = TIFF_TILE_PX,
    workers: int = 1,
) -> Iterator[np.ndarray]:
    """Yield full-resolution tiles row by row, as ``tifffile.imwrite`` expects them.

    Every tile is ``(tile, tile, 3)`` uint8; tiles on the right and bottom
    edges are rendered past the image border, and TIFF readers crop them.
    ``workers`` threads render tiles ahead (at most ``2 * workers`` pending).
    """
    height, width = fullres_shape
    origins = ((top, left) for top in range(0, height, tile) for left in range(0, width, tile))

    def render_tile(origin: tuple[int, int]) -> np.ndarray:
        top, left = origin
        return model.render(level="fullres", top=top, left=left, height=tile, width=tile)

    yield from ordered_map(render_tile, origins, workers=workers)


def render_level(
    model: HistologyModel,
    level: ImageLevelName,
    fullres_shape: tuple[int, int],
    *,
    workers: int = 1,
) -> np.ndarray:
    """Render a whole PNG level in bands of about ``PNG_BAND_PIXELS`` pixels.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8 RGB of :func:`level_shape`.
    """
    height, width = level_shape(level, fullres_shape)
    image = np.empty((height, width, 3), dtype=np.uint8)

    band_rows = max(1, PNG_BAND_PIXELS // width)

    def render_band(top: int) -> np.ndarray:
        rows = min(band_rows, height - top)
        return model.render(level=level, top=top, left=0, height=rows, width=width)

    tops = range(0, height, band_rows)
    for top, band in zip(tops, ordered_map(render_band, tops, workers=workers), strict=True):
        image[top : top + band.shape[0]] = band
    return image


def _compose(
    *,
    labels: np.ndarray | int,
    nucleus: np.ndarray | float,
    gain: np.ndarray | float,
    grain: np.ndarray,
) -> np.ndarray:
    """Blend base and nucleus colours in optical density and add grain.

    Each channel is ``255 - gain * ((1 - nucleus) * od_base + nucleus * od_nucleus)
    + grain``, where ``od = 255 - intensity``, rounded half up and clipped to
    uint8. Channels are computed as separate planes, which is several times
    faster than broadcasting over an RGB axis.

    Parameters
    ----------
    labels
        ``(height, width)`` labels, or one label for the whole region (``-1`` is background).
    nucleus
        Nucleus opacity in [0, 1], per pixel or for the whole region.
    gain
        Stain gain of the optical density, per pixel or for the whole region.
    grain
        ``(height, width)`` grain in intensity levels.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8 RGB.
    """
    base_gain = gain * (1.0 - nucleus)
    nucleus_gain = gain * nucleus
    # Adding 0.5 before the truncating cast rounds half up.
    offset = grain + np.float32(255.5)
    planes = []
    for channel in range(3):
        plane = offset - base_gain * _BASE_DENSITY[channel][labels]
        if not np.isscalar(nucleus) or nucleus != 0.0:
            plane -= nucleus_gain * _NUCLEUS_DENSITY[channel]
        np.clip(plane, 0.0, 255.0, out=plane)
        planes.append(plane.astype(np.uint8))
    return cv2.merge(planes)
