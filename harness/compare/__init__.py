"""Comparators of the diff engine: pure functions from two artifacts to a :class:`CheckResult`.

Nothing here runs a pipeline; every function reads arrays or JSON dicts that
the runs already wrote, so a report can be recomputed from disk. Per-spot
arrays must first be aligned by barcode with :func:`align_barcodes`.
"""

from harness.compare.align import Alignment, align_barcodes, check_alignment
from harness.compare.configs import compare_configs
from harness.compare.coordinates import ScaleFit, compare_coordinates, fit_scale_translation
from harness.compare.genes import compare_gene_sets
from harness.compare.graphs import TieAnalysis, compare_graphs, tie_only_difference
from harness.compare.images import compare_patches
from harness.compare.labels import compare_labels
from harness.compare.numeric import compare_arrays
from harness.compare.provenance import (
    check_encoder_request,
    compare_backend_records,
    compare_encoder_records,
    compare_records,
)
from harness.compare.representation import (
    compare_cka,
    compare_knn_overlap,
    knn_overlap,
    linear_cka,
)
from harness.compare.result import (
    MAX_EVIDENCE_ROWS,
    STATUSES,
    CheckResult,
    Status,
    Threshold,
)

__all__ = [
    "MAX_EVIDENCE_ROWS",
    "STATUSES",
    "Alignment",
    "CheckResult",
    "ScaleFit",
    "Status",
    "Threshold",
    "TieAnalysis",
    "align_barcodes",
    "check_alignment",
    "check_encoder_request",
    "compare_arrays",
    "compare_backend_records",
    "compare_cka",
    "compare_configs",
    "compare_coordinates",
    "compare_encoder_records",
    "compare_gene_sets",
    "compare_graphs",
    "compare_knn_overlap",
    "compare_labels",
    "compare_patches",
    "compare_records",
    "fit_scale_translation",
    "knn_overlap",
    "linear_cka",
    "tie_only_difference",
]
