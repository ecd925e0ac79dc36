"""A side made of an artifact folder written by someone else's pipeline.

The folder follows the run-folder layout (see the README's "Artifact folder"
section)::

    DIR/
      manifest.json              {"format": "staig-harness-artifacts", "format_version": 1,
                                  "side": "...", "stages": {stage: {"artifacts": {name: entry}}}}
      <stage>/<artifact>.npy     numeric arrays, or fixed-width unicode for strings
      <stage>/<artifact>.json    small structured values
      <stage>/<artifact>.npz     a CSR matrix (load/counts)
      <stage>/<artifact>.pt      a tensor (read with torch.load(weights_only=True))

Each entry names ``file`` (relative to ``DIR``) and ``kind`` (``array``,
``sparse``, ``json`` or ``tensor``); ``sha256`` is checked when present.
The folder is data from elsewhere: nothing is unpickled, paths that leave
the folder are rejected, and every array is validated against the stage
contract when the runner stores it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.artifacts.io import dumps_json, read_artifact, sha256_file, write_artifact
from harness.artifacts.store import FORMAT_NAME, FORMAT_VERSION, MANIFEST
from harness.contract.stages import STAGE_NAMES, get_stage
from harness.contract.validate import infer_kind
from harness.errors import CorruptArtifactError, InputError
from harness.implementation import StageContext

logger = logging.getLogger(__name__)

_KINDS = ("array", "sparse", "json", "tensor")


class ArtifactFolderSide:
    """An implementation whose stages return the artifacts stored in a folder.

    Parameters
    ----------
    root
        The artifact folder; its ``manifest.json`` decides which stages exist.
    """

    reads_inputs = False
    """The runner passes no inputs: every artifact comes from the folder."""
    partial_artifacts = True
    """A stage may hold only some of its artifacts; the diff compares those present."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.name = f"artifacts:{self.root}"
        self._manifest = _read_manifest(self.root)
        self._stages: dict[str, Mapping[str, Any]] = self._manifest["stages"]
        load_artifacts = self._stages.get("load", {}).get("artifacts", {})
        if "barcodes" not in load_artifacts:
            msg = (
                f"artifact folder {self.root} has no load/barcodes; every folder needs it "
                "because spots are matched by barcode, never by row position"
            )
            raise InputError(msg)

    def provided_stages(self) -> list[str]:
        """Return the contract stages present in the folder, in pipeline order."""
        return [stage for stage in STAGE_NAMES if stage in self._stages]

    def identity(self) -> dict[str, Any]:
        """Return the folder path and a digest of its manifest (the cache identity)."""
        text = (self.root / MANIFEST).read_bytes()
        return {
            "name": self.name,
            "kind": "artifact-folder",
            "manifest_sha256": hashlib.sha256(text).hexdigest(),
            "side": self._manifest.get("side"),
        }

    def run_stage(
        self, stage: str, inputs: Mapping[str, Any], context: StageContext
    ) -> dict[str, Any]:
        """Read the stage's artifacts from the folder (the inputs are not used)."""
        entries = self._stages.get(stage)
        if entries is None:
            msg = f"artifact folder {self.root} has no stage {stage!r}; it has {self.provided_stages()}"
            raise InputError(msg)
        artifacts = entries.get("artifacts")
        if not isinstance(artifacts, Mapping) or not artifacts:
            msg = f"{self.root / MANIFEST}: stage {stage!r} lists no artifacts"
            raise InputError(msg)
        result = {name: self._read_entry(stage, name, entry) for name, entry in artifacts.items()}
        result.setdefault("config", {})
        return result

    def _read_entry(self, stage: str, name: str, entry: Any) -> Any:
        where = f"{self.root / MANIFEST}: {stage}/{name}"
        if not isinstance(entry, Mapping) or "file" not in entry:
            msg = f"{where}: each artifact entry needs a 'file'"
            raise InputError(msg)
        path = _inside(self.root, str(entry["file"]), where=where)
        kind = entry.get("kind") or _kind_from_suffix(path, where=where)
        if kind not in _KINDS:
            msg = f"{where}: kind {kind!r} is not one of {', '.join(_KINDS)}"
            raise InputError(msg)
        digest = entry.get("sha256")
        if digest is not None and sha256_file(path) != digest:
            msg = f"{where}: {path.name} does not match the SHA-256 in the manifest"
            raise CorruptArtifactError(msg)
        if digest is None:
            logger.info("%s has no sha256 in the manifest; accepted unverified", f"{stage}/{name}")
        if kind == "tensor":
            return _read_tensor(path, where=where)
        value = read_artifact(path, kind)
        _check_against_contract(stage, name, value, where=where)
        return value


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not root.is_dir():
        msg = f"artifact folder {root} does not exist or is not a folder"
        raise InputError(msg)
    if not path.is_file():
        msg = f"artifact folder {root} has no {MANIFEST}; see the README's 'Artifact folder' section"
        raise InputError(msg)
    try:
        manifest = read_artifact(path, "json")
    except ValueError as error:
        msg = f"{path}: not valid JSON ({error})"
        raise InputError(msg) from error
    if manifest.get("format") != FORMAT_NAME:
        msg = f"{path}: format is {manifest.get('format')!r}, expected {FORMAT_NAME!r}"
        raise InputError(msg)
    stages = manifest.get("stages")
    if not isinstance(stages, Mapping):
        msg = f"{path}: 'stages' must map stage names to entries"
        raise InputError(msg)
    unknown = sorted(set(stages) - set(STAGE_NAMES))
    if unknown:
        msg = f"{path}: unknown stages {unknown}; valid stages: {', '.join(STAGE_NAMES)}"
        raise InputError(msg)
    return manifest


def _inside(root: Path, file: str, *, where: str) -> Path:
    relative = Path(file)
    path = (root / relative).resolve()
    if relative.is_absolute() or not path.is_relative_to(root.resolve()):
        msg = f"{where}: file {file!r} is outside the artifact folder {root}"
        raise InputError(msg)
    if not path.is_file():
        msg = f"{where}: file {file!r} does not exist"
        raise InputError(msg)
    return path


def _kind_from_suffix(path: Path, *, where: str) -> str:
    suffixes = {".npy": "array", ".npz": "sparse", ".json": "json", ".pt": "tensor"}
    if path.suffix not in suffixes:
        msg = f"{where}: cannot tell the kind of {path.name}; add 'kind' or use .npy, .npz, .json or .pt"
        raise InputError(msg)
    return suffixes[path.suffix]


def _read_tensor(path: Path, *, where: str) -> np.ndarray:
    import pickle

    import torch

    try:
        tensor = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as error:
        msg = f"{where}: {path.name} is not a plain tensor file loadable with weights_only=True ({error})"
        raise InputError(msg) from error
    if not isinstance(tensor, torch.Tensor):
        msg = f"{where}: {path.name} holds a {type(tensor).__name__}, expected one tensor"
        raise InputError(msg)
    return tensor.detach().numpy()


def _check_against_contract(stage: str, name: str, value: Any, *, where: str) -> None:
    spec = get_stage(stage)
    declared = {artifact.name: artifact for artifact in spec.writes}
    if name in declared and declared[name].kind != infer_kind(value):
        msg = f"{where}: the contract stores {name!r} as {declared[name].kind}, the folder holds {infer_kind(value)}"
        raise InputError(msg)


def write_artifact_folder(
    root: Path,
    stages: Mapping[str, Mapping[str, Any]],
    *,
    side: str = "candidate",
) -> Path:
    """Write artifacts in the artifact-folder format (for a user's own pipeline).

    Parameters
    ----------
    root
        Folder to create.
    stages
        Stage name to {artifact name: value}; values are numpy arrays, CSR
        matrices or JSON-able mappings.
    side
        Recorded in the manifest.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "side": side,
        "stages": {},
    }
    for stage, artifacts in stages.items():
        get_stage(stage)
        (root / stage).mkdir(exist_ok=True)
        entries = {}
        for name, value in artifacts.items():
            kind = infer_kind(value)
            suffix = {"array": ".npy", "sparse": ".npz", "json": ".json"}[kind]
            relative = f"{stage}/{name}{suffix}"
            if kind == "array":
                value = np.asarray(value)
                if value.dtype.kind == "O":
                    value = value.astype(str)
            write_artifact(root / relative, kind, value)
            entries[name] = {
                "file": relative,
                "kind": kind,
                "sha256": sha256_file(root / relative),
                "shape": list(np.shape(value)) if kind != "json" else None,
                "dtype": str(value.dtype) if kind != "json" else None,
            }
        manifest["stages"][stage] = {"artifacts": entries}
    (root / MANIFEST).write_text(dumps_json(manifest), encoding="utf-8")
    return root
