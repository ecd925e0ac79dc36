"""Tiny run folders for the patch, image and gene diagnoses, both sides written by hand."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from PIL import Image

from harness.artifacts.store import RunStore
from harness.diff.context import DiffContext

# Scale factors of the synthetic slices (harness.synth) and close to DLPFC's.
SCALEFACTORS: dict[str, Any] = {
    "spot_diameter_fullres": 96.4,
    "fiducial_diameter_fullres": 144.6,
    "tissue_hires_scalef": 0.15,
    "tissue_lowres_scalef": 0.045,
}
FULLRES_SHAPE = (6666, 6666)
WINDOW_FULLRES_PX = 504


def make_barcodes(n_obs: int) -> np.ndarray:
    """Return ``n_obs`` Visium-like barcodes."""
    return np.array([f"SPOT{index:05d}-1" for index in range(n_obs)])


def disc_positions(
    n_obs: int, *, seed: int, centre: float = 3333.0, radius: float = 1500.0
) -> np.ndarray:
    """Return ``(n_obs, 2)`` full-resolution (x, y) px spread over a disc."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * math.pi, n_obs)
    distance = radius * np.sqrt(rng.uniform(0, 1, n_obs))
    return np.column_stack([centre + distance * np.cos(angle), centre + distance * np.sin(angle)])


def write_tissue_image(folder: Path, *, shape: tuple[int, int] = (300, 300)) -> dict[str, Any]:
    """Write a lowres PNG: a pink disc of radius 100 px on a pale grey slide.

    Returns the ``load/scalefactors`` record, with ``image_levels`` naming the PNG.
    The disc is centred at (150, 150) lowres px, i.e. (3333, 3333) full-resolution px.
    """
    spatial = folder / "spatial"
    spatial.mkdir(parents=True, exist_ok=True)
    height, width = shape
    rows, columns = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = (236, 238, 237)
    disc = (rows - 150) ** 2 + (columns - 150) ** 2 <= 100**2
    rng = np.random.default_rng(0)
    image[disc] = np.clip(
        np.array([200, 120, 190]) + rng.normal(0, 8, (int(disc.sum()), 3)), 0, 255
    )
    path = spatial / "tissue_lowres_image.png"
    Image.fromarray(image).save(path)
    return {
        **SCALEFACTORS,
        "image_levels": {
            "lowres": {
                "scale": SCALEFACTORS["tissue_lowres_scalef"],
                "shape": [height, width],
                "path": str(path),
            },
        },
    }


def load_stage(
    barcodes: np.ndarray,
    spatial: np.ndarray,
    *,
    scalefactors: Mapping[str, Any] | None = None,
    counts: Any = None,
    genes: np.ndarray | None = None,
) -> dict[str, Any]:
    """Return the artifacts of a ``load`` stage."""
    artifacts: dict[str, Any] = {
        "barcodes": np.asarray(barcodes).astype(str),
        "spatial": np.asarray(spatial, dtype=np.float64),
        "scalefactors": dict(scalefactors or SCALEFACTORS),
    }
    if counts is not None:
        artifacts["counts"] = counts
        artifacts["genes"] = np.asarray(genes).astype(str)
    return artifacts


def patches_stage(
    spatial: np.ndarray,
    *,
    level: str,
    scale: float,
    centre_scale: float | None = None,
    window_fullres_px: float = WINDOW_FULLRES_PX,
    output_px: int = 8,
    image_shape: tuple[int, int] | None = None,
    key_style: str = "reference",
    patches: np.ndarray | None = None,
) -> dict[str, Any]:
    """Return the artifacts of a ``patches`` stage cut by the contract's window rule.

    ``centre_scale`` multiplies the full-resolution coordinates (default: the
    level's ``scale``, the correct rule). ``key_style`` writes the image_level
    record the way the reference (``"level"``, ``"image_shape"``) or the
    built-in candidate (``"name"``, ``"shape"``) does.
    """
    centres = np.asarray(spatial, dtype=np.float64) * (
        scale if centre_scale is None else centre_scale
    )
    side = max(1, int(round(window_fullres_px * scale)))
    left_top = np.floor(centres - side / 2).astype(np.int64)
    boxes = np.concatenate([left_top, left_top + side], axis=1)
    if image_shape is None:
        image_shape = (round(FULLRES_SHAPE[0] * scale), round(FULLRES_SHAPE[1] * scale))
    if key_style == "reference":
        record = {
            "level": level,
            "scale": scale,
            "image_shape": list(image_shape),
            "window_side_px": side,
            "window_side_fullres_px": window_fullres_px,
        }
    else:
        record = {"name": level, "scale": scale, "shape": list(image_shape), "window_side_px": side}
    if patches is None:
        patches = patch_pixels(len(centres), output_px=output_px)
    return {"centers": centres, "boxes": boxes, "image_level": record, "patches": patches}


def patch_pixels(n_obs: int, *, output_px: int, seed: int = 0) -> np.ndarray:
    """Return ``(n_obs, output_px, output_px, 3)`` uint8 colour patches."""
    return np.random.default_rng(seed).integers(
        0, 256, (n_obs, output_px, output_px, 3), dtype=np.uint8
    )


def build_context(
    root: Path,
    *,
    reference: Mapping[str, Mapping[str, Any]],
    candidate: Mapping[str, Mapping[str, Any]],
    isolated: Mapping[str, Mapping[str, Any]] | None = None,
    data_dir: Path | None = None,
) -> DiffContext:
    """Write both sides' stages into run folders under ``root`` and open them as a diff."""
    records = {}
    for side, stages in (
        ("reference", reference),
        ("candidate", candidate),
        ("isolated", isolated or {}),
    ):
        store = RunStore(root / side)
        opened = {}
        for stage, artifacts in stages.items():
            store.write_stage(stage, {"config": {}, **artifacts})
            opened[stage] = store.open_stage(stage)
        records[side] = opened
    return DiffContext(
        reference=records["reference"],
        candidate=records["candidate"],
        isolated=records["isolated"],
        data_dir=data_dir,
    )


def permuted(
    artifacts: Mapping[str, Any], order: np.ndarray, *, per_spot: tuple[str, ...]
) -> dict[str, Any]:
    """Return ``artifacts`` with the rows of the ``per_spot`` entries taken in ``order``."""
    return {
        name: (np.asarray(value)[order] if name in per_spot else value)
        for name, value in artifacts.items()
    }


# -- real DLPFC 151673 --------------------------------------------------------


def dlpfc_positions(slice_dir: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Return barcodes, full-resolution (x, y) px and the load/scalefactors record of a slice."""
    from harness.data import read_visium_slice
    from harness.data.slice_artifacts import scalefactors_record

    visium = read_visium_slice(slice_dir, require_counts=False)
    return (
        np.asarray(visium.adata.obs_names, dtype=str),
        np.asarray(visium.adata.obsm["spatial"], dtype=np.float64),
        scalefactors_record(visium),
    )


def dlpfc_counts(slice_dir: Path, *, n_obs: int, seed: int) -> tuple[np.ndarray, Any, np.ndarray]:
    """Return barcodes, raw counts (CSR) and genes of ``n_obs`` random spots of a real slice."""
    from harness.data import read_visium_slice

    visium = read_visium_slice(slice_dir)
    rows = np.sort(
        np.random.default_rng(seed).choice(visium.adata.n_obs, size=n_obs, replace=False)
    )
    adata = visium.adata[rows]
    return (
        np.asarray(adata.obs_names, dtype=str),
        sp.csr_matrix(adata.X),
        np.asarray(adata.var_names, dtype=str),
    )
