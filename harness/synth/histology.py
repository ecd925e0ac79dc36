"""H&E-like image of a synthetic slice, rendered region by region at any level.

The image is a function of full-resolution coordinates, so any region of any
level can be rendered on its own and the levels agree:

- each domain has its own eosin/haematoxylin base colour;
- nuclei are dark discs of two sizes whose densities depend on the domain.
  Their centres are a Poisson process drawn per 256 px cell of a fixed global
  lattice, so a tile sees the nuclei of its neighbours and has no seams. At the
  PNG levels a nucleus is smaller than a pixel, so those levels use each
  domain's expected nucleus coverage instead (the mean of the full-resolution
  texture over an area);
- a smooth stain-intensity field varies over thousands of pixels;
- zero-mean grain noise is drawn per rendered region.

Only :func:`iter_fullres_tiles` touches the full-resolution level, one tile at
a time, so memory stays bounded for any image size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from harness.synth.domains import LayerModel
from harness.synth.grid import plane_wave
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

# Grain noise standard deviation in intensity levels (0-255).
GRAIN_SD_TISSUE = 3.0
GRAIN_SD_BACKGROUND = 1.5
# Stain intensity: optical density scaled by 1 +/- STAIN_AMPLITUDE by the mean of
# a few plane waves with wavelengths in STAIN_WAVELENGTH_PX.
STAIN_AMPLITUDE = 0.08
STAIN_WAVES = 3
STAIN_WAVELENGTH_PX = (3000.0, 8000.0)

TIFF_TILE_PX = 512
PNG_BAND_ROWS = 256

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

# Palette rows indexed by domain label; label -1 (background) picks the last row.
_PALETTE = np.vstack([DOMAIN_RGB, BACKGROUND_RGB[None, :]])
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
    stain_waves
        ``(STAIN_WAVES, 3)`` rows of ``(kx, ky, phase)`` in rad/px of full resolution.
    """

    layers: LayerModel
    seed: int
    stain_waves: np.ndarray = field(repr=False)

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
        labels = self.layers.label_at(x, y)
        tissue = labels >= 0

        grain_rng = stream_rng(self.seed, STREAM_GRAIN, _LEVEL_CODE[level], top, left)
        grain = grain_rng.standard_normal((height, width), dtype=np.float32)
        if not tissue.any():
            rgb = BACKGROUND_RGB + (GRAIN_SD_BACKGROUND * grain)[..., None]
            return _to_uint8(rgb)

        if level == "fullres":
            nucleus = self._nucleus_alpha(top=top, left=left, height=height, width=width)
            nucleus *= tissue
        else:
            nucleus = _COVERAGE[labels]
        base = _PALETTE[labels]
        rgb = base + (NUCLEUS_RGB - base) * nucleus[..., None]

        # Scale the optical density (255 - intensity) by the stain field in tissue.
        stain = np.float32(STAIN_AMPLITUDE) * self._stain_field(x, y).astype(np.float32)
        gain = 1.0 + stain * tissue
        rgb = 255.0 - (255.0 - rgb) * gain[..., None]
        grain *= np.where(tissue, np.float32(GRAIN_SD_TISSUE), np.float32(GRAIN_SD_BACKGROUND))
        rgb += grain[..., None]
        return _to_uint8(rgb)

    def _stain_field(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Mean of the stain plane waves, in [-1, 1], broadcast over ``x`` and ``y``."""
        total = 0.0
        for kx, ky, phase in self.stain_waves:
            total = total + plane_wave(x, y, kx=kx, ky=ky, phase=phase)
        return total / len(self.stain_waves)

    def nucleus_centers(self, cell_row: int, cell_col: int) -> list[np.ndarray]:
        """Return the nucleus centres owned by one lattice cell, per nucleus size.

        Candidates are drawn at the highest density of each size and thinned
        to the density of the domain under each centre (zero outside tissue).

        Returns
        -------
        list of numpy.ndarray
            One ``(n_k, 2)`` int64 array of ``(row, col)`` in full-resolution
            px per entry of ``NUCLEUS_RADII_PX``.
        """
        rng = stream_rng(self.seed, STREAM_NUCLEI, cell_row, cell_col)
        cell_area = NUCLEUS_CELL_PX * NUCLEUS_CELL_PX
        origin = np.array([cell_row, cell_col], dtype=np.float64) * NUCLEUS_CELL_PX
        centers = []
        for size, max_density in enumerate(_MAX_DENSITY_PER_PX):
            n_candidates = rng.poisson(max_density * cell_area)
            points = origin + rng.random((n_candidates, 2)) * NUCLEUS_CELL_PX
            accept = rng.random(n_candidates) * max_density
            labels = self.layers.label_at(points[:, 1], points[:, 0])
            density = np.where(labels >= 0, _DENSITY_PER_PX[labels, size], 0.0)
            kept = points[accept < density]
            centers.append(np.floor(kept).astype(np.int64))
        return centers

    def _nucleus_alpha(self, *, top: int, left: int, height: int, width: int) -> np.ndarray:
        """Render nucleus opacity in [0, 1] for a full-resolution region, ``(height, width)``."""
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
                    inside = (
                        (rows >= 0) & (rows < padded_shape[0]) & (cols >= 0) & (cols < padded_shape[1])
                    )
                    seeds[size][rows[inside], cols[inside]] = 1
        mask = np.zeros(padded_shape, dtype=np.uint8)
        for size_seeds, kernel in zip(seeds, _DISC_KERNELS, strict=True):
            mask |= cv2.dilate(size_seeds, kernel)
        alpha = cv2.blur(mask.astype(np.float32), (3, 3))
        return alpha[reach : reach + height, reach : reach + width]


def build_histology_model(layers: LayerModel, *, seed: int) -> HistologyModel:
    """Draw the stain field of a slice and bundle it with its layers."""
    rng = stream_rng(seed, STREAM_STAIN)
    wavelength = rng.uniform(*STAIN_WAVELENGTH_PX, size=STAIN_WAVES)
    direction = rng.uniform(0.0, 2.0 * math.pi, size=STAIN_WAVES)
    phase = rng.uniform(0.0, 2.0 * math.pi, size=STAIN_WAVES)
    wavenumber = 2.0 * math.pi / wavelength
    waves = np.column_stack(
        [wavenumber * np.cos(direction), wavenumber * np.sin(direction), phase]
    )
    return HistologyModel(layers=layers, seed=seed, stain_waves=waves)


def level_shape(level: ImageLevelName, fullres_shape: tuple[int, int]) -> tuple[int, int]:
    """Return ``(height, width)`` of a level in px: the full-resolution size times its scale."""
    scale = LEVEL_SCALE[level]
    height, width = fullres_shape
    return max(1, round(height * scale)), max(1, round(width * scale))


def iter_fullres_tiles(
    model: HistologyModel, fullres_shape: tuple[int, int], *, tile: int = TIFF_TILE_PX
) -> Iterator[np.ndarray]:
    """Yield full-resolution tiles row by row, as ``tifffile.imwrite`` expects them.

    Every tile is ``(tile, tile, 3)`` uint8; tiles on the right and bottom
    edges are rendered past the image border, and TIFF readers crop them.
    """
    height, width = fullres_shape
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            yield model.render(level="fullres", top=top, left=left, height=tile, width=tile)


def render_level(model: HistologyModel, level: ImageLevelName, fullres_shape: tuple[int, int]):
    """Render a whole PNG level in bands of ``PNG_BAND_ROWS`` rows.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8 RGB of :func:`level_shape`.
    """
    height, width = level_shape(level, fullres_shape)
    image = np.empty((height, width, 3), dtype=np.uint8)
    for top in range(0, height, PNG_BAND_ROWS):
        rows = min(PNG_BAND_ROWS, height - top)
        image[top : top + rows] = model.render(
            level=level, top=top, left=0, height=rows, width=width
        )
    return image


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
