"""Shared fixtures: locations of the real Visium slices used by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """Return the folder of real Visium slices (``$HARNESS_SHARED_DATA`` or ``../shared/data``)."""
    override = os.environ.get("HARNESS_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


def require_dataset(relative: str) -> Path:
    """Return a dataset folder, or skip the test with the path that was looked up."""
    path = shared_data_root() / relative
    if not path.is_dir():
        pytest.skip(f"real Visium data not found at {path} (set HARNESS_SHARED_DATA)")
    return path


@pytest.fixture
def dlpfc_151673() -> Path:
    """DLPFC slice 151673: 3639 spots, 5000 genes, lowres image only."""
    return require_dataset("dlpfc/151673")
