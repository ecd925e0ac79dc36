"""Resize image artifacts that cross between the sides in a hybrid pipeline.

The sides may cut patches of different sizes: STAIG cuts 512 px patches and
its frequency filter is defined for that size only, while a foundation-model
candidate cuts 224 px ones. A hybrid that feeds one side's patches to the
other side's next stage would then fail on the size alone. The swap would
then measure nothing of what the stage does besides its size (where the
windows are, what they show).

A hybrid therefore resizes each ``(N, S, S, C)`` uint8 artifact that crosses
to the other side to the size that side's own run stores for it. The resize
is bilinear (antialiased when shrinking), the same interpolation STAIG uses
to bring its windows to 512 px. Every resize is an explicit step of the
job, written as a stage folder whose manifest names the source folder, the
source digests and both sizes, and the attribution row reports it.
Other artifacts are copied unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

ADAPTER_VERSION = 1
RESIZE_CHUNK = 128
"""Patches resized per batch: bounds the float32 working copy (128 × 512² × 3 × 4 B = 400 MB)."""


@dataclass(frozen=True)
class Adapt:
    """A job step: resize the image artifacts of a stored stage to another run's sizes.

    Attributes
    ----------
    stage
        The stage whose artifacts cross between the sides.
    source
        Run folder holding the stage as the other side produced it.
    like
        Run folder of the consuming side's own run of the stage: its stored
        shapes are the target sizes.
    out_dir
        Run folder the resized stage is written to; it feeds the consumer.
    """

    stage: str
    source: str
    like: str
    out_dir: str


def square_image_sizes(run_dir: Path, stage: str) -> dict[str, int]:
    """Return artifact name to side S of every ``(N, S, S, C)`` uint8 artifact of a stored stage.

    Raises
    ------
    InputError
        When ``run_dir`` has no stored ``stage``.
    """
    from harness.artifacts.store import RunStore
    from harness.errors import InputError

    record = RunStore(run_dir).read_stage(stage, verify=False)
    if record is None:
        msg = f"no stored stage {stage!r} in {run_dir}; its run must finish before a hybrid reads it"
        raise InputError(msg)
    return _square_sizes(record)


def _square_sizes(record: Any) -> dict[str, int]:
    """Return artifact name to side S of the ``(N, S, S, C)`` uint8 artifacts of a stage record."""
    return {
        name: int(art.shape[1])
        for name, art in record.artifacts.items()
        if art.dtype == "uint8"
        and art.shape is not None
        and len(art.shape) == 4
        and art.shape[1] == art.shape[2]
    }


def size_mismatches(
    folders: Mapping[str, Mapping[str, Path]], stages: Iterable[str]
) -> dict[str, dict[str, dict[str, int]]]:
    """Return, per stage, the square image artifacts whose size differs between the sides.

    Parameters
    ----------
    folders
        Side name to stage name to the run folder that stores that side's stage.
    stages
        Stages to compare; a stage either side lacks is skipped.

    Returns
    -------
    ``{stage: {artifact: {side: size}}}`` with only the differing artifacts.
    """
    result: dict[str, dict[str, dict[str, int]]] = {}
    sides = list(folders)
    for stage in stages:
        if any(stage not in folders[side] for side in sides):
            continue
        sizes = {side: square_image_sizes(folders[side][stage], stage) for side in sides}
        names = set.intersection(*(set(s) for s in sizes.values())) if sizes else set()
        differing = {
            name: {side: sizes[side][name] for side in sides}
            for name in sorted(names)
            if len({sizes[side][name] for side in sides}) > 1
        }
        if differing:
            result[stage] = differing
    return result


def resize_square_images(images: Any, size: int) -> np.ndarray:
    """Return ``(N, size, size, C)`` uint8: each image resized bilinearly.

    Shrinking is antialiased (as area averaging would be), so a 512 px
    patch brought to 224 px does not alias. The work runs in batches of
    :data:`RESIZE_CHUNK` images through torch, without a loop over images.

    Raises
    ------
    InputError
        When ``images`` is not a 4-D uint8 array of square images, or
        ``size`` is not positive.
    """
    import torch
    import torch.nn.functional as F

    from harness.errors import InputError

    shape = tuple(images.shape)
    if len(shape) != 4 or shape[1] != shape[2] or images.dtype != np.uint8:
        msg = f"expected (N, S, S, C) uint8 images, got shape {shape}, dtype {images.dtype}"
        raise InputError(msg)
    if size <= 0:
        msg = f"target size {size} px: expected a positive number of pixels"
        raise InputError(msg)
    n, side, _, channels = shape
    out = np.empty((n, size, size, channels), dtype=np.uint8)
    shrink = size < side
    for start in range(0, n, RESIZE_CHUNK):
        batch = torch.from_numpy(np.array(images[start : start + RESIZE_CHUNK]))
        planar = batch.permute(0, 3, 1, 2).to(torch.float32)
        resized = F.interpolate(
            planar, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
        )
        out[start : start + RESIZE_CHUNK] = (
            resized.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        )
    return out


def run_adapt(step: Adapt) -> bool:
    """Write ``step.stage`` from ``step.source`` into ``step.out_dir`` at ``step.like``'s sizes.

    Returns ``True`` when the stage was written, ``False`` when the stored
    copy already came from the same source digests at the same sizes.

    Raises
    ------
    InputError
        When the source or the consumer's own stage is not stored.
    """
    from harness.artifacts.store import RunStore
    from harness.errors import InputError

    source = RunStore(Path(step.source)).read_stage(step.stage)
    if source is None:
        msg = f"no stored stage {step.stage!r} in {step.source} to resize for the other side"
        raise InputError(msg)
    targets = square_image_sizes(Path(step.like), step.stage)
    sources = _square_sizes(source)
    resized = {
        name: [sources[name], targets[name]]
        for name in sorted(set(sources) & set(targets))
        if sources[name] != targets[name]
    }
    provenance = {
        "adapted": {
            "adapter_version": ADAPTER_VERSION,
            "source": step.source,
            "source_sha256": source.digests(),
            "sizes_from": step.like,
            "resized": resized,
            "method": "bilinear, align_corners False, antialiased when shrinking (torch)",
        },
    }
    out = RunStore(Path(step.out_dir))
    stored = out.read_stage(step.stage)
    if stored is not None and stored.manifest.get("adapted") == provenance["adapted"]:
        logger.info("%s resized for the other side reused from %s", step.stage, step.out_dir)
        return False
    artifacts = {}
    kinds = {}
    for name, record in source.artifacts.items():
        value = source.load(name)
        if name in resized:
            logger.info(
                "resizing %s/%s from %d to %d px for the other side",
                step.stage, name, resized[name][0], resized[name][1],
            )
            value = resize_square_images(value, resized[name][1])
        artifacts[name] = value
        kinds[name] = record.kind
    out.write_stage(step.stage, artifacts, kinds=kinds, provenance=provenance)
    return True
