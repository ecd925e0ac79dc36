"""Space Ranger scale factors (``spatial/scalefactors_json.json``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from harness.errors import InputError, MissingFileError

SCALEFACTORS_FILE = "scalefactors_json.json"

REQUIRED_KEYS = (
    "spot_diameter_fullres",
    "fiducial_diameter_fullres",
    "tissue_hires_scalef",
    "tissue_lowres_scalef",
)


@dataclass(frozen=True)
class ScaleFactors:
    """Scale factors of one Visium slice, as Space Ranger writes them.

    Attributes
    ----------
    spot_diameter_fullres
        Spot diameter in full-resolution pixels (px).
    fiducial_diameter_fullres
        Fiducial diameter in full-resolution pixels (px).
    tissue_hires_scalef
        Hires PNG pixels per full-resolution pixel.
    tissue_lowres_scalef
        Lowres PNG pixels per full-resolution pixel.
    extra
        Any other keys of the JSON file (for example ``regist_target_img_scalef``
        in Space Ranger 2+), read-only.
    """

    spot_diameter_fullres: float
    fiducial_diameter_fullres: float
    tissue_hires_scalef: float
    tissue_lowres_scalef: float
    extra: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, object]:
        """Return every key as in the JSON file (the layout of scanpy's ``uns["spatial"]``)."""
        values: dict[str, object] = {key: getattr(self, key) for key in REQUIRED_KEYS}
        values.update(self.extra)
        return values


def read_scalefactors(path: Path) -> ScaleFactors:
    """Read and validate ``scalefactors_json.json``.

    Parameters
    ----------
    path
        The JSON file.

    Returns
    -------
    The four required factors as floats, other keys in ``extra``.

    Raises
    ------
    MissingFileError
        When the file does not exist.
    InputError
        When the file is not a JSON object, lacks a required key, or a required
        value is not a finite positive number.
    """
    if not path.is_file():
        msg = (
            f"Scale factor file not found: {path}. A Space Ranger slice folder needs "
            f"spatial/{SCALEFACTORS_FILE}; point the loader at the folder that contains "
            "`spatial/`."
        )
        raise MissingFileError(msg)

    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        msg = f"Scale factor file {path} is not valid JSON: {exc}."
        raise InputError(msg) from exc
    if not isinstance(content, dict):
        msg = (
            f"Scale factor file {path} must contain a JSON object, found {type(content).__name__}."
        )
        raise InputError(msg)

    missing = [key for key in REQUIRED_KEYS if key not in content]
    if missing:
        msg = (
            f"Scale factor file {path} lacks the keys {missing}; expected all of "
            f"{list(REQUIRED_KEYS)}."
        )
        raise InputError(msg)

    values = {key: _positive_float(content[key], key=key, path=path) for key in REQUIRED_KEYS}
    extra = {key: value for key, value in content.items() if key not in REQUIRED_KEYS}
    return ScaleFactors(**values, extra=MappingProxyType(extra))


def _positive_float(value: object, *, key: str, path: Path) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value <= 0:
        msg = f"Scale factor {key!r} in {path} is {value!r}; expected a finite positive number."
        raise InputError(msg)
    return float(value)
