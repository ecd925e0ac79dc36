"""Both profiles through every stage of the harness runner on a small synthetic slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from candidate.clustering import mclust_status
from candidate.pipeline import StaigFusion
from harness.config import RunConfig
from harness.contract.stages import STAGE_NAMES
from harness.runner import run_side

# Few epochs keep each run under a few minutes on a 2-core CPU; the option is
# recorded as a reduction in the train stage's config.
TEST_EPOCHS = 3


def run_profile(profile: str, data: Path, out: Path, **options) -> dict:
    config = RunConfig(
        preset="quick",
        device="cpu",
        allow_random_init=True,
        options={"n_epochs": TEST_EPOCHS, **options},
    )
    result = run_side(
        StaigFusion(profile=profile),
        side="candidate",
        out_dir=out,
        config=config,
        stages=list(STAGE_NAMES),
        data_dir=data,
    )
    return result.records


@pytest.mark.slow
@pytest.mark.needs_r
def test_strict_runs_every_stage(synthetic_slice: Path, tmp_path: Path) -> None:
    status = mclust_status()
    if not status.available:
        pytest.skip(
            f"the strict profile needs R with mclust, which is not available: {status.reason}"
        )

    records = run_profile("strict", synthetic_slice, tmp_path / "strict")

    assert set(records) == set(STAGE_NAMES)
    scores = records["metrics"].load("scores")
    assert 0.0 <= scores["nmi"] <= 1.0
    assert records["cluster"].load("backend")["algorithm"] == "mclust"
    assert records["train"].load("loss").shape == (TEST_EPOCHS,)
    assert records["pseudo_labels"].load("config")["n_pseudo_labels"] == 80
    encoder = records["image_features"].load("encoder")
    assert (encoder["requested"], encoder["stand_in_for"]) == ("uni", "uni")
    assert records["patch_filter"].load("config")["filter"] == "fft_lowpass"


@pytest.mark.slow
def test_legacy_runs_without_r(synthetic_slice: Path, tmp_path: Path) -> None:
    records = run_profile("legacy", synthetic_slice, tmp_path / "legacy", simulate_no_r=True)

    assert set(records) == set(STAGE_NAMES)
    assert records["cluster"].load("backend") == {"n_clusters": 7}
    domains = records["cluster"].load("domains")
    assert set(np.unique(domains)) <= {str(label) for label in range(1, 9)}
    assert len(np.unique(records["pseudo_labels"].load("pseudo_labels"))) == 300
    assert records["patches"].load("patches").shape[1:] == (224, 224, 3)
    assert records["patch_filter"].load("config")["filter"] == "none"
    barcodes = records["load"].load("barcodes")
    assert len(records["refine"].load("refined")) == len(barcodes)
