"""Image levels of a Visium slice: full-resolution TIFF, hires PNG and lowres PNG.

A level's scale is the number of its pixels per full-resolution pixel, so a spot at
full-resolution ``(x, y)`` lies at ``(x * scale, y * scale)`` in the level.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import tifffile
import zarr
from PIL import Image

from harness.data.scalefactors import ScaleFactors
from harness.errors import InputError, MissingDependencyError, MissingFileError

logger = logging.getLogger(__name__)

LevelName = Literal["fullres", "hires", "lowres"]
LEVEL_NAMES: tuple[LevelName, ...] = ("fullres", "hires", "lowres")

HIRES_FILE = "tissue_hires_image.png"
LOWRES_FILE = "tissue_lowres_image.png"
FULLRES_NAMES = ("tissue_full_image.tif", "tissue_full_image.tiff")
TIFF_SUFFIXES = (".tif", ".tiff")

# Pillow modes that hold 8-bit samples; Image.convert("RGB") replicates grey, drops
# alpha and expands palettes for all of them.
_EIGHT_BIT_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX"})

# TIFF axes (tifffile notation) that the reader accepts after dropping length-1 axes:
# Y rows, X columns, S samples of a pixel, C channels.
_TIFF_LAYOUTS = frozenset({"YX", "YXS", "YXC", "SYX", "CYX"})

# Number of decoded PNG levels kept in memory; a hires PNG is about 12 MB.
_PNG_CACHE_SIZE = 4


@dataclass(frozen=True)
class ImageLevel:
    """One image of a slice at a known scale.

    Attributes
    ----------
    name
        ``"fullres"``, ``"hires"`` or ``"lowres"``.
    path
        The image file.
    scale
        Level pixels per full-resolution pixel: 1.0 for fullres,
        ``tissue_hires_scalef`` for hires, ``tissue_lowres_scalef`` for lowres.
    shape
        ``(height, width)`` in level pixels, read from the file header.
    """

    name: LevelName
    path: Path
    scale: float
    shape: tuple[int, int]

    @property
    def extent_fullres(self) -> tuple[float, float]:
        """``(height, width)`` of the level in full-resolution pixels (px)."""
        height, width = self.shape
        return height / self.scale, width / self.scale


def find_image_levels(
    folder: Path,
    *,
    scalefactors: ScaleFactors,
    fullres_image: Path | None = None,
) -> dict[LevelName, ImageLevel]:
    """Find the image levels that exist in a Space Ranger slice folder.

    An absent level is normal and simply missing from the result.

    Parameters
    ----------
    folder
        The slice folder (the one that contains ``spatial/``).
    scalefactors
        The slice's scale factors, which give the hires and lowres scales.
    fullres_image
        Full-resolution TIFF. Default ``None`` searches the folder, see
        :func:`find_fullres_image`.

    Returns
    -------
    Levels by name, in the order fullres, hires, lowres.
    """
    levels: dict[LevelName, ImageLevel] = {}

    fullres_path = find_fullres_image(folder, fullres_image=fullres_image)
    if fullres_path is not None:
        levels["fullres"] = ImageLevel(
            name="fullres", path=fullres_path, scale=1.0, shape=_tiff_shape(fullres_path)
        )

    png_levels: tuple[tuple[LevelName, str, float], ...] = (
        ("hires", HIRES_FILE, scalefactors.tissue_hires_scalef),
        ("lowres", LOWRES_FILE, scalefactors.tissue_lowres_scalef),
    )
    for name, file_name, scale in png_levels:
        path = folder / "spatial" / file_name
        if path.is_file():
            levels[name] = ImageLevel(name=name, path=path, scale=scale, shape=_png_shape(path))

    return levels


def find_fullres_image(folder: Path, *, fullres_image: Path | None = None) -> Path | None:
    """Locate the full-resolution TIFF of a slice.

    Parameters
    ----------
    folder
        The slice folder.
    fullres_image
        An explicit path, which must exist. Default ``None`` looks for
        ``spatial/tissue_full_image.tif`` (or ``.tiff``), else for the single
        ``*.tif``/``*.tiff`` file in the folder or in ``spatial/``.

    Returns
    -------
    The TIFF path, or ``None`` when the folder has no TIFF.

    Raises
    ------
    MissingFileError
        When ``fullres_image`` does not exist.
    InputError
        When the search finds more than one candidate.
    """
    if fullres_image is not None:
        path = Path(fullres_image)
        if not path.is_file():
            msg = f"Full-resolution image not found: `fullres_image={str(path)!r}`."
            raise MissingFileError(msg)
        return path

    named = [folder / "spatial" / name for name in FULLRES_NAMES]
    named = [path for path in named if path.is_file()]
    if len(named) == 1:
        return named[0]

    candidates = named or sorted(
        path
        for directory in (folder, folder / "spatial")
        if directory.is_dir()
        for path in directory.iterdir()
        if path.is_file() and path.suffix.lower() in TIFF_SUFFIXES
    )
    if len(candidates) > 1:
        listing = ", ".join(str(path) for path in candidates)
        msg = (
            f"Found {len(candidates)} candidate full-resolution images in {folder}: {listing}. "
            "Pass the right one as `fullres_image=`."
        )
        raise InputError(msg)
    if candidates:
        logger.info("Using %s as the full-resolution image", candidates[0])
        return candidates[0]
    return None


def read_level_image(level: ImageLevel) -> np.ndarray:
    """Read a whole level as RGB.

    For a full-resolution TIFF this loads every pixel, about 530 MB for a
    13332 x 13332 RGB image; use :func:`read_level_region` for windows.

    Returns
    -------
    Array of shape ``(height, width, 3)``, dtype uint8. Alpha is dropped and grey
    is replicated to three channels.
    """
    if level.path.suffix.lower() in TIFF_SUFFIXES:
        height, width = level.shape
        return _read_tiff_window(level.path, top=0, bottom=height, left=0, right=width)
    return _read_png(level.path).copy()


def read_level_region(
    level: ImageLevel, *, left: int, top: int, right: int, bottom: int
) -> np.ndarray:
    """Read the rectangle ``[top, bottom) x [left, right)`` of a level as RGB.

    TIFF levels are read through tifffile's Zarr store, so only the strips or
    tiles that overlap the rectangle are decoded. PNG levels are decoded whole
    once and kept in a small cache.

    Parameters
    ----------
    level
        The image level.
    left, top, right, bottom
        Rectangle bounds in level pixels (px). ``right`` and ``bottom`` are
        exclusive, as in Python slices.

    Returns
    -------
    Array of shape ``(bottom - top, right - left, 3)``, dtype uint8.

    Raises
    ------
    InputError
        When the rectangle is empty or extends beyond the level.
    """
    height, width = level.shape
    bounds = (left, top, right, bottom)
    inside = 0 <= left < right <= width and 0 <= top < bottom <= height
    if not all(isinstance(value, int | np.integer) for value in bounds) or not inside:
        msg = (
            f"Invalid region (left={left}, top={top}, right={right}, bottom={bottom}) of "
            f"level {level.name!r}, which is {width} px wide and {height} px high. Expected "
            "integers with 0 <= left < right <= width and 0 <= top < bottom <= height; clip "
            "or pad the window before reading."
        )
        raise InputError(msg)

    if level.path.suffix.lower() in TIFF_SUFFIXES:
        return _read_tiff_window(level.path, top=top, bottom=bottom, left=left, right=right)
    return _read_png(level.path)[top:bottom, left:right].copy()


def _png_shape(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        width, height = image.size
    return height, width


def _read_png(path: Path) -> np.ndarray:
    """Return the decoded PNG, read-only, cached until the file's mtime changes."""
    return _read_png_cached(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=_PNG_CACHE_SIZE)
def _read_png_cached(path: Path, mtime_ns: int) -> np.ndarray:
    with Image.open(path) as image:
        if image.mode not in _EIGHT_BIT_MODES:
            msg = (
                f"Image {path} has Pillow mode {image.mode!r}; expected 8-bit samples "
                f"(one of {sorted(_EIGHT_BIT_MODES)}). Convert it to 8-bit RGB."
            )
            raise InputError(msg)
        pixels = np.asarray(image.convert("RGB"))
    pixels.setflags(write=False)
    return pixels


def _tiff_layout(path: Path) -> tuple[str, tuple[int, ...]]:
    """Return the axes and shape of the first series' base level, length-1 axes kept."""
    with tifffile.TiffFile(path) as tiff:
        if not tiff.series:
            msg = f"TIFF file {path} contains no image."
            raise InputError(msg)
        base = tiff.series[0].levels[0]
        axes, shape = base.axes, tuple(base.shape)

    layout = "".join(
        axis for axis, size in zip(axes, shape, strict=True) if size > 1 or axis in "YX"
    )
    if layout not in _TIFF_LAYOUTS:
        msg = (
            f"TIFF file {path} has axes {axes!r} with shape {shape}; expected a single 2-D "
            f"image with axes in {sorted(_TIFF_LAYOUTS)} (Y rows, X columns, S or C channels)."
        )
        raise InputError(msg)
    return axes, shape


def _tiff_shape(path: Path) -> tuple[int, int]:
    axes, shape = _tiff_layout(path)
    return shape[axes.index("Y")], shape[axes.index("X")]


def _read_tiff_window(path: Path, *, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    axes, shape = _tiff_layout(path)

    # Index Y and X by the window, keep channel axes whole, take the only element
    # of every other length-1 axis.
    index: list[slice | int] = []
    for axis, size in zip(axes, shape, strict=True):
        if axis == "Y":
            index.append(slice(top, bottom))
        elif axis == "X":
            index.append(slice(left, right))
        elif size > 1:
            index.append(slice(None))
        else:
            index.append(0)
    kept_axes = [axis for axis, item in zip(axes, index, strict=True) if not isinstance(item, int)]

    try:
        with tifffile.imread(path, aszarr=True, series=0, level=0) as store:
            window = np.asarray(zarr.open(store, mode="r")[tuple(index)])
    except (KeyError, ValueError) as exc:
        if "imagecodecs" in str(exc):
            msg = (
                f"Reading the compressed TIFF {path} needs the Python package "
                f"`imagecodecs`, which is not installed ({exc}). Install it with "
                "`pip install imagecodecs`."
            )
            raise MissingDependencyError(msg) from exc
        raise

    channel_position = next((i for i, axis in enumerate(kept_axes) if axis in "SC"), None)
    if channel_position is not None and kept_axes.index("Y") > channel_position:
        window = np.moveaxis(window, channel_position, -1)
    return _to_rgb_uint8(window, source=path)


def _to_rgb_uint8(pixels: np.ndarray, *, source: Path) -> np.ndarray:
    if pixels.dtype != np.uint8:
        msg = (
            f"Image {source} has dtype {pixels.dtype}; expected uint8. Convert it to "
            "8-bit RGB before loading."
        )
        raise InputError(msg)
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, np.newaxis], 3, axis=2)

    channels = pixels.shape[2]
    if channels in (1, 2):  # grey, or grey with alpha
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    if channels in (3, 4):  # RGB, or RGB with alpha
        return np.ascontiguousarray(pixels[:, :, :3])
    msg = f"Image {source} has {channels} channels; expected 1 to 4 (grey or RGB, alpha optional)."
    raise InputError(msg)
