"""Known scale factors and window sizes that a coordinate or window mistake is likely to involve.

A Visium slice has two image scale factors (``tissue_hires_scalef`` and
``tissue_lowres_scalef`` of ``scalefactors_json.json``). A fitted ratio
between two sides' patch centres usually equals one of them, their ratio or
an inverse, and naming which one explains the mistake. Window sides are
likewise a multiple of one of the slice's diameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FACTOR_RTOL = 0.01
"""Relative tolerance for matching a fitted value to a known factor: 1 %.

The candidates differ by far more than that (hires / lowres is 3.33 for
every Space Ranger slice, and the factors themselves are below 0.2)."""

STAIG_SPOT_DIAMETER_PX = 144
"""Spot diameter that STAIG's image notebook hard-codes, in full-resolution px."""

WINDOW_DIAMETERS = 3.5
"""Window side in spot diameters (STAIG's image notebook: ``int(3.5 * 144) = 504`` px)."""

IMAGE_SCALE_KEYS = ("tissue_hires_scalef", "tissue_lowres_scalef")
DIAMETER_KEYS = ("spot_diameter_fullres", "fiducial_diameter_fullres")


@dataclass(frozen=True)
class KnownFactor:
    """A named value a fitted scale or size may equal.

    Attributes
    ----------
    name
        How the value is built from the slice's scale factors, e.g.
        ``"tissue_hires_scalef / tissue_lowres_scalef"``.
    value
        The value itself.
    """

    name: str
    value: float

    def describe(self) -> str:
        """Return ``name (value)``, or only the value when the name is the number ``1``."""
        if self.name == "1":
            return "1"
        return f"{self.name} ({self.value:.6g})"


def image_scale_factors(scalefactors: Mapping[str, Any]) -> dict[str, float]:
    """Return the image scale factors present in a ``load/scalefactors`` record.

    Keys that are absent, non-numeric or not positive are left out, so the
    factors built from them are simply not offered as explanations.
    """
    found: dict[str, float] = {}
    for key in IMAGE_SCALE_KEYS:
        value = _positive_float(scalefactors.get(key))
        if value is not None:
            found[key] = value
    return found


def scale_candidates(scalefactors: Mapping[str, Any]) -> tuple[KnownFactor, ...]:
    """Return the ratios two sides' coordinates are likely to differ by.

    They are 1, each image scale factor, the ratios hires / lowres and
    lowres / hires, and the inverse of each scale factor.
    """
    scales = image_scale_factors(scalefactors)
    factors = [KnownFactor("1", 1.0)]
    factors += [KnownFactor(name, value) for name, value in scales.items()]
    hires = scales.get("tissue_hires_scalef")
    lowres = scales.get("tissue_lowres_scalef")
    if hires is not None and lowres is not None:
        factors.append(KnownFactor("tissue_hires_scalef / tissue_lowres_scalef", hires / lowres))
        factors.append(KnownFactor("tissue_lowres_scalef / tissue_hires_scalef", lowres / hires))
    factors += [KnownFactor(f"1 / {name}", 1.0 / value) for name, value in scales.items()]
    return tuple(factors)


def match_factor(
    value: float, factors: tuple[KnownFactor, ...], *, rtol: float = FACTOR_RTOL
) -> KnownFactor | None:
    """Return the factor closest to ``value`` in relative terms, when within ``rtol``.

    Parameters
    ----------
    value
        A fitted ratio; NaN, infinite or non-positive values match nothing.
    factors
        The named values to try.
    rtol
        Largest relative difference ``|value / factor - 1|``, default :data:`FACTOR_RTOL`.
    """
    if not math.isfinite(value) or value <= 0:
        return None
    best: KnownFactor | None = None
    best_error = math.inf
    for factor in factors:
        error = abs(value / factor.value - 1.0)
        if error < best_error:
            best, best_error = factor, error
    return best if best_error <= rtol else None


def name_level_scale(scale: float, scalefactors: Mapping[str, Any]) -> str:
    """Return the name of a level's scale: ``"1"``, ``"tissue_lowres_scalef 0.045"`` or a number.

    A level scale is copied from the scale factors, so it must match one of
    them to 1e-6 relative (float round-off only) to be named after it.
    """
    if math.isclose(scale, 1.0, rel_tol=1e-6):
        return "1"
    for name, value in image_scale_factors(scalefactors).items():
        if math.isclose(scale, value, rel_tol=1e-6):
            return f"{name} {value:.6g}"
    return f"{scale:.6g}"


def window_side_candidates(scalefactors: Mapping[str, Any]) -> tuple[KnownFactor, ...]:
    """Return window sides in full-resolution px that an implementation may have used.

    The first entry is STAIG's ``int(3.5 * 144) = 504`` px. The others are
    3.5 times each diameter in the scale factors, and each diameter alone.
    """
    sides = [
        KnownFactor(
            f"{WINDOW_DIAMETERS:g} × {STAIG_SPOT_DIAMETER_PX}",
            float(int(WINDOW_DIAMETERS * STAIG_SPOT_DIAMETER_PX)),
        )
    ]
    for key in DIAMETER_KEYS:
        diameter = _positive_float(scalefactors.get(key))
        if diameter is None:
            continue
        sides.append(
            KnownFactor(
                f"{WINDOW_DIAMETERS:g} × {key} ({diameter:.4g})", WINDOW_DIAMETERS * diameter
            )
        )
        sides.append(KnownFactor(f"{key} ({diameter:.4g})", diameter))
    return tuple(sides)


def _positive_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None
