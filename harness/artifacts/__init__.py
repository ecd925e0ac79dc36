"""Artifact storage: atomic, digest-checked run folders and safe readers."""

from harness.artifacts.store import ArtifactRecord, RunStore, StageRecord

__all__ = ["ArtifactRecord", "RunStore", "StageRecord"]
