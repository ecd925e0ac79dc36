"""Synthetic Visium slices with known domains, for tests and demonstrations.

:func:`write_synthetic_slice` writes a complete Space Ranger folder (counts,
positions, scale factors, full-resolution TIFF, hires and lowres PNGs) plus
``truth.txt`` and ``synthetic.json``. :func:`default_synthetic_slice` keeps
one generated slice in a cache folder and reuses it.
"""

from harness.synth.cache import default_synthetic_slice
from harness.synth.spec import (
    DOMAIN_NAMES,
    GENERATOR_VERSION,
    SyntheticSliceSpec,
    read_synthetic_spec,
)
from harness.synth.writer import write_synthetic_slice

__all__ = [
    "DOMAIN_NAMES",
    "GENERATOR_VERSION",
    "SyntheticSliceSpec",
    "default_synthetic_slice",
    "read_synthetic_spec",
    "write_synthetic_slice",
]
