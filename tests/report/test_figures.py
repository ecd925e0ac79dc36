"""Report figures: frames of patch centres, label matching, missing artifacts."""

from __future__ import annotations

import string
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.artifacts.store import RunStore
from harness.compare.result import CheckResult, Threshold
from harness.report.figures import (
    RunFolderReader,
    agreement_figure,
    agreement_measures,
    build_figures,
    domain_maps_figure,
    is_agreement_metric,
    match_labels,
    patch_centres_figure,
    score_figure,
)
from tests.report._samples import (
    LOWRES_SCALE,
    grid_spots,
    sample_checks,
    sample_report,
    write_run_folder,
    write_tissue_image,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _readers(**roots: Path) -> dict[str, RunFolderReader]:
    return {side: RunFolderReader(side, root) for side, root in roots.items()}


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_tissue_image(tmp_path / "slice")


def test_centres_converted_between_levels(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=image)
    candidate = write_run_folder(tmp_path / "candidate", image_path=image, order_seed=3)
    store = RunStore(candidate)
    barcodes = store.open_stage("load").load("barcodes")
    spatial = store.open_stage("load").load("spatial")
    hires = 0.15
    store.write_stage("patches", {
        "centers": spatial * hires,
        # staig_fusion names the level under "name".
        "image_level": {"name": "hires", "scale": hires, "image_path": str(image)},
    })
    assert len(barcodes) == len(spatial)

    figure = patch_centres_figure(_readers(reference=reference, candidate=candidate))

    assert figure.png.startswith(PNG_SIGNATURE)
    assert "converted from its hires image (scale 0.15)" in figure.note
    assert "Median distance between the sides' centres: 0 px, max 0 px, over 64" in figure.note


def test_double_scaled_centres_land_far(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=image)
    candidate = write_run_folder(
        tmp_path / "candidate", image_path=image, centre_scale=LOWRES_SCALE**2, order_seed=1
    )

    figure = patch_centres_figure(_readers(reference=reference, candidate=candidate))

    _, spatial, _ = grid_spots()
    expected = np.hypot(*(spatial * LOWRES_SCALE - spatial * LOWRES_SCALE**2).T)
    assert figure.drawn
    median = f"Median distance between the sides' centres: {np.median(expected):.3g} px"
    assert median in figure.note
    assert "Tissue image: lowres (tissue_lowres_image.png)." in figure.note


def test_centres_without_candidate_stage(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=image)
    candidate = write_run_folder(tmp_path / "candidate", image_path=image, stages=("load",))

    figure = patch_centres_figure(_readers(reference=reference, candidate=candidate))

    assert figure.drawn
    assert "Candidate not drawn: the candidate run folder" in figure.note
    assert "has no patches stage" in figure.note


def test_centres_without_reference_omitted(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=image, stages=("load",))

    figure = patch_centres_figure(_readers(reference=reference))

    assert figure.png is None
    assert figure.note.startswith("Not drawn: the reference run folder")


def test_centres_with_moved_image(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=tmp_path / "gone.png")

    figure = patch_centres_figure(_readers(reference=reference))

    assert figure.drawn
    assert "No tissue image: the recorded image files are missing" in figure.note


def test_large_tiff_read_with_stride(tmp_path: Path) -> None:
    tiff = tmp_path / "tissue_full_image.tif"
    pixels = np.full((1800, 2000, 3), 230, dtype=np.uint8)
    pixels[600:1200, 700:1300] = (150, 60, 120)
    tifffile.imwrite(tiff, pixels, tile=(256, 256), photometric="rgb")
    store = RunStore(tmp_path / "reference")
    barcodes, spatial, _ = grid_spots()
    store.write_stage("load", {
        "barcodes": barcodes,
        "spatial": spatial * 0.3,
        "scalefactors": {"image_levels": {
            "fullres": {"scale": 1.0, "shape": [1800, 2000], "path": str(tiff)},
        }},
    })
    store.write_stage("patches", {
        "centers": spatial * 0.3,
        "image_level": {"level": "fullres", "scale": 1.0},
    })

    figure = patch_centres_figure(_readers(reference=tmp_path / "reference"))

    assert figure.drawn
    backdrop = "Tissue image: fullres (tissue_full_image.tif), read with a stride of 2 px."
    assert backdrop in figure.note


def test_domain_maps_from_both_sides(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=image)
    candidate = write_run_folder(
        tmp_path / "candidate", image_path=image, order_seed=2, domain_names=("c", "a", "b")
    )

    figure = domain_maps_figure(_readers(reference=reference, candidate=candidate))

    assert figure.png.startswith(PNG_SIGNATURE)
    assert "Ground truth from the reference load/labels (64 labelled spots)." in figure.note


def test_domain_maps_fall_back_to_cluster(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=image, stages=("load",))
    RunStore(reference).write_stage("cluster", {"domains": np.array(["1"] * 64)})

    figure = domain_maps_figure(_readers(reference=reference))

    assert figure.drawn
    assert "Reference domains from cluster/domains." in figure.note
    assert "Candidate not drawn: no candidate run folder was given." in figure.note


def test_domain_maps_without_domains_omitted(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=image, stages=("load",))

    figure = domain_maps_figure(_readers(reference=reference))

    assert figure.png is None
    assert "Reference not drawn: the reference run folder" in figure.note
    assert "has no cluster stage" in figure.note


def test_score_figure_with_one_side(tmp_path: Path, image: Path) -> None:
    reference = write_run_folder(tmp_path / "reference", image_path=image)
    candidate = write_run_folder(tmp_path / "candidate", image_path=image, stages=("load",))

    figure = score_figure(_readers(reference=reference, candidate=candidate))

    assert figure.drawn
    assert "Candidate has no scores: the candidate run folder" in figure.note


def test_figures_without_run_folders() -> None:
    figures = {figure.key: figure for figure in build_figures(sample_report())}

    assert list(figures) == ["patch_centres", "domain_maps", "agreement", "scores"]
    assert figures["patch_centres"].note == "Not drawn: no reference run folder was given."
    assert figures["scores"].png is None
    assert figures["domain_maps"].png is None
    assert figures["agreement"].drawn


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("linear_cka", True),
        ("cka", True),
        ("mean_knn_overlap", True),
        ("ari", True),
        ("edge_jaccard", True),
        ("fraction_differing", False),
        ("max_error_px", False),
        ("variance", False),
    ],
)
def test_agreement_metric_names(metric: str, expected: bool) -> None:
    assert is_agreement_metric(metric) is expected


def test_agreement_one_bar_per_stage() -> None:
    def judged(check_id: str, metric: str, observed: float, direction: str = "min") -> CheckResult:
        stage = check_id.split(".")[0]
        return CheckResult.judged(
            check_id=check_id, stage=stage, artifact="x", metric=metric, observed=observed,
            threshold=Threshold(0.9, direction),
        )

    checks = [
        judged("train.loss", "max_abs_diff", 0.5),
        judged("train.embedding", "linear_cka", 0.8),
        judged("train.neighbours", "mean_knn_overlap", 0.7),
        judged("graph.edges", "jaccard", float("nan")),
        judged("metrics.ari", "ari", 0.2, direction="max"),
        judged("genes.hvg", "jaccard", 1.0),
    ]

    chosen = agreement_measures(checks)

    assert [check.check_id for check in chosen] == ["genes.hvg", "train.embedding"]


def test_agreement_figure_without_measures() -> None:
    checks = [check for check in sample_checks() if not is_agreement_metric(check.metric)]

    figure = agreement_figure(checks)

    assert figure.png is None
    assert "no check measured an agreement metric" in figure.note


labels_strategy = st.lists(st.sampled_from("ABCDEF"), min_size=5, max_size=60)


@settings(max_examples=50, deadline=None)
@given(labels=labels_strategy, seed=st.integers(0, 2**16), rename_seed=st.integers(0, 2**16))
def test_match_labels_recovers_renaming(labels: list[str], seed: int, rename_seed: int) -> None:
    barcodes = np.array([f"B{i:03d}" for i in range(len(labels))])
    target = pd.Series(labels, index=barcodes)
    names = sorted(set(labels))
    digits = list(string.digits)[: len(names)]
    new_names = list(np.random.default_rng(rename_seed).permutation(digits))
    renaming = dict(zip(names, new_names, strict=True))
    order = np.random.default_rng(seed).permutation(len(labels))
    renamed = pd.Series([renaming[label] for label in labels], index=barcodes).iloc[order]

    mapping = match_labels(renamed, target)

    assert mapping == {new: old for old, new in renaming.items()}


def test_match_labels_joins_by_barcode() -> None:
    target = pd.Series(["x", "x", "y", "y"], index=["a", "b", "c", "d"])
    labels = pd.Series(["2", "2", "1", "1", "9"], index=["d", "c", "b", "a", "zz"])

    assert match_labels(labels, target) == {"1": "x", "2": "y"}
    assert match_labels(labels, pd.Series(["x"], index=["nope"])) == {}


def test_check_figures_keep_status_colours() -> None:
    checks = [replace(check, status="fail") for check in sample_checks()]

    figure = agreement_figure(checks)

    assert figure.png.startswith(PNG_SIGNATURE)
