"""Check of the ``edge_probabilities`` stage: the drop probability of each edge.

STAIG's rule, per source spot i over its edges: ``p_ij = d_ij / Σ_j d_ij`` with
``d_ij`` the Euclidean distance between the image embeddings of i and j
(``softmax(log d)``), and ``p_ij = 0`` where ``d_ij = 0``. The sides are joined
by edge (source and target barcodes), never by position in the edge list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compare.align import Side
from harness.compare.numeric import DEFAULT_ATOL, DEFAULT_RTOL, compare_arrays
from harness.compare.result import CheckResult
from harness.diagnose._support import same_upstream, with_diagnosis
from harness.diff.context import DiffContext, Mode

CHECK_ID = "edge_probabilities.values"


@dataclass(frozen=True)
class EdgeJoin:
    """The edges both sides contain, and where each side stores their probability.

    Attributes
    ----------
    sources, targets
        Shape ``(n_common,)``: aligned spot indices of each common edge.
    reference_rows, candidate_rows
        Shape ``(n_common,)``: position of each common edge in that side's edge list.
    n_reference, n_candidate
        Unique edges of each side between spots both sides share.
    """

    sources: np.ndarray
    targets: np.ndarray
    reference_rows: np.ndarray
    candidate_rows: np.ndarray
    n_reference: int
    n_candidate: int

    @property
    def n_common(self) -> int:
        """Number of edges on both sides."""
        return int(self.sources.size)


def check_values(context: DiffContext, mode: Mode) -> list[CheckResult]:
    """Compare the drop probabilities on the edges both graphs contain."""
    labels = {"check_id": CHECK_ID, "stage": "edge_probabilities", "artifact": "edge_prob"}
    threshold = context.threshold(CHECK_ID, "fraction_differing")
    reference_edges, candidate_edges, candidate_order = _input_edges(context, mode=mode)
    reference_prob = np.asarray(context.ref("edge_probabilities", "edge_prob"), dtype=np.float64)
    candidate_prob = np.asarray(
        context.cand("edge_probabilities", "edge_prob", mode=mode), dtype=np.float64
    )
    for side, edges, prob in (("reference", reference_edges, reference_prob),
                              ("candidate", candidate_edges, candidate_prob)):
        if edges.ndim != 2 or edges.shape[0] != 2 or prob.shape != (edges.shape[1],):
            return [CheckResult.errored(
                **labels, metric="fraction_differing", threshold=threshold,
                reason=(
                    f"the {side} stores {prob.shape} probabilities for edges of shape "
                    f"{edges.shape}; expected one probability per edge of a (2, E) edge list"
                ),
            )]

    join = join_edges(context, reference_edges, candidate_edges, candidate_order=candidate_order)
    if isinstance(join, str):
        return [CheckResult.errored(**labels, metric="fraction_differing", threshold=threshold,
                                    reason=join)]
    if join.n_common == 0:
        return [CheckResult.errored(
            **labels, metric="fraction_differing", threshold=threshold,
            reason="no edge is in both graphs, so no probability can be compared (see graph.edges)",
        )]
    barcodes = np.asarray(context.barcodes).astype(str)
    keys = np.char.add(np.char.add(barcodes[join.sources], " -> "), barcodes[join.targets])
    result = compare_arrays(
        reference_prob[join.reference_rows], candidate_prob[join.candidate_rows],
        threshold=threshold, keys=keys, **labels,
    )

    sentences = []
    graph_differs = join.n_common < max(join.n_reference, join.n_candidate)
    if graph_differs:
        sentences.append(
            f"compared on the {join.n_common} common edges ({join.n_reference} reference, "
            f"{join.n_candidate} candidate edges): the graph differs upstream (see graph.edges)"
        )
    if result.status == "fail":
        sentences.append(_explain_values(
            context, candidate_edges, candidate_prob, mode=mode, graph_differs=graph_differs
        ))
    return [with_diagnosis(result, "; ".join(sentence for sentence in sentences if sentence))]


check_values.check_id = CHECK_ID


def staig_edge_probabilities(edges: np.ndarray, img_emb: np.ndarray) -> np.ndarray:
    """Compute STAIG's drop probabilities ``d_ij / Σ_j d_ij`` per source spot.

    Parameters
    ----------
    edges
        Shape ``(2, E)``: (source, target) row indices into ``img_emb``.
    img_emb
        Shape ``(n_obs, n_components)``: the image embedding.

    Returns
    -------
    numpy.ndarray
        Shape ``(E,)``, float64; 0 where the distance is 0.
    """
    sources, targets = np.asarray(edges, dtype=np.int64)
    embedding = np.asarray(img_emb, dtype=np.float64)
    distance = np.linalg.norm(embedding[sources] - embedding[targets], axis=1)
    totals = np.bincount(sources, weights=distance, minlength=embedding.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        probability = np.where(distance > 0, distance / totals[sources], 0.0)
    return probability


def join_edges(
    context: DiffContext,
    reference_edges: np.ndarray,
    candidate_edges: np.ndarray,
    *,
    candidate_order: Side,
) -> EdgeJoin | str:
    """Match both sides' edges by (source, target) barcode pair.

    ``candidate_order`` names the side whose spot order the candidate's edge
    indices follow: its own, or the reference's when it scored the reference's graph.

    Returns
    -------
    EdgeJoin or str
        The join, or the reason it is impossible (an edge listed twice).
    """
    alignment = context.alignment
    n_common_spots = alignment.n_common
    ids = {}
    rows = {}
    for side, edges, alignment_side in (
        ("reference", reference_edges, "reference"),
        ("candidate", candidate_edges, candidate_order),
    ):
        position = np.full(
            alignment.n_reference if alignment_side == "reference" else alignment.n_candidate,
            -1, dtype=np.int64,
        )
        position[alignment.index(alignment_side)] = np.arange(n_common_spots, dtype=np.int64)
        edges = np.asarray(edges, dtype=np.int64)
        if edges.size and (edges.min() < 0 or edges.max() >= position.size):
            return (
                f"the {side}'s graph indexes spots {edges.min()}..{edges.max()}, outside "
                f"0..{position.size - 1} for its {position.size} barcodes"
            )
        mapped = position[edges]
        within_common = np.flatnonzero((mapped >= 0).all(axis=0))
        side_ids = mapped[0, within_common] * n_common_spots + mapped[1, within_common]
        unique, first = np.unique(side_ids, return_index=True)
        if unique.size != side_ids.size:
            return (
                f"the {side}'s graph lists {side_ids.size - unique.size} edges more than once, "
                "so its probabilities cannot be joined by (source, target)"
            )
        ids[side] = unique
        rows[side] = within_common[first]
    common, in_reference, in_candidate = np.intersect1d(
        ids["reference"], ids["candidate"], assume_unique=True, return_indices=True
    )
    return EdgeJoin(
        sources=common // n_common_spots,
        targets=common % n_common_spots,
        reference_rows=rows["reference"][in_reference],
        candidate_rows=rows["candidate"][in_candidate],
        n_reference=int(ids["reference"].size),
        n_candidate=int(ids["candidate"].size),
    )


def _input_edges(context: DiffContext, *, mode: Mode) -> tuple[np.ndarray, np.ndarray, Side]:
    """Return the edge lists each side's probabilities belong to, and the candidate's spot order.

    An isolated candidate, and one that does not build its own graph, scored the
    reference's edges, whose indices follow the reference's spot order.
    """
    reference = np.asarray(context.ref("graph", "edges"))
    if mode == "isolated" or "graph" not in context.candidate:
        return reference, reference, "reference"
    return reference, np.asarray(context.cand("graph", "edges")), "candidate"


def _explain_values(
    context: DiffContext,
    candidate_edges: np.ndarray,
    candidate_prob: np.ndarray,
    *,
    mode: Mode,
    graph_differs: bool,
) -> str:
    """Say whether the candidate follows STAIG's rule on its own inputs, and if not, how not."""
    img_emb = _candidate_img_emb(context, mode=mode)
    if img_emb is None:
        return "the candidate's image embedding is not stored, so its rule cannot be checked"
    if candidate_edges.size and candidate_edges.max() >= img_emb.shape[0]:
        return (
            f"the candidate's edges index spot {int(candidate_edges.max())} but its image "
            f"embedding has {img_emb.shape[0]} rows"
        )

    expected = staig_edge_probabilities(candidate_edges, img_emb)
    if np.allclose(candidate_prob, expected, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL):
        if mode == "chained" and not same_upstream(context, "image_embedding", "img_emb"):
            return (
                "the candidate applies STAIG's rule d_ij / Σ_j d_ij to its own inputs, so the "
                "values differ because its image embedding differs upstream "
                "(see image_embedding.img_emb)"
            )
        if graph_differs:
            return (
                "the candidate applies STAIG's rule d_ij / Σ_j d_ij to its own inputs, so the "
                "values differ because its spots have other neighbours, which changes each "
                "spot's sum Σ_j d_ij"
            )
        return (
            "the candidate applies STAIG's rule d_ij / Σ_j d_ij to its own inputs, so the "
            "values differ through an input the harness does not compare here"
        )

    if np.allclose(candidate_prob, 1.0 - expected, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL):
        return (
            "the candidate stores 1 - p, the probability of keeping an edge, where STAIG "
            "stores the probability of dropping it"
        )

    sources = np.asarray(candidate_edges[0], dtype=np.int64)
    totals = np.bincount(sources, weights=candidate_prob, minlength=img_emb.shape[0])
    has_edges = np.bincount(sources, minlength=img_emb.shape[0]) > 0
    median_total = float(np.median(totals[has_edges])) if has_edges.any() else float("nan")
    error = float(np.max(np.abs(candidate_prob - expected)))
    return (
        "the candidate's values do not follow STAIG's rule d_ij / Σ_j d_ij on its own edges "
        f"and image embedding (max abs error {error:.3g}); per source spot its probabilities "
        f"sum to {median_total:.4g} (median), STAIG's to 1"
    )


def _candidate_img_emb(context: DiffContext, *, mode: Mode) -> np.ndarray | None:
    if mode == "isolated" or "image_embedding" not in context.candidate:
        value: Any = context.ref_or_none("image_embedding", "img_emb")
    else:
        value = context.cand_or_none("image_embedding", "img_emb")
    return None if value is None else np.asarray(value, dtype=np.float64)


DIAGNOSES = [check_values]
