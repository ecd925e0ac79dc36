"""The run folder: atomic, digest-checked storage of each stage's artifacts.

Layout of one side's run folder::

    RUN/
      manifest.json                 run-level index: format, side, every stage's entry
      <stage>/manifest.json         the stage's own record (the source of truth)
      <stage>/<artifact>.npy|.npz|.json

A stage is written into a hidden sibling folder first. It is renamed into
place only when every artifact and the stage manifest are on disk, so a crash
leaves either the previous complete stage or no stage at all. Reading a stage re-computes every artifact's SHA-256 and rejects
the stage when one differs from its manifest.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts.io import (
    SUFFIX,
    dumps_json,
    read_artifact,
    sha256_file,
    write_artifact,
)
from harness.contract.validate import infer_kind
from harness.errors import CorruptArtifactError, InputError

logger = logging.getLogger(__name__)

FORMAT_NAME = "staig-harness-artifacts"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ArtifactRecord:
    """Location, kind, shape, dtype and digest of one stored artifact."""

    name: str
    kind: str
    file: str
    shape: tuple[int, ...] | None
    dtype: str | None
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """Return the manifest entry of this artifact."""
        return {
            "kind": self.kind,
            "file": self.file,
            "shape": list(self.shape) if self.shape is not None else None,
            "dtype": self.dtype,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class StageRecord:
    """A complete, verified stage in a run folder."""

    stage: str
    folder: Path
    artifacts: dict[str, ArtifactRecord]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def cache_key(self) -> str | None:
        """The cache key the stage was computed under, or ``None`` for foreign folders."""
        return self.manifest.get("cache_key")

    def digests(self) -> dict[str, str]:
        """Return ``stage/artifact`` to SHA-256 for every artifact of the stage."""
        return {f"{self.stage}/{name}": record.sha256 for name, record in self.artifacts.items()}

    def load(self, name: str, *, mmap: bool | None = None) -> Any:
        """Read artifact ``name``; 4-D uint8 arrays (patches) are memory-mapped unless ``mmap`` is False."""
        record = self.artifacts.get(name)
        if record is None:
            msg = f"stage {self.stage!r} in {self.folder} has no artifact {name!r}; it has {sorted(self.artifacts)}"
            raise KeyError(msg)
        if mmap is None:
            mmap = record.dtype == "uint8" and record.shape is not None and len(record.shape) == 4
        return read_artifact(self.folder / record.file, record.kind, mmap=mmap)

    def load_all(self) -> dict[str, Any]:
        """Read every artifact of the stage."""
        return {name: self.load(name) for name in self.artifacts}


class RunStore:
    """One side's run folder.

    Parameters
    ----------
    root
        The run folder; created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # Writing ---------------------------------------------------------------

    def write_stage(
        self,
        stage: str,
        artifacts: Mapping[str, Any],
        *,
        kinds: Mapping[str, str] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> StageRecord:
        """Write a stage's artifacts and manifest atomically, replacing any previous version.

        Parameters
        ----------
        stage
            Stage name; also the folder name.
        artifacts
            Artifact name to value (validated by the caller).
        kinds
            Artifact name to storage kind; inferred from the value when absent.
        provenance
            Fields copied into the stage manifest (config, digests, timings, ...).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        kinds = dict(kinds or {})
        staging = Path(tempfile.mkdtemp(prefix=f".{stage}.partial-", dir=self.root))
        try:
            records: dict[str, ArtifactRecord] = {}
            for name, value in artifacts.items():
                kind = kinds.get(name) or infer_kind(value)
                filename = f"{name}{SUFFIX[kind]}"
                path = staging / filename
                write_artifact(path, kind, value)
                records[name] = ArtifactRecord(
                    name=name,
                    kind=kind,
                    file=filename,
                    shape=_shape_of(value, kind),
                    dtype=_dtype_of(value, kind),
                    sha256=sha256_file(path),
                )
            manifest = {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "stage": stage,
                "artifacts": {name: record.to_json() for name, record in records.items()},
                **dict(provenance or {}),
            }
            (staging / MANIFEST).write_text(dumps_json(manifest), encoding="utf-8")
            _fsync_tree(staging)
            self._swap_into_place(staging, self.root / stage)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        record = StageRecord(stage, self.root / stage, records, manifest)
        self._update_run_manifest(record)
        return record

    def write_run_fields(self, fields: Mapping[str, Any]) -> None:
        """Merge ``fields`` (side, implementation, data source, ...) into the run manifest."""
        manifest = self.read_run_manifest()
        manifest.update(fields)
        self._write_run_manifest(manifest)

    # Reading ---------------------------------------------------------------

    def read_run_manifest(self) -> dict[str, Any]:
        """Return the run-level manifest, or a fresh one when none exists."""
        path = self.root / MANIFEST
        if not path.exists():
            return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "stages": {}}
        return read_artifact(path, "json")

    def read_stage(self, stage: str, *, verify: bool = True) -> StageRecord | None:
        """Return the stored stage, or ``None`` when it is absent or fails verification.

        A stage whose files do not match the digests in its manifest is logged
        and treated as absent, so the caller recomputes it.
        """
        try:
            return self.open_stage(stage, verify=verify)
        except FileNotFoundError:
            return None
        except CorruptArtifactError as error:
            logger.warning("stored stage %s is corrupt, recomputing: %s", stage, error)
            return None

    def open_stage(self, stage: str, *, verify: bool = True) -> StageRecord:
        """Return the stored stage; raise when it is absent or corrupt.

        Raises
        ------
        FileNotFoundError
            When the stage folder or its manifest does not exist.
        CorruptArtifactError
            When the manifest is unreadable, names a file outside the stage
            folder, or a file's SHA-256 differs from the manifest.
        """
        folder = self.root / stage
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            msg = f"no stored stage {stage!r} in {self.root}"
            raise FileNotFoundError(msg)
        try:
            manifest = read_artifact(manifest_path, "json")
            entries = manifest["artifacts"]
        except (ValueError, KeyError, TypeError) as error:
            msg = f"{manifest_path}: unreadable stage manifest ({error})"
            raise CorruptArtifactError(msg) from error
        records = parse_artifact_entries(entries, folder=folder, verify=verify, where=str(manifest_path))
        return StageRecord(stage, folder, records, manifest)

    # Internals -------------------------------------------------------------

    def _swap_into_place(self, staging: Path, target: Path) -> None:
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=self.root))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)

    def _update_run_manifest(self, record: StageRecord) -> None:
        manifest = self.read_run_manifest()
        stages = manifest.setdefault("stages", {})
        entry = dict(record.manifest)
        entry.pop("format", None)
        entry.pop("format_version", None)
        entry["artifacts"] = {
            name: {**art.to_json(), "file": f"{record.stage}/{art.file}"}
            for name, art in record.artifacts.items()
        }
        stages[record.stage] = entry
        self._write_run_manifest(manifest)

    def _write_run_manifest(self, manifest: Mapping[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / MANIFEST, dumps_json(manifest))


def parse_artifact_entries(
    entries: Mapping[str, Any],
    *,
    folder: Path,
    verify: bool,
    where: str,
) -> dict[str, ArtifactRecord]:
    """Turn manifest entries into records, rejecting paths that leave ``folder``.

    With ``verify``, every file's SHA-256 is recomputed and compared.
    """
    if not isinstance(entries, Mapping):
        msg = f"{where}: 'artifacts' must be an object mapping names to entries"
        raise CorruptArtifactError(msg)
    resolved_root = folder.resolve()
    records: dict[str, ArtifactRecord] = {}
    for name, entry in entries.items():
        try:
            kind = entry["kind"]
            file = entry["file"]
            digest = entry["sha256"]
        except (KeyError, TypeError) as error:
            msg = f"{where}: artifact {name!r} lacks kind, file or sha256 ({error})"
            raise CorruptArtifactError(msg) from error
        if kind not in SUFFIX:
            msg = f"{where}: artifact {name!r} has kind {kind!r}; expected one of {sorted(SUFFIX)}"
            raise CorruptArtifactError(msg)
        path = (folder / file).resolve()
        if not path.is_relative_to(resolved_root) or Path(file).is_absolute():
            msg = f"{where}: artifact {name!r} points outside its folder: {file!r}"
            raise CorruptArtifactError(msg)
        if not path.is_file():
            msg = f"{where}: artifact {name!r} file {file!r} is missing"
            raise CorruptArtifactError(msg)
        if verify:
            actual = sha256_file(path)
            if actual != digest:
                msg = f"{where}: artifact {name!r} ({file}) has SHA-256 {actual[:12]}…, manifest says {str(digest)[:12]}…"
                raise CorruptArtifactError(msg)
        shape = entry.get("shape")
        records[name] = ArtifactRecord(
            name=name,
            kind=kind,
            file=file,
            shape=tuple(shape) if shape is not None else None,
            dtype=entry.get("dtype"),
            sha256=digest,
        )
    return records


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(temporary, 0o644)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def _shape_of(value: Any, kind: str) -> tuple[int, ...] | None:
    if kind == "json":
        return None
    return tuple(int(size) for size in value.shape)


def _dtype_of(value: Any, kind: str) -> str | None:
    if kind == "json":
        return None
    return str(value.dtype)


def check_run_folder(root: Path) -> None:
    """Raise :class:`InputError` when ``root`` is not a folder."""
    if root.exists() and not root.is_dir():
        msg = f"run folder {root} exists and is not a folder; pass a folder path to --out"
        raise InputError(msg)
