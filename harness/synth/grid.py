"""Hexagonal Visium spot grid, tissue outline and barcodes of a synthetic slice.

Coordinates are full-resolution image pixels: ``x`` grows to the right (column,
``pxl_col_in_fullres``) and ``y`` downwards (row, ``pxl_row_in_fullres``). The
pixel in image row ``i`` and column ``j`` has its centre at ``(x, y) = (j, i)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.synth.spec import STREAM_BARCODES, STREAM_LAYOUT, stream_rng

# Visium spots are 100 µm apart centre to centre (10x Genomics Visium Spatial
# Gene Expression slides). In the DLPFC slice 151673 this is 137.7 px of the
# full-resolution image: a least-squares fit of its positions gives 68.86 px per
# array_col step and 119.8 px per array_row step.
SPOT_PITCH_UM = 100.0
SPOT_PITCH_PX = 138.0
COL_STEP_PX = SPOT_PITCH_PX / 2.0
ROW_STEP_PX = SPOT_PITCH_PX * math.sqrt(3.0) / 2.0
# Area of the hexagonal cell around one spot, in px².
SPOT_CELL_AREA_PX2 = SPOT_PITCH_PX * ROW_STEP_PX

# Tissue outline: an ellipse this much wider than high, with a wavy edge of a
# few per cent of its radius.
TISSUE_ASPECT = 1.2
TISSUE_WOBBLE_AMPLITUDE = 0.04
TISSUE_WOBBLE_WAVES = 2
# Out-of-tissue grid around the tissue: 15 % of each semi-axis plus 2 spot pitches.
GRID_MARGIN_FRACTION = 0.15
GRID_MARGIN_PITCHES = 2
# Background between the outermost grid spots and the image border, in px
# (about three spot pitches).
IMAGE_MARGIN_PX = 400

BARCODE_LENGTH = 16
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


def plane_wave(
    x: np.ndarray,
    y: np.ndarray,
    *,
    kx: float,
    ky: float,
    phase: float,
    amplitude: float = 1.0,
) -> np.ndarray:
    """Evaluate ``amplitude * sin(kx * x + ky * y + phase)`` as a separable product.

    ``x`` and ``y`` broadcast against each other. For a row vector of x and a
    column vector of y the sines, cosines and the amplitude are applied to the
    vectors only, so an image tile costs three operations per pixel instead
    of a sine per pixel. Spot arrays use the same formula, so spots and pixels
    at the same coordinates agree.
    """
    along_x = kx * x + phase
    along_y = ky * y
    return (amplitude * np.sin(along_x)) * np.cos(along_y) + (
        amplitude * np.cos(along_x)
    ) * np.sin(along_y)


@dataclass(frozen=True)
class TissueShape:
    """Outline of the tissue: a wavy ellipse.

    A point is in tissue when :meth:`distance` is at most ``threshold``.

    Attributes
    ----------
    center_x, center_y
        Centre in px.
    semi_axis_x, semi_axis_y
        Semi-axes in px.
    wobble
        ``(n_waves, 4)`` rows of ``(amplitude, kx, ky, phase)``; the edge moves
        by ``amplitude`` times the radius along each plane wave (``kx``, ``ky`` in rad/px).
    threshold
        In-tissue limit of :meth:`distance`.
    """

    center_x: float
    center_y: float
    semi_axis_x: float
    semi_axis_y: float
    wobble: np.ndarray
    threshold: float

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the elliptical radius divided by the local edge wobble.

        The value is 1 on the edge of the ellipse without wobble.
        """
        scaled_x = (x - self.center_x) / self.semi_axis_x
        scaled_y = (y - self.center_y) / self.semi_axis_y
        radius = np.sqrt(scaled_x * scaled_x + scaled_y * scaled_y)
        edge = 1.0
        for amplitude, kx, ky, phase in self.wobble:
            edge = edge + plane_wave(x, y, kx=kx, ky=ky, phase=phase, amplitude=amplitude)
        return radius / edge

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return whether each point is in tissue, broadcast over ``x`` and ``y``."""
        return self.distance(x, y) <= self.threshold


@dataclass(frozen=True)
class SpotGrid:
    """Every spot position of the capture area, in and out of tissue.

    Arrays have shape ``(n_grid,)`` and are ordered by ``(array_row, array_col)``.

    Attributes
    ----------
    array_row, array_col
        Visium array indices: even rows hold even columns, odd rows odd columns.
    x_px, y_px
        Spot centres in full-resolution px (integers, as Space Ranger 1.x writes them).
    in_tissue
        Whether the spot is under tissue; exactly ``n_spots`` are.
    barcodes
        Unique 10x-style barcodes (16 bases of ACGT and ``"-1"``).
    tissue
        The outline that selected the in-tissue spots.
    grid_shape
        ``(n_rows, n_cols)`` of the array indices.
    fullres_shape
        ``(height, width)`` of the full-resolution image in px.
    """

    array_row: np.ndarray
    array_col: np.ndarray
    x_px: np.ndarray
    y_px: np.ndarray
    in_tissue: np.ndarray
    barcodes: np.ndarray
    tissue: TissueShape
    grid_shape: tuple[int, int]
    fullres_shape: tuple[int, int]


def build_spot_grid(*, n_spots: int, seed: int) -> SpotGrid:
    """Build a hexagonal grid with exactly ``n_spots`` spots in tissue.

    The tissue ellipse has the area of ``n_spots`` hexagonal spot cells. Grid
    positions are ranked by :meth:`TissueShape.distance`, and the ``n_spots``
    closest to the centre are in tissue. The outline's threshold lies halfway
    between the last spot in and the first spot out, so pixels and spots
    agree on what is tissue.

    Parameters
    ----------
    n_spots
        Spots in tissue (validated by the caller).
    seed
        Seed of the layout and barcode streams.

    Returns
    -------
    SpotGrid
        The grid; spots outside the tissue surround it on every side.
    """
    rng = stream_rng(seed, STREAM_LAYOUT)

    semi_axis_y = math.sqrt(n_spots * SPOT_CELL_AREA_PX2 / (math.pi * TISSUE_ASPECT))
    semi_axis_x = TISSUE_ASPECT * semi_axis_y
    half_width = semi_axis_x * (1.0 + GRID_MARGIN_FRACTION) + GRID_MARGIN_PITCHES * SPOT_PITCH_PX
    half_height = semi_axis_y * (1.0 + GRID_MARGIN_FRACTION) + GRID_MARGIN_PITCHES * ROW_STEP_PX
    n_rows = 2 * math.ceil(half_height / ROW_STEP_PX) + 1
    n_cols = 2 * math.ceil(half_width / COL_STEP_PX) + 1

    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    on_lattice = (rows % 2) == (cols % 2)
    array_row = rows[on_lattice].astype(np.int64)
    array_col = cols[on_lattice].astype(np.int64)
    x_px = np.rint(IMAGE_MARGIN_PX + array_col * COL_STEP_PX).astype(np.int64)
    y_px = np.rint(IMAGE_MARGIN_PX + array_row * ROW_STEP_PX).astype(np.int64)

    center_x = IMAGE_MARGIN_PX + (n_cols - 1) * COL_STEP_PX / 2.0
    center_y = IMAGE_MARGIN_PX + (n_rows - 1) * ROW_STEP_PX / 2.0
    mean_radius = math.sqrt(semi_axis_x * semi_axis_y)
    wobble = _random_waves(
        rng,
        n_waves=TISSUE_WOBBLE_WAVES,
        amplitude=TISSUE_WOBBLE_AMPLITUDE,
        wavelength_range=(0.8 * mean_radius, 1.6 * mean_radius),
    )
    unlimited = TissueShape(center_x, center_y, semi_axis_x, semi_axis_y, wobble, math.inf)
    distance = unlimited.distance(x_px.astype(np.float64), y_px.astype(np.float64))
    order = np.argsort(distance, kind="stable")
    threshold = float((distance[order[n_spots - 1]] + distance[order[n_spots]]) / 2.0)
    tissue = TissueShape(center_x, center_y, semi_axis_x, semi_axis_y, wobble, threshold)
    in_tissue = distance <= threshold

    _check_tissue_selection(
        in_tissue=in_tissue,
        n_spots=n_spots,
        array_row=array_row,
        array_col=array_col,
        grid_shape=(n_rows, n_cols),
    )
    height = int(y_px.max()) + IMAGE_MARGIN_PX + 1
    width = int(x_px.max()) + IMAGE_MARGIN_PX + 1
    return SpotGrid(
        array_row=array_row,
        array_col=array_col,
        x_px=x_px,
        y_px=y_px,
        in_tissue=in_tissue,
        barcodes=make_barcodes(array_row.size, seed=seed),
        tissue=tissue,
        grid_shape=(n_rows, n_cols),
        fullres_shape=(height, width),
    )


def _random_waves(
    rng: np.random.Generator,
    *,
    n_waves: int,
    amplitude: float,
    wavelength_range: tuple[float, float],
) -> np.ndarray:
    """Draw ``(n_waves, 4)`` plane waves ``(amplitude, kx, ky, phase)`` in random directions."""
    wavelength = rng.uniform(*wavelength_range, size=n_waves)
    direction = rng.uniform(0.0, 2.0 * math.pi, size=n_waves)
    phase = rng.uniform(0.0, 2.0 * math.pi, size=n_waves)
    wavenumber = 2.0 * math.pi / wavelength
    return np.column_stack(
        [
            np.full(n_waves, amplitude),
            wavenumber * np.cos(direction),
            wavenumber * np.sin(direction),
            phase,
        ]
    )


def _check_tissue_selection(
    *,
    in_tissue: np.ndarray,
    n_spots: int,
    array_row: np.ndarray,
    array_col: np.ndarray,
    grid_shape: tuple[int, int],
) -> None:
    """Raise RuntimeError unless exactly ``n_spots`` are in tissue, all off the grid border."""
    n_rows, n_cols = grid_shape
    if int(in_tissue.sum()) != n_spots:
        msg = (
            f"Tissue outline selected {int(in_tissue.sum())} spots instead of {n_spots}: "
            "two grid positions share the threshold distance."
        )
        raise RuntimeError(msg)
    on_border = (
        (array_row <= 1) | (array_row >= n_rows - 2) | (array_col <= 1) | (array_col >= n_cols - 2)
    )
    if np.any(in_tissue & on_border):
        msg = f"Tissue of {n_spots} spots reaches the border of the {n_rows} x {n_cols} grid."
        raise RuntimeError(msg)


def make_barcodes(n_barcodes: int, *, seed: int) -> np.ndarray:
    """Draw ``n_barcodes`` unique 10x-style barcodes such as ``"ACGTACGTACGTACGT-1"``.

    Each barcode encodes a random 32-bit integer, two bits per base; repeated
    draws are replaced by new ones until all are unique.

    Returns
    -------
    numpy.ndarray
        ``(n_barcodes,)`` unicode strings of 18 characters.
    """
    rng = stream_rng(seed, STREAM_BARCODES)
    codes = np.empty(0, dtype=np.uint64)
    while codes.size < n_barcodes:
        draws = rng.integers(0, 2**32, size=n_barcodes - codes.size, dtype=np.uint64)
        merged = np.concatenate([codes, draws])
        _, first = np.unique(merged, return_index=True)
        codes = merged[np.sort(first)]

    shifts = np.arange(2 * (BARCODE_LENGTH - 1), -1, -2, dtype=np.uint64)
    base_index = (codes[:, None] >> shifts[None, :]) & np.uint64(3)
    letters = _BASES[base_index.astype(np.intp)]
    sequences = letters.view(f"S{BARCODE_LENGTH}").ravel().astype(f"U{BARCODE_LENGTH}")
    return np.char.add(sequences, "-1")
