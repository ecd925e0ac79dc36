"""Byte-level reading and writing of single artifacts: npy, npz (CSR) and JSON.

Every writer produces the same bytes for the same value, so SHA-256 digests
identify content: JSON is written with sorted keys, and the CSR archive uses
fixed zip timestamps. Every reader refuses pickles.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.errors import CorruptArtifactError

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20

SUFFIX = {"array": ".npy", "sparse": ".npz", "json": ".json"}


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 digest of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars, arrays, paths and tuples to plain JSON types.

    Non-finite floats become the strings ``"nan"``, ``"inf"`` and ``"-inf"``
    because strict JSON has no literal for them.
    """
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def dumps_json(value: Any) -> str:
    """Serialise ``value`` deterministically (sorted keys, two-space indent)."""
    return json.dumps(to_jsonable(value), sort_keys=True, indent=2, allow_nan=False) + "\n"


def write_artifact(path: Path, kind: str, value: Any) -> None:
    """Write one artifact of ``kind`` (``array``, ``sparse`` or ``json``) to ``path``."""
    if kind == "json":
        path.write_text(dumps_json(value), encoding="utf-8")
    elif kind == "array":
        with path.open("wb") as handle:
            np.lib.format.write_array(handle, np.asarray(value, order="C"), allow_pickle=False)
    elif kind == "sparse":
        _write_csr(path, sp.csr_matrix(value))
    else:
        msg = f"unknown artifact kind {kind!r}; expected array, sparse or json"
        raise ValueError(msg)


def read_artifact(path: Path, kind: str, *, mmap: bool = False) -> Any:
    """Read one artifact without unpickling anything.

    Parameters
    ----------
    path
        The artifact file.
    kind
        ``array``, ``sparse`` or ``json``.
    mmap
        Memory-map ``.npy`` arrays read-only instead of reading them (for patches).
    """
    if kind == "json":
        return json.loads(path.read_text(encoding="utf-8"))
    if kind == "array":
        try:
            return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        except ValueError as error:
            msg = f"{path}: not a plain numpy array file ({error}); object arrays are rejected"
            raise CorruptArtifactError(msg) from error
    if kind == "sparse":
        return _read_csr(path)
    msg = f"unknown artifact kind {kind!r}; expected array, sparse or json"
    raise ValueError(msg)


def _write_csr(path: Path, matrix: sp.csr_matrix) -> None:
    matrix.sort_indices()
    members = {
        "format": np.array("csr"),
        "shape": np.asarray(matrix.shape, dtype=np.int64),
        "data": matrix.data,
        "indices": matrix.indices.astype(np.int64),
        "indptr": matrix.indptr.astype(np.int64),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in members.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asarray(array, order="C"), allow_pickle=False)


def _read_csr(path: Path) -> sp.csr_matrix:
    try:
        with np.load(path, allow_pickle=False) as archive:
            fmt = str(archive["format"])
            if fmt != "csr":
                msg = f"{path}: sparse format {fmt!r} is not supported; store CSR"
                raise CorruptArtifactError(msg)
            shape = tuple(int(size) for size in archive["shape"])
            return sp.csr_matrix(
                (archive["data"], archive["indices"], archive["indptr"]), shape=shape
            )
    except (KeyError, ValueError, zipfile.BadZipFile) as error:
        msg = f"{path}: not a CSR archive with format, shape, data, indices and indptr ({error})"
        raise CorruptArtifactError(msg) from error
