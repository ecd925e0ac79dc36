"""Exception types of the harness.

User errors (bad input, bad command line, missing optional software) derive
from :class:`InputError`; the command line maps them to exit code 2. Broken
internal invariants raise plain ``AssertionError`` or ``RuntimeError``.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class InputError(HarnessError):
    """Invalid input data, configuration or command-line usage (exit code 2)."""


class MissingFileError(InputError):
    """A file that a step needs does not exist."""


class MissingImageLevelError(MissingFileError):
    """A stage needs an image level (fullres, hires or lowres) that the slice lacks."""


class LabelJoinError(InputError):
    """Ground-truth labels do not match the slice's barcodes one to one."""


class ContractError(HarnessError):
    """An artifact violates the stage contract (name, kind, shape or dtype)."""


class MissingDependencyError(HarnessError):
    """Software a stage needs (R, an R package, CUDA, a weights file) is not available."""


class CorruptArtifactError(HarnessError):
    """A stored artifact does not match the digest its manifest records."""


class SpotJoinError(InputError):
    """Count-matrix barcodes and in-tissue spot positions do not match one to one."""
