"""The whole reference on DLPFC 151673 with the quick preset on the CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.config import RunConfig
from harness.contract.stages import STAGE_NAMES, get_stage
from harness.runner import run_side
from reference.pipeline import StaigReference

pytestmark = pytest.mark.slow

N_SPOTS = 3611
"""Spots of 151673 after dropping the 28 without a layer label."""


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, request):
    from tests.conftest import require_dataset

    data = require_dataset("dlpfc/151673")
    out = tmp_path_factory.mktemp("reference-151673")
    yield run_side(
        StaigReference(),
        side="reference",
        out_dir=out,
        config=RunConfig(preset="quick", device="cpu", allow_random_init=True),
        stages=list(STAGE_NAMES),
        data_dir=data,
    )
    # The two 512 px image stages take 5.7 GB; free them for the tests that follow.
    shutil.rmtree(out, ignore_errors=True)


def test_every_stage_written(reference_run) -> None:
    assert reference_run.computed == list(STAGE_NAMES)
    for stage in STAGE_NAMES:
        assert (reference_run.store.root / stage / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("stage", "artifact", "shape"),
    [
        ("load", "barcodes", (N_SPOTS,)),
        ("load", "spatial", (N_SPOTS, 2)),
        ("load", "counts", (N_SPOTS, 5000)),
        ("patches", "centers", (N_SPOTS, 2)),
        ("patches", "boxes", (N_SPOTS, 4)),
        ("patches", "patches", (N_SPOTS, 512, 512, 3)),
        ("patch_filter", "filtered", (N_SPOTS, 512, 512, 3)),
        ("image_features", "features", (N_SPOTS, 512)),
        ("image_embedding", "img_emb", (N_SPOTS, 16)),
        ("genes", "hvg", (3000,)),
        ("genes", "feat", (N_SPOTS, 3000)),
        ("pseudo_labels", "pseudo_labels", (N_SPOTS,)),
        ("train", "emb", (N_SPOTS, 64)),
        ("train", "loss", (30,)),
        ("cluster", "domains", (N_SPOTS,)),
        ("refine", "refined", (N_SPOTS,)),
    ],
)
def test_artifact_shapes(reference_run, stage: str, artifact: str, shape: tuple) -> None:
    record = reference_run.records[stage]

    assert record.artifacts[artifact].shape == shape
    assert get_stage(stage).artifact(artifact).name == artifact


def test_graph_is_symmetric_knn(reference_run) -> None:
    edges = reference_run.records["graph"].load("edges")
    pairs = set(zip(edges[0].tolist(), edges[1].tolist(), strict=True))

    assert all((j, i) in pairs for i, j in pairs)
    assert np.bincount(edges[0], minlength=N_SPOTS).min() >= 5


def test_metrics_written(reference_run) -> None:
    scores = reference_run.records["metrics"].load("scores")

    assert 0.0 < scores["ari"] <= 1.0
    assert 0.0 < scores["nmi"] <= 1.0
    assert scores["n_spots_scored"] == N_SPOTS


def test_quick_reductions_recorded(reference_run) -> None:
    features_config = reference_run.records["image_features"].load("config")
    train_config = reference_run.records["train"].load("config")

    assert "encoder" in features_config["reductions"]
    assert train_config["reductions"]["num_epochs"] == {"published": 300, "used": 30}
    assert Path(reference_run.store.root).is_dir()
