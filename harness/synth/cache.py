"""A synthetic slice generated once per machine and reused from a cache folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from harness.errors import CorruptArtifactError
from harness.synth.spec import GENERATOR_VERSION, IMAGE_LEVELS, POSITIONS_FILES
from harness.synth.writer import DEFAULT_N_GENES, _validate_arguments, write_synthetic_slice

logger = logging.getLogger(__name__)

CACHE_ENV = "HARNESS_CACHE"
DEFAULT_CACHE_ROOT = Path("~/.cache/staig-harness")
# Written last into a finished folder: the SHA-256 digest of every other file.
COMPLETE_MARKER = ".complete.json"
DEFAULT_CACHED_SPOTS = 1000
DEFAULT_CACHED_SEED = 0


def default_synthetic_slice(
    cache_dir: str | Path | None = None,
    *,
    n_spots: int = DEFAULT_CACHED_SPOTS,
    seed: int = DEFAULT_CACHED_SEED,
) -> Path:
    """Return a cached synthetic slice, generating it on first use.

    The slice lives in ``<root>/<GENERATOR_VERSION>-<n_spots>-<seed>``, where
    ``root`` is ``cache_dir``, else ``$HARNESS_CACHE/synthetic``, else
    ``~/.cache/staig-harness/synthetic``. A new slice is written into a
    temporary folder next to it and renamed into place once its marker file
    (``.complete.json``, the digest of every file) is written, so a folder
    with that name is always complete. An existing folder is checked against
    its marker before it is returned.

    Parameters
    ----------
    cache_dir
        Root folder of cached slices. Default ``None`` (see above).
    n_spots
        In-tissue spots. Default 1000.
    seed
        Generator seed. Default 0.

    Returns
    -------
    pathlib.Path
        The slice folder; other arguments of ``write_synthetic_slice`` keep their defaults.

    Raises
    ------
    CorruptArtifactError
        When the cached folder lacks its marker or a file differs from its digest.
    InputError
        For invalid ``n_spots`` or ``seed``.
    """
    # Validate before the values become part of a folder name.
    _validate_arguments(
        n_spots=n_spots,
        seed=seed,
        n_genes=DEFAULT_N_GENES,
        image_levels=IMAGE_LEVELS,
        positions_file=POSITIONS_FILES[0],
    )
    root = _cache_root(cache_dir)
    folder = root / f"{GENERATOR_VERSION}-{n_spots}-{seed}"
    if folder.exists():
        verify_complete(folder)
        logger.info("Using cached synthetic slice %s", folder)
        return folder

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=root))
    try:
        write_synthetic_slice(staging, n_spots=n_spots, seed=seed)
        digests = _digest_files(staging)
        marker = {"generator_version": GENERATOR_VERSION, "sha256": digests}
        (staging / COMPLETE_MARKER).write_text(
            json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        try:
            staging.rename(folder)
        except OSError:
            # Another process renamed its copy into place first; use that one.
            if not folder.is_dir():
                raise
            verify_complete(folder)
            logger.info("Using synthetic slice %s, finished by another process", folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def verify_complete(folder: Path) -> None:
    """Raise CorruptArtifactError unless every file of ``folder`` matches its marker."""
    marker_path = folder / COMPLETE_MARKER
    if not marker_path.is_file():
        msg = (
            f"Cached synthetic slice {folder} has no {COMPLETE_MARKER}, so it is incomplete "
            "or was not written by default_synthetic_slice. Delete the folder to regenerate it."
        )
        raise CorruptArtifactError(msg)
    expected = json.loads(marker_path.read_text(encoding="utf-8"))["sha256"]
    observed = _digest_files(folder)
    if observed != expected:
        changed = sorted(
            name
            for name in set(expected) | set(observed)
            if expected.get(name) != observed.get(name)
        )
        msg = (
            f"Cached synthetic slice {folder} differs from its {COMPLETE_MARKER} in "
            f"{', '.join(changed)}. Delete the folder to regenerate it."
        )
        raise CorruptArtifactError(msg)


def _cache_root(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    base = os.environ.get(CACHE_ENV)
    root = Path(base) if base else DEFAULT_CACHE_ROOT.expanduser()
    return root / "synthetic"


def _digest_files(folder: Path) -> dict[str, str]:
    """Return the SHA-256 hex digest of every file below ``folder`` except the marker."""
    digests = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != COMPLETE_MARKER:
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            digests[path.relative_to(folder).as_posix()] = digest
    return digests
