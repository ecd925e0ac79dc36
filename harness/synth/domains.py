"""Layered cortex-like domains with curved boundaries.

The layers are bands of a "cortical depth" that grows from the pial surface
(Layer1) towards the white matter (WM). Depth is the distance to an arc centre
outside the tissue, so every boundary is a curved arc; two plane waves along
the arc bend the boundaries and make the layer thicknesses vary along it.
:meth:`LayerModel.label_at` evaluates the same functions on spot centres and on
image pixels, so a spot's label is the label of the pixel under its centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.synth.grid import SpotGrid, TissueShape, plane_wave
from harness.synth.spec import DOMAIN_NAMES, STREAM_LABELS, STREAM_LAYOUT, stream_rng

# Share of in-tissue spots per domain, in DOMAIN_NAMES order: the layer counts
# of DLPFC slice 151673 (spatialLIBD layer_guess: 273, 253, 989, 218, 673, 692
# and 513 spots of 3611 annotated).
DOMAIN_SPOT_COUNTS_151673 = np.array([273, 253, 989, 218, 673, 692, 513], dtype=np.float64)
DOMAIN_FRACTIONS = DOMAIN_SPOT_COUNTS_151673 / DOMAIN_SPOT_COUNTS_151673.sum()

# Distance from the tissue centre to the arc centre, in mean tissue radii: the
# layers bend by about a quarter of the tissue height across the tissue.
ARC_CENTER_DISTANCE = 1.8
# Boundary bend along the arc, in mean tissue radii, and its wavelength range.
BOUNDARY_WOBBLE = 0.05
BOUNDARY_WAVELENGTH = (1.0, 2.0)
# Relative change of layer thickness along the arc (a 15 % thicker cortex at
# one end than the other).
THICKNESS_MODULATION = 0.15

# Share of in-tissue spots without a label: 28 of the 3639 spots of DLPFC
# slice 151673 are NA in spatialLIBD's layer_guess.
NA_FRACTION = 28 / 3639

BACKGROUND = -1


@dataclass(frozen=True)
class LayerModel:
    """Domain of any point of the slice.

    Attributes
    ----------
    tissue
        Outline of the tissue; points outside are background.
    arc_center_x, arc_center_y
        Centre of the layer arcs in px, outside the tissue on the white-matter side.
    tangent_x, tangent_y
        Unit vector along the arcs at the tissue centre.
    arc_radius
        Distance from the arc centre to the tissue centre in px.
    bend
        ``(amplitude_px, kx, ky, phase)`` of the wave that bends all boundaries.
    thickness
        ``(relative_amplitude, kx, ky, phase)`` of the wave that stretches the layers.
    thresholds
        ``(n_domains - 1,)`` increasing depth limits between consecutive domains.
    """

    tissue: TissueShape
    arc_center_x: float
    arc_center_y: float
    tangent_x: float
    tangent_y: float
    arc_radius: float
    bend: tuple[float, float, float, float]
    thickness: tuple[float, float, float, float]
    thresholds: np.ndarray

    def depth(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the cortical depth in px (larger is deeper), broadcast over ``x`` and ``y``."""
        dx = x - self.arc_center_x
        dy = y - self.arc_center_y
        radius = np.sqrt(dx * dx + dy * dy)
        amplitude, kx, ky, phase = self.bend
        bent = radius + amplitude * plane_wave(dx, dy, kx=kx, ky=ky, phase=phase)
        stretch, kx, ky, phase = self.thickness
        wave = plane_wave(dx, dy, kx=kx, ky=ky, phase=phase)
        stretched = bent + (radius - self.arc_radius) * stretch * wave
        # The arc centre lies beyond the white matter, so depth grows towards it.
        return -stretched

    def label_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return domain indices into ``DOMAIN_NAMES``, ``-1`` outside the tissue.

        Parameters
        ----------
        x, y
            Coordinates in full-resolution px that broadcast together, e.g.
            ``(n,)`` spot arrays, or a ``(1, width)`` row and a ``(height, 1)`` column.

        Returns
        -------
        numpy.ndarray
            int8 labels of the broadcast shape.
        """
        labels = np.searchsorted(self.thresholds, self.depth(x, y), side="right")
        labels = labels.astype(np.int8)
        labels[~self.tissue.contains(x, y)] = BACKGROUND
        return labels


def build_layer_model(grid: SpotGrid, *, seed: int) -> LayerModel:
    """Fit layer boundaries so the in-tissue spots split as in ``DOMAIN_FRACTIONS``.

    Each threshold lies halfway between the depths of the last spot of one
    domain and the first spot of the next, so domain sizes match the fractions
    up to rounding.
    """
    rng = stream_rng(seed, STREAM_LAYOUT, 1)
    tissue = grid.tissue
    mean_radius = math.sqrt(tissue.semi_axis_x * tissue.semi_axis_y)

    direction = rng.uniform(0.0, 2.0 * math.pi)
    arc_radius = ARC_CENTER_DISTANCE * mean_radius
    arc_center_x = tissue.center_x + arc_radius * math.cos(direction)
    arc_center_y = tissue.center_y + arc_radius * math.sin(direction)
    tangent_x, tangent_y = -math.sin(direction), math.cos(direction)

    waves = []
    for amplitude in (BOUNDARY_WOBBLE * mean_radius, THICKNESS_MODULATION):
        wavelength = rng.uniform(*BOUNDARY_WAVELENGTH) * mean_radius
        wavenumber = 2.0 * math.pi / wavelength
        phase = rng.uniform(0.0, 2.0 * math.pi)
        waves.append((amplitude, wavenumber * tangent_x, wavenumber * tangent_y, phase))

    model = LayerModel(
        tissue=tissue,
        arc_center_x=arc_center_x,
        arc_center_y=arc_center_y,
        tangent_x=tangent_x,
        tangent_y=tangent_y,
        arc_radius=arc_radius,
        bend=waves[0],
        thickness=waves[1],
        thresholds=np.empty(0),
    )
    x = grid.x_px[grid.in_tissue].astype(np.float64)
    y = grid.y_px[grid.in_tissue].astype(np.float64)
    depths = np.sort(model.depth(x, y))
    cut = np.rint(np.cumsum(DOMAIN_FRACTIONS)[:-1] * depths.size).astype(np.intp)
    cut = np.clip(cut, 1, depths.size - 1)
    thresholds = (depths[cut - 1] + depths[cut]) / 2.0
    return LayerModel(
        tissue=tissue,
        arc_center_x=arc_center_x,
        arc_center_y=arc_center_y,
        tangent_x=tangent_x,
        tangent_y=tangent_y,
        arc_radius=arc_radius,
        bend=waves[0],
        thickness=waves[1],
        thresholds=thresholds,
    )


def choose_na_spots(n_spots: int, *, seed: int) -> np.ndarray:
    """Pick the in-tissue spots whose ground-truth label is withheld as ``"NA"``.

    Returns
    -------
    numpy.ndarray
        ``(n_spots,)`` bool mask with ``max(1, round(NA_FRACTION * n_spots))`` true entries.
    """
    rng = stream_rng(seed, STREAM_LABELS)
    n_na = max(1, round(NA_FRACTION * n_spots))
    mask = np.zeros(n_spots, dtype=bool)
    mask[rng.choice(n_spots, size=n_na, replace=False)] = True
    return mask
