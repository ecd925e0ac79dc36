"""Resolve a side name or a ``--candidate`` value to an implementation."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from harness.errors import InputError
from harness.implementation import Implementation

BUILTIN_CANDIDATES = ("legacy", "strict")


def reference_implementation() -> Implementation:
    """Return the STAIG reference pipeline."""
    from reference.pipeline import StaigReference

    return StaigReference()


def candidate_implementation(spec: str) -> Implementation:
    """Return the candidate named by ``spec``.

    Parameters
    ----------
    spec
        ``legacy`` or ``strict`` (the built-in staig_fusion profiles),
        ``module:object`` (a user's implementation, importable from the
        current folder or ``PYTHONPATH``), or ``artifacts:DIR`` (a folder of
        artifacts dumped by another pipeline).
    """
    if spec in BUILTIN_CANDIDATES:
        from candidate.pipeline import StaigFusion

        return StaigFusion(profile=spec)
    if spec.startswith("artifacts:"):
        from harness.artifacts.folder import ArtifactFolderSide

        return ArtifactFolderSide(Path(spec.split(":", 1)[1]))
    if ":" in spec:
        return _import_object(spec)
    msg = (
        f"unknown candidate {spec!r}; expected legacy, strict, module:object "
        "or artifacts:DIR"
    )
    raise InputError(msg)


def _import_object(spec: str) -> Implementation:
    module_name, _, attribute = spec.partition(":")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        msg = f"cannot import module {module_name!r} for --candidate {spec!r}: {error}"
        raise InputError(msg) from error
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            msg = f"module {module_name!r} has no attribute {attribute!r} (from --candidate {spec!r})"
            raise InputError(msg)
        target = getattr(target, part)
    implementation = target() if isinstance(target, type) else target
    if not isinstance(implementation, Implementation):
        msg = (
            f"--candidate {spec!r} resolved to {type(implementation).__name__}, which lacks "
            "name, provided_stages(), run_stage() and identity(); subclass "
            "harness.implementation.StagewiseImplementation"
        )
        raise InputError(msg)
    return implementation
