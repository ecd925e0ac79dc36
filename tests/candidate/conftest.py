"""Fixtures of the staig_fusion tests: a small synthetic slice and stage contexts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.config import RunConfig
from harness.implementation import StageContext

# 400 in-tissue spots leave more than 300 after unlabelled spots are dropped, enough
# for the legacy profile's 300 pseudo-label clusters; 3200 genes leave room for
# 3000 highly variable genes to differ between selection methods.
SYNTHETIC_SPOTS = 400
SYNTHETIC_GENES = 3200


@pytest.fixture(scope="session")
def synthetic_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic Space Ranger folder with fullres TIFF, hires and lowres PNGs and labels."""
    from harness.synth import write_synthetic_slice

    folder = tmp_path_factory.mktemp("synthetic") / "slice"
    return write_synthetic_slice(folder, n_spots=SYNTHETIC_SPOTS, seed=3, n_genes=SYNTHETIC_GENES)


@pytest.fixture
def make_context() -> Callable[..., StageContext]:
    """Return a factory of CPU stage contexts for a data folder and run options."""

    def factory(data_dir: Path | None = None, **config: Any) -> StageContext:
        config.setdefault("device", "cpu")
        config.setdefault("allow_random_init", True)
        return StageContext(
            config=RunConfig(**config), device="cpu", side="candidate", data_dir=data_dir
        )

    return factory
