"""Hand-built reports and tiny run folders for the report tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from harness.artifacts.store import RunStore
from harness.compare.result import CheckResult, Threshold
from harness.report import AttributionRow, DataInfo, DiffReport, SideInfo

CREATED_AT = "2026-01-31T12:00:00+00:00"
LOWRES_SCALE = 0.05
IMAGE_SIDE_PX = 300


def sample_checks() -> list[CheckResult]:
    """Return one check of every status, listed out of pipeline order."""
    centres = CheckResult.judged(
        check_id="patches.centers",
        stage="patches",
        artifact="centers",
        metric="max_error_px",
        observed=37.5,
        threshold=Threshold(0.5, "max", unit="px"),
        context="3611/3611 spots beyond the threshold",
        evidence=[{"key": f"AAAC{i:04d}-1", "error_px": 37.5 - i * 0.01} for i in range(150)],
        n_offending=3611,
    )
    centres = _with_diagnosis(
        centres,
        "candidate centres are scaled twice: full-resolution px multiplied by the lowres "
        "scale factor again, so every window is cut from the image's top-left corner",
    )

    edges = CheckResult.judged(
        check_id="graph.edges",
        stage="graph",
        artifact="edges",
        metric="jaccard",
        observed=0.62,
        threshold=Threshold(0.99, "min"),
    )
    edges = _with_diagnosis(edges, "k differs: [candidate k=6] | reference k=80")

    encoder = CheckResult.compared_equal(
        check_id="image_features.encoder",
        stage="image_features",
        artifact="encoder",
        metric="architecture",
        observed="vit_large_patch16_224",
        expected="vit_huge_patch14_224",
    )

    hvg = CheckResult.judged(
        check_id="genes.hvg",
        stage="genes",
        artifact="hvg",
        metric="jaccard",
        observed=1.0,
        threshold=Threshold(1.0, "min"),
    )

    matrix = CheckResult.errored(
        check_id="genes.matrix",
        stage="genes",
        artifact="feat",
        metric="fraction_differing",
        reason="shapes differ: reference (3639, 3000), candidate (3639, 2999)",
    )

    on_tissue = CheckResult.judged(
        check_id="patches.on_tissue",
        stage="patches",
        artifact="patches",
        metric="fraction_padded",
        observed=0.0,
        threshold=Threshold(0.01, "max"),
    )

    cka = CheckResult.judged(
        check_id="train.embedding",
        stage="train",
        artifact="emb",
        metric="linear_cka",
        observed=0.91,
        threshold=Threshold(0.95, "min"),
    )
    cka = _with_status(cka, "warn")

    backend = CheckResult.skipped(
        check_id="cluster.backend",
        stage="cluster",
        artifact="backend",
        metric="backend",
        reason="the candidate does not provide the cluster stage",
    )

    ari = CheckResult.judged(
        check_id="metrics.ari",
        stage="metrics",
        artifact="scores",
        metric="ari",
        observed=0.12,
        threshold=Threshold(0.05, "max"),
        details={"waiver_reason": "foundation-model encoder declared by the candidate"},
    )
    ari = _with_status(ari, "waived")

    return [ari, backend, cka, edges, encoder, centres, on_tissue, hvg, matrix]


def sample_report(**overrides) -> DiffReport:
    """Return a report with fixed time, version, paths and one check of every status."""
    fields = {
        "checks": sample_checks(),
        "sides": {
            "reference": SideInfo(
                {"name": "staig-reference", "version": "1.0", "class": "reference.pipeline.Staig"},
                run_folder="/runs/cache/reference",
                stages_computed=("load", "patches"),
                stages_reused=("genes", "graph"),
                preset="quick",
                device="cpu",
            ),
            "candidate": SideInfo(
                {"name": "staig-fusion", "version": "0.3"},
                run_folder="/runs/cache/candidate",
                stages_computed=("load", "patches", "genes", "graph"),
                stages_not_provided=("cluster",),
                preset="quick",
                device="cpu",
            ),
        },
        "data": DataInfo(path="/data/dlpfc/151673", library_id="151673", n_spots=3639),
        "stages_compared": ["graph", "patches", "genes", "image_features", "train", "metrics"],
        "stages_not_provided": ["cluster"],
        "command": ["harness", "diff", "--candidate", "strict", "--preset", "quick"],
        "created_at": CREATED_AT,
        "harness_version": "0.1.0",
    }
    fields.update(overrides)
    return DiffReport(**fields)


def sample_attribution() -> list[AttributionRow]:
    """Return three attribution rows, not in rank order."""
    return [
        AttributionRow("graph", mean_delta_ari=-0.05, ci_low=-0.08, ci_high=-0.02, n_runs=5,
                       direction="break"),
        AttributionRow(
            "patches", mean_delta_ari=-0.31, ci_low=-0.35, ci_high=-0.27, n_runs=5,
            description="window centres", direction="fix",
        ),
        AttributionRow("train", mean_delta_ari=0.12, ci_low=0.01, ci_high=0.2, n_runs=5,
                       direction="fix"),
    ]


def grid_spots(n_side: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return barcodes ``(n,)``, full-resolution ``(x, y)`` px ``(n, 2)`` and layer labels ``(n,)``.

    Spots lie on an ``n_side x n_side`` grid inside a 6000 px square; the
    layer is the row band (three bands), so labels are spatially coherent.
    """
    rows, columns = np.divmod(np.arange(n_side * n_side), n_side)
    spatial = np.column_stack([1000.0 + 500.0 * columns, 1000.0 + 500.0 * rows])
    barcodes = np.array([f"SPOT{i:04d}-1" for i in range(n_side * n_side)])
    labels = np.array(["L1", "L2", "WM"])[np.minimum(rows * 3 // n_side, 2)]
    return barcodes, spatial, labels


def write_tissue_image(folder: Path, *, side_px: int = IMAGE_SIDE_PX) -> Path:
    """Write a pink square PNG with a darker tissue disc; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:side_px, 0:side_px]
    inside = (xx - side_px / 2) ** 2 + (yy - side_px / 2) ** 2 < (side_px * 0.4) ** 2
    pixels = np.full((side_px, side_px, 3), 245, dtype=np.uint8)
    pixels[inside] = (200, 120, 170)
    path = folder / "tissue_lowres_image.png"
    Image.fromarray(pixels).save(path)
    return path


def write_run_folder(
    root: Path,
    *,
    image_path: Path,
    centre_scale: float = LOWRES_SCALE,
    order_seed: int | None = None,
    domain_names: tuple[str, str, str] = ("0", "1", "2"),
    ari: float = 0.8,
    stages: tuple[str, ...] = ("load", "patches", "refine", "metrics"),
) -> Path:
    """Write a side's run folder with load, patches, refine and metrics stages.

    Parameters
    ----------
    root
        The run folder.
    image_path
        The lowres PNG recorded in ``load/scalefactors``.
    centre_scale
        Factor from full-resolution px to ``patches/centers``; the correct value is
        :data:`LOWRES_SCALE`, a wrong one places the centres away from the tissue.
    order_seed
        When given, spots are stored in a shuffled order, so readers must join by barcode.
    domain_names
        Names of the three domains written to ``refine/refined``, one per layer.
    ari
        The ARI written to ``metrics/scores``.
    stages
        Stages to write.
    """
    barcodes, spatial, labels = grid_spots()
    if order_seed is not None:
        order = np.random.default_rng(order_seed).permutation(len(barcodes))
        barcodes, spatial, labels = barcodes[order], spatial[order], labels[order]
    domains = np.array(domain_names)[np.searchsorted(np.array(["L1", "L2", "WM"]), labels)]
    store = RunStore(root)
    writers = {
        "load": lambda: {
            "barcodes": barcodes,
            "spatial": spatial,
            "labels": labels,
            "scalefactors": {
                "tissue_lowres_scalef": LOWRES_SCALE,
                "image_levels": {
                    "lowres": {
                        "scale": LOWRES_SCALE,
                        "shape": [IMAGE_SIDE_PX, IMAGE_SIDE_PX],
                        "path": str(image_path),
                    }
                },
            },
        },
        "patches": lambda: {
            "centers": spatial * centre_scale,
            "image_level": {
                "level": "lowres",
                "scale": LOWRES_SCALE,
                "image_shape": [IMAGE_SIDE_PX, IMAGE_SIDE_PX],
                "image_path": str(image_path),
            },
        },
        "refine": lambda: {"refined": domains},
        "metrics": lambda: {"scores": {"ari": ari, "nmi": ari - 0.1, "ari_unrefined": ari - 0.05}},
    }
    for stage in stages:
        store.write_stage(stage, writers[stage]())
    return root


def _with_diagnosis(check: CheckResult, diagnosis: str) -> CheckResult:
    return replace(check, diagnosis=diagnosis)


def _with_status(check: CheckResult, status: str) -> CheckResult:
    return replace(check, status=status)
