"""Check of the ``graph`` stage: the symmetric k-nearest-neighbour spatial graph.

Two correct graphs can differ on a Visium grid: a spot has six equidistant
neighbours and STAIG keeps five, chosen by numpy's unstable argsort. The
check separates that case (a warning) from a real divergence: another number
of neighbours, a graph that was not made symmetric, or neighbours measured in
another coordinate frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from harness.compare.graphs import compare_graphs
from harness.compare.result import CheckResult
from harness.diagnose._support import (
    aligned_edges,
    as_metric,
    downgrade_to_warn,
    with_diagnosis,
)
from harness.diagnose.vocabulary import lookup
from harness.diff.context import DiffContext, Mode

CHECK_ID = "graph.edges"

COORDINATE_ATOL_PX = 1e-6
"""Largest difference, in px, between the sides' ``load/spatial`` that counts as equal."""

KSource = Literal["config", "minimum out-degree"]


@dataclass(frozen=True)
class NeighbourCount:
    """Neighbours each spot chose on one side, and where the number comes from.

    Attributes
    ----------
    k
        Neighbours per spot before symmetrisation; ``None`` for a graph without edges.
    source
        ``"config"``: the side's graph config (``num_neigh`` or an alias).
        ``"minimum out-degree"``: inferred from the graph. Symmetrising a kNN graph
        only adds edges, so every spot keeps at least its own k, and a spot that
        no other spot chose has exactly k.
    degree_min, degree_mode
        Smallest and most frequent out-degree over spots with at least one edge.
    """

    k: int | None
    source: KSource
    degree_min: int | None
    degree_mode: int | None

    def to_json(self) -> dict[str, Any]:
        """Return the count as a JSON-compatible dict."""
        return {"k": self.k, "source": self.source, "degree_min": self.degree_min,
                "degree_mode": self.degree_mode}


def check_edges(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Judge the edge Jaccard index of the two graphs and name the cause of a difference."""
    reference_edges, candidate_edges = aligned_edges(context, mode=mode)
    n_nodes = context.alignment.n_common
    spatial, _ = context.pair("load", "spatial")
    spatial = np.asarray(spatial, dtype=np.float64)

    counts = {
        "reference": neighbour_count(
            reference_edges, n_nodes=n_nodes, config=context.ref_or_none("graph", "config")
        ),
        "candidate": neighbour_count(
            candidate_edges, n_nodes=n_nodes,
            config=context.cand_or_none("graph", "config", mode=mode),
        ),
    }
    k_for_ties = counts["reference"].k
    if k_for_ties is not None and not 1 <= k_for_ties < n_nodes:
        k_for_ties = None
    result = compare_graphs(
        reference_edges, candidate_edges, n_nodes=n_nodes, spatial=spatial, k=k_for_ties,
        threshold=context.threshold(CHECK_ID, "jaccard"), keys=context.barcodes,
        check_id=CHECK_ID, stage="graph", artifact="edges",
    )
    result = as_metric(result, "jaccard")
    details = {**result.details, "neighbours_per_spot": {
        side: count.to_json() for side, count in counts.items()
    }}
    result = dataclasses.replace(result, details=details)
    if result.status != "fail":
        return [result]

    status, diagnosis = _diagnose(context, result, counts=counts, mode=mode)
    if status == "warn":
        result = downgrade_to_warn(result)
    return [with_diagnosis(result, diagnosis)]


check_edges.check_id = CHECK_ID


def neighbour_count(
    edges: np.ndarray, *, n_nodes: int, config: Mapping[str, Any] | None
) -> NeighbourCount:
    """Return the neighbours per spot of one side: from its config, else from its degrees.

    Parameters
    ----------
    edges
        Shape ``(2, E)``, aligned spot indices.
    n_nodes
        Number of aligned spots.
    config
        The side's ``graph/config``; ``num_neigh`` is read under any alias
        of :mod:`harness.diagnose.vocabulary`.
    """
    sources, targets = np.asarray(edges, dtype=np.int64)
    unique = np.unique(sources[sources != targets] * n_nodes + targets[sources != targets])
    degree = np.bincount(unique // n_nodes, minlength=n_nodes)
    degree = degree[degree > 0]
    degree_min = int(degree.min()) if degree.size else None
    degree_mode = int(np.bincount(degree).argmax()) if degree.size else None

    configured = lookup(config, "num_neigh", stage="graph")
    if isinstance(configured, int | float) and not isinstance(configured, bool):
        return NeighbourCount(int(configured), "config", degree_min, degree_mode)
    return NeighbourCount(degree_min, "minimum out-degree", degree_min, degree_mode)


def _diagnose(
    context: DiffContext,
    result: CheckResult,
    *,
    counts: Mapping[str, NeighbourCount],
    mode: Mode,
) -> tuple[Literal["fail", "warn"], str]:
    """Return the status and the sentence that explain a failing edge comparison."""
    reference_stats = result.details["reference"]
    candidate_stats = result.details["candidate"]
    ties = result.details.get("ties", {})
    k_reference, k_candidate = counts["reference"].k, counts["candidate"].k

    sentences = []
    if candidate_stats["fraction_reverse_missing"] > 0 and not (
        reference_stats["fraction_reverse_missing"] > 0
    ):
        n_unique = candidate_stats["n_edges"] - candidate_stats["n_duplicated_edges"]
        n_missing = round(candidate_stats["fraction_reverse_missing"] * n_unique)
        sentences.append(
            f"the candidate's graph is not symmetric: {n_missing} of its {n_unique} directed "
            "edges lack the reverse edge, where STAIG joins two spots when either chose the "
            "other (the kNN adjacency plus its transpose)"
        )
    if candidate_stats["n_self_loops"] and not reference_stats["n_self_loops"]:
        sentences.append(
            f"the candidate's graph has {candidate_stats['n_self_loops']} self-loops, which "
            "STAIG's adjacency does not (GCNConv adds them itself)"
        )
    if k_reference is not None and k_candidate is not None and k_reference != k_candidate:
        sentences.append(
            f"candidate chose {k_candidate} neighbours per spot, the reference {k_reference} "
            f"(num_neigh){_k_source(counts)}"
        )
    if sentences:
        return "fail", "; ".join(sentences)

    if ties.get("tie_only"):
        return "warn", (
            "the graphs differ only in which of several equidistant neighbours were chosen "
            f"({ties['n_differing_edges']} edges); STAIG's unstable argsort makes this "
            "machine-dependent"
        )
    if mode == "chained" and not _same_coordinates(context):
        return "fail", (
            "the candidate built its graph on other coordinates: its load/spatial differs "
            "from the reference's (see load.spatial)"
        )
    n_not_knn = ties.get("n_nodes_not_knn_candidate")
    if n_not_knn:
        return "fail", (
            f"at {n_not_knn} spots the candidate's neighbours are not the {ties['k']} nearest "
            "spots in full-resolution px: the candidate measured distances in another "
            "coordinate frame or with another metric"
        )
    n_unexplained = ties.get("n_unexplained", result.n_offending)
    return "fail", (
        f"{n_unexplained} differing edges join spots that are not equidistant neighbours, "
        "and both graphs are valid kNN graphs with the same k: the sides choose neighbours "
        "by different rules"
    )


def _k_source(counts: Mapping[str, NeighbourCount]) -> str:
    sources = {count.source for count in counts.values()}
    if sources == {"config"}:
        return ", as each side's graph config records"
    inferred = [side for side, count in counts.items() if count.source != "config"]
    return f"; for the {' and the '.join(inferred)}, k is the minimum out-degree of its graph"


def _same_coordinates(context: DiffContext) -> bool:
    if not context.has_artifact("load", "spatial"):
        return True
    reference, candidate = context.pair("load", "spatial")
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    return reference.shape == candidate.shape and bool(
        np.allclose(reference, candidate, rtol=0, atol=COORDINATE_ATOL_PX)
    )


DIAGNOSES = [check_edges]
