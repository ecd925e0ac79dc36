"""Layered cortex-like domains with curved boundaries.

The layers are bands of a "cortical depth" that grows from the pial surface
(Layer1) towards the white matter (WM). Depth follows the distance to an arc
centre outside the tissue, so every boundary is a curved arc. Two plane waves
along the arc bend the boundaries and make the layer thicknesses vary along it.
:meth:`LayerModel.label_at` evaluates the same functions on spot centres and on
image pixels, so a spot's label is the label of the pixel under its centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from harness.synth.grid import SpotGrid, TissueShape, plane_wave
from harness.synth.spec import DOMAIN_NAMES, STREAM_LABELS, STREAM_LAYOUT, stream_rng

# Share of in-tissue spots per domain, in DOMAIN_NAMES order: the layer counts
# of DLPFC slice 151673 (spatialLIBD layer_guess: 273, 253, 989, 218, 673, 692
# and 513 spots of 3611 annotated).
DOMAIN_SPOT_COUNTS_151673 = np.array([273, 253, 989, 218, 673, 692, 513], dtype=np.float64)
DOMAIN_FRACTIONS = DOMAIN_SPOT_COUNTS_151673 / DOMAIN_SPOT_COUNTS_151673.sum()

# Distance from the tissue centre to the arc centre, in mean tissue radii R:
# the boundary through the tissue centre sags by 0.3 R over a chord of 2 R.
ARC_CENTER_DISTANCE = 1.8
# Amplitude of the boundary bend and the wavelength range of the bend and
# thickness waves, in mean tissue radii. Within 1.2 R of the tissue centre the
# waves change the depth by at most 0.9 px per px (see _depth_lipschitz). The
# radius changes by 1 px per px, so depth keeps growing towards the arc centre
# and each layer stays one band.
BOUNDARY_WOBBLE = 0.05
BOUNDARY_WAVELENGTH = (2.0, 3.0)
# Relative change of layer thickness along the arc: layers are up to 15 %
# thicker or thinner than at the tissue centre.
THICKNESS_MODULATION = 0.15

# Share of in-tissue spots without a label: 28 of the 3639 spots of DLPFC
# slice 151673 are NA in spatialLIBD's layer_guess.
NA_FRACTION = 28 / 3639

BACKGROUND = -1

# Margins of LayerModel.constant_label against floating-point rounding: bounds
# are inflated by a relative 1e-6 and thresholds widened by these absolute amounts.
_LIPSCHITZ_SAFETY = 1.0 + 1e-6
_DEPTH_EPSILON_PX = 1e-6
_DISTANCE_EPSILON = 1e-9
# Tissue status of a box in LayerModel._tissue_status.
_INSIDE, _OUTSIDE, _UNKNOWN = 1, -1, 0


class _Box:
    """Axis-aligned box in full-resolution px, with its centre and half diagonal."""

    def __init__(self, x_min: float, x_max: float, y_min: float, y_max: float) -> None:
        self.center_x = np.array([(x_min + x_max) / 2.0])
        self.center_y = np.array([(y_min + y_max) / 2.0])
        self.reach = math.hypot((x_max - x_min) / 2.0, (y_max - y_min) / 2.0)


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
        bent = radius + plane_wave(dx, dy, kx=kx, ky=ky, phase=phase, amplitude=amplitude)
        stretch, kx, ky, phase = self.thickness
        wave = plane_wave(dx, dy, kx=kx, ky=ky, phase=phase, amplitude=stretch)
        stretched = bent + (radius - self.arc_radius) * wave
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
            int8 labels of the broadcast shape: the number of thresholds at or
            below the depth (``numpy.searchsorted(..., side="right")``).
        """
        labels = self._depth_labels(self.depth(x, y))
        labels[~self.tissue.contains(x, y)] = BACKGROUND
        return labels

    def constant_label(
        self, *, x_min: float, x_max: float, y_min: float, y_max: float
    ) -> int | None:
        """Return the label of a box when it provably has one label, else ``None``.

        The depth and the tissue distance are evaluated at the box centre only.
        Upper bounds of their gradients over the box (``_depth_lipschitz`` and
        ``_distance_lipschitz``) give the most they can change within the box.
        When no threshold lies within that reach, every point of the box has
        the centre's label. The bounds are conservative, so ``None`` is also
        returned for some boxes that do have a single label.
        """
        box = _Box(x_min, x_max, y_min, y_max)
        tissue = self._tissue_status(box)
        if tissue == _OUTSIDE:
            return BACKGROUND
        if tissue == _UNKNOWN:
            return None
        return self._constant_depth_label(box)

    def label_grid(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | int:
        """Return the labels of a pixel grid, or one int when all pixels share it.

        Equal to :meth:`label_at` on the same grid, but skips the per-pixel
        work that :meth:`constant_label`'s bounds make unnecessary.

        Parameters
        ----------
        x
            ``(1, width)`` increasing column coordinates in full-resolution px.
        y
            ``(height, 1)`` increasing row coordinates in full-resolution px.

        Returns
        -------
        numpy.ndarray or int
            ``(height, width)`` int8 labels, or a single label.
        """
        box = _Box(float(x[0, 0]), float(x[0, -1]), float(y[0, 0]), float(y[-1, 0]))
        tissue = self._tissue_status(box)
        if tissue == _OUTSIDE:
            return BACKGROUND
        depth_label = self._constant_depth_label(box)
        if depth_label is not None and tissue == _INSIDE:
            return depth_label
        if depth_label is None:
            labels = self._depth_labels(self.depth(x, y))
        else:
            labels = np.full((y.shape[0], x.shape[1]), depth_label, dtype=np.int8)
        if tissue == _UNKNOWN:
            labels[~self.tissue.contains(x, y)] = BACKGROUND
        return labels

    def _depth_labels(self, depth: np.ndarray) -> np.ndarray:
        labels = np.zeros(depth.shape, dtype=np.int8)
        for threshold in self.thresholds:
            labels += depth >= threshold
        return labels

    def _tissue_status(self, box: _Box) -> int:
        """Return ``_INSIDE`` or ``_OUTSIDE`` when the whole box is, else ``_UNKNOWN``."""
        distance = float(self.tissue.distance(box.center_x, box.center_y)[0])
        change = self._distance_lipschitz(distance, box.reach) * box.reach + _DISTANCE_EPSILON
        if distance - self.tissue.threshold > change:
            return _OUTSIDE
        if self.tissue.threshold - distance > change:
            return _INSIDE
        return _UNKNOWN

    def _constant_depth_label(self, box: _Box) -> int | None:
        """Return the depth label of the whole box, or ``None`` if a threshold may cross it."""
        depth = float(self.depth(box.center_x, box.center_y)[0])
        radius = math.hypot(
            box.center_x[0] - self.arc_center_x, box.center_y[0] - self.arc_center_y
        )
        change = self._depth_lipschitz(radius, box.reach) * box.reach + _DEPTH_EPSILON_PX
        if np.any(np.abs(depth - self.thresholds) <= change):
            return None
        return int(np.count_nonzero(depth >= self.thresholds))

    def _depth_lipschitz(self, radius: float, reach: float) -> float:
        """Bound |grad depth| within ``reach`` px of a point at ``radius`` px from the arc centre.

        With ``w_i = sin(k_i . p + phase_i)`` and ``depth = -(r + A w_1 + (r - R) s w_2)``:
        ``|grad depth| <= 1 + s + A |k_1| + s |k_2| |r - R|``.
        """
        amplitude, kx, ky, _ = self.bend
        stretch, sx, sy, _ = self.thickness
        farthest = abs(radius - self.arc_radius) + reach
        return (
            1.0
            + abs(stretch)
            + abs(amplitude) * math.hypot(kx, ky)
            + abs(stretch) * math.hypot(sx, sy) * farthest
        ) * _LIPSCHITZ_SAFETY

    def _distance_lipschitz(self, distance: float, reach: float) -> float:
        """Bound |grad distance| within ``reach`` px of a point at tissue distance ``distance``.

        With ``distance = rho / e``, ``|grad rho| <= 1 / min(a, b)`` and
        ``e = 1 + sum A_k sin(...) >= 1 - sum |A_k|``.
        """
        tissue = self.tissue
        inverse_axis = 1.0 / min(tissue.semi_axis_x, tissue.semi_axis_y)
        amplitudes = np.abs(tissue.wobble[:, 0])
        wavenumbers = np.hypot(tissue.wobble[:, 1], tissue.wobble[:, 2])
        lowest_edge = 1.0 - float(amplitudes.sum())
        edge_slope = float((amplitudes * wavenumbers).sum())
        # rho <= distance * (1 + sum A_k) at the centre, plus the change within reach.
        rho = distance * (2.0 - lowest_edge) + reach * inverse_axis
        return (
            inverse_axis / lowest_edge + rho * edge_slope / lowest_edge**2
        ) * _LIPSCHITZ_SAFETY


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

    unfitted = LayerModel(
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
    depths = np.sort(unfitted.depth(x, y))
    cut = np.rint(np.cumsum(DOMAIN_FRACTIONS)[:-1] * depths.size).astype(np.intp)
    cut = np.clip(cut, 1, depths.size - 1)
    thresholds = (depths[cut - 1] + depths[cut]) / 2.0
    return replace(unfitted, thresholds=thresholds)


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
