"""Comparison of spatial graphs given as ``(2, E)`` directed edge arrays.

Both graphs index the same aligned spots (see
:meth:`harness.compare.align.Alignment.reindex_edges`). On a Visium grid a spot
often has six equidistant neighbours, so two correct k-nearest-neighbour graphs
can differ only in how ties were broken. :func:`tie_only_difference`
distinguishes that case from a real difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree

from harness.compare._common import key_of, row_keys
from harness.compare.result import MAX_EVIDENCE_ROWS, CheckResult, Threshold
from harness.errors import InputError

DEFAULT_MIN_EDGE_JACCARD = 1.0
"""Documented default for the minimum edge Jaccard index: the same directed edges."""

DEFAULT_TIE_RTOL = 1e-9
"""Relative tolerance under which two neighbour distances count as equal (a tie)."""

TieDistance = Literal["kth_neighbour", "farthest_reference_neighbour"]


@dataclass(frozen=True)
class TieAnalysis:
    """Whether two graphs differ only among equidistant neighbours.

    Attributes
    ----------
    tie_only
        ``True`` when the graphs differ and every differing edge is explained by a tie.
        ``False`` when a differing edge is not explained, and when the graphs are equal.
    n_differing_edges
        Directed edges present on one side only.
    n_explained
        Differing edges whose length equals the tie distance of one of their ends.
    n_unexplained
        The other differing edges.
    n_nodes_differing
        Spots that are the source of at least one differing edge.
    unexplained_examples
        Up to 100 unexplained edges as ``(source, target)`` aligned spot indices.
    tie_distance
        ``"kth_neighbour"``: each spot's distance to its k-th nearest other spot,
        from the coordinates. ``"farthest_reference_neighbour"``: its longest edge
        in the reference graph.
    rtol
        Relative tolerance of the distance comparison.
    k
        Neighbours per spot the graphs were checked against; ``None`` when not given.
    n_nodes_not_knn_reference, n_nodes_not_knn_candidate
        With ``k`` given: spots whose neighbours in that graph cannot come from a
        k-nearest-neighbour choice (fewer than k neighbours within the tie distance,
        or a strictly closer spot missing). ``None`` without ``k``.
    """

    tie_only: bool
    n_differing_edges: int
    n_explained: int
    n_unexplained: int
    n_nodes_differing: int
    unexplained_examples: tuple[tuple[int, int], ...]
    tie_distance: TieDistance
    rtol: float
    k: int | None = None
    n_nodes_not_knn_reference: int | None = None
    n_nodes_not_knn_candidate: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the analysis as a JSON-compatible dict."""
        data = asdict(self)
        data["unexplained_examples"] = [list(edge) for edge in self.unexplained_examples]
        return data


def tie_only_difference(
    edges_reference: Any,
    edges_candidate: Any,
    spatial: Any,
    *,
    k: int | None = None,
    rtol: float = DEFAULT_TIE_RTOL,
) -> TieAnalysis:
    """Test whether two kNN graphs differ only in how equidistant neighbours were chosen.

    A k-nearest-neighbour graph must contain every spot closer than a spot's k-th
    neighbour. Two correct graphs can therefore choose differently only among the
    spots at exactly that distance. A differing edge ``(i, j)`` is therefore explained
    when its length equals, within ``rtol``, the tie distance of ``i`` or of ``j``
    (in a symmetrised graph the edge may come from ``j``'s choice). With ``k``
    given, both graphs must also be valid k-nearest-neighbour graphs at every
    spot: this catches a candidate that used another k on a grid where all
    neighbours are equidistant, whose differing edges would all look like ties.
    Fully vectorised: edges are compared as sorted ids, no loop over spots.

    Parameters
    ----------
    edges_reference, edges_candidate
        Shape ``(2, E)``, integer (source, target) indices into ``spatial``.
    spatial
        Shape ``(n_obs, 2)``: spot coordinates, px.
    k
        Neighbours per spot used to build the graphs. When given, each spot's tie
        distance is its k-th nearest-neighbour distance (KD-tree). When ``None``, it is
        the spot's longest reference edge. That is exact for a directed kNN graph but
        can overestimate the distance in a symmetrised graph, so pass ``k`` there.
    rtol
        Relative tolerance for equal distances, default :data:`DEFAULT_TIE_RTOL`.

    Returns
    -------
    TieAnalysis

    Raises
    ------
    InputError
        For malformed edges or coordinates, or ``k`` outside ``1 .. n_obs - 1``.
    """
    points = np.asarray(spatial, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        msg = f"`spatial` has shape {points.shape}; expected finite (n_obs, 2) coordinates"
        raise InputError(msg)
    n_obs = points.shape[0]
    first = _validated_edges(edges_reference, n_nodes=n_obs, side="reference")
    second = _validated_edges(edges_candidate, n_nodes=n_obs, side="candidate")
    if rtol < 0:
        msg = f"`rtol` is {rtol}; expected a number >= 0"
        raise InputError(msg)

    if k is not None:
        if not 1 <= k < n_obs:
            msg = f"`k` is {k}; expected 1 <= k < {n_obs} (the number of spots)"
            raise InputError(msg)
        distances, _ = cKDTree(points).query(points, k=k + 1)
        tie = distances[:, k]
        tie_distance: TieDistance = "kth_neighbour"
    else:
        tie = _farthest_neighbour(first, points)
        tie_distance = "farthest_reference_neighbour"

    ids_first = _edge_ids(first, n_obs)
    ids_second = _edge_ids(second, n_obs)
    not_knn: list[int | None] = [None, None]
    if k is not None:
        # Other spots strictly closer than the k-th neighbour; column 0 is the spot itself.
        n_closer = (distances[:, 1:] < tie[:, None] * (1 - rtol)).sum(axis=1)
        not_knn = [
            int(_not_knn_nodes(ids, points, tie=tie, n_closer=n_closer, k=k, rtol=rtol).sum())
            for ids in (ids_first, ids_second)
        ]
    differing = np.concatenate([
        np.setdiff1d(ids_first, ids_second, assume_unique=True),
        np.setdiff1d(ids_second, ids_first, assume_unique=True),
    ])
    sources, targets = differing // n_obs, differing % n_obs
    length = np.hypot(*(points[sources] - points[targets]).T)
    explained = _same_distance(length, tie[sources], rtol) | _same_distance(
        length, tie[targets], rtol
    )
    unexplained = np.flatnonzero(~explained)
    graphs_valid = not any(not_knn)
    return TieAnalysis(
        tie_only=bool(differing.size > 0 and unexplained.size == 0 and graphs_valid),
        n_differing_edges=int(differing.size),
        n_explained=int(explained.sum()),
        n_unexplained=int(unexplained.size),
        n_nodes_differing=int(np.unique(sources).size),
        unexplained_examples=tuple(
            (int(sources[i]), int(targets[i])) for i in unexplained[:MAX_EVIDENCE_ROWS]
        ),
        tie_distance=tie_distance,
        rtol=float(rtol),
        k=k,
        n_nodes_not_knn_reference=not_knn[0],
        n_nodes_not_knn_candidate=not_knn[1],
    )


def compare_graphs(
    edges_reference: Any,
    edges_candidate: Any,
    *,
    n_nodes: int,
    spatial: Any = None,
    k: int | None = None,
    threshold: Threshold | None = None,
    keys: Any = None,
    check_id: str = "graphs.edges",
    stage: str = "",
    artifact: str = "",
) -> CheckResult:
    """Judge the edge Jaccard index between two directed graphs on the same spots.

    Parameters
    ----------
    edges_reference, edges_candidate
        Shape ``(2, E)``, integer (source, target) aligned spot indices.
    n_nodes
        Number of aligned spots; every index must be below it.
    spatial
        Shape ``(n_nodes, 2)``: spot coordinates in px. When given, the differing
        edges are analysed with :func:`tie_only_difference` (``details["ties"]``).
    k
        Passed to :func:`tie_only_difference`.
    threshold
        Bound on the edge Jaccard index, default
        ``Threshold(DEFAULT_MIN_EDGE_JACCARD, "min")``.
    keys
        Shape ``(n_nodes,)``: barcodes for the evidence; spot indices when ``None``.
    check_id, stage, artifact
        Labels of the result.

    Returns
    -------
    CheckResult
        Metric ``"edge_jaccard"`` over unique directed edges. ``details`` per side:
        edge count, duplicated edges, self-loops, out-degree mean/min/max, and the
        fraction of edges whose reverse is missing. Evidence: differing edges sorted
        by source, keyed by the source's barcode. Malformed edges, indices out of
        range or two empty graphs give status ``"error"``.

    Raises
    ------
    InputError
        For ``n_nodes < 1``, or ``keys`` or ``spatial`` that do not fit ``n_nodes``.
    """
    threshold = threshold or Threshold(DEFAULT_MIN_EDGE_JACCARD, "min")
    labels = {"check_id": check_id, "stage": stage, "artifact": artifact}
    metric = "edge_jaccard"
    if n_nodes < 1:
        msg = f"`n_nodes` is {n_nodes}; expected the number of aligned spots, >= 1"
        raise InputError(msg)
    labels_of_rows = row_keys(keys, n_rows=n_nodes)

    edges = {}
    for side, values in (("reference", edges_reference), ("candidate", edges_candidate)):
        try:
            edges[side] = _validated_edges(values, n_nodes=n_nodes, side=side)
        except InputError as error:
            return CheckResult.errored(**labels, metric=metric, threshold=threshold,
                                       reason=str(error))
    ids_first = _edge_ids(edges["reference"], n_nodes)
    ids_second = _edge_ids(edges["candidate"], n_nodes)
    if ids_first.size == 0 and ids_second.size == 0:
        return CheckResult.errored(**labels, metric=metric, threshold=threshold,
                                   reason="nothing to compare: both graphs have no edges")

    only_first = np.setdiff1d(ids_first, ids_second, assume_unique=True)
    only_second = np.setdiff1d(ids_second, ids_first, assume_unique=True)
    n_common = ids_first.size - only_first.size
    jaccard = n_common / (ids_first.size + ids_second.size - n_common)

    details: dict[str, Any] = {
        "n_nodes": n_nodes,
        "reference": _graph_stats(edges["reference"], ids_first, n_nodes),
        "candidate": _graph_stats(edges["candidate"], ids_second, n_nodes),
        "n_common_edges": int(n_common),
        "n_only_in_reference": int(only_first.size),
        "n_only_in_candidate": int(only_second.size),
    }
    ties = None
    if spatial is not None:
        points = np.asarray(spatial)
        if points.shape != (n_nodes, 2):
            msg = f"`spatial` has shape {points.shape}; expected ({n_nodes}, 2)"
            raise InputError(msg)
        ties = tie_only_difference(edges["reference"], edges["candidate"], points, k=k)
        details["ties"] = ties.to_json()

    evidence = _edge_evidence(only_first, only_second, n_nodes=n_nodes, keys=labels_of_rows,
                              spatial=spatial)
    context = (
        f"{n_common} common edges; {only_first.size} only in reference, "
        f"{only_second.size} only in candidate; mean out-degree "
        f"{details['reference']['degree_mean']:.4g} vs {details['candidate']['degree_mean']:.4g}"
    )
    if ties is not None and ties.n_differing_edges:
        context += "; " + _describe_ties(ties)
    return CheckResult.judged(
        **labels, metric=metric, observed=jaccard, threshold=threshold, context=context,
        evidence=evidence, n_offending=int(only_first.size + only_second.size),
        details=details,
    )


def _describe_ties(ties: TieAnalysis) -> str:
    if ties.tie_only:
        return "every differing edge joins equidistant neighbours (tie-breaking only)"
    parts = []
    if ties.n_unexplained:
        parts.append(f"{ties.n_unexplained} differing edges are not explained by ties")
    if ties.n_nodes_not_knn_reference or ties.n_nodes_not_knn_candidate:
        parts.append(
            f"the edges of {ties.n_nodes_not_knn_reference} reference and "
            f"{ties.n_nodes_not_knn_candidate} candidate spots cannot come from a "
            f"{ties.k}-nearest-neighbour choice"
        )
    return "; ".join(parts)


def _validated_edges(values: Any, *, n_nodes: int, side: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[0] != 2 or array.dtype.kind not in "iu":
        msg = (
            f"{side} edges have shape {array.shape} and dtype {array.dtype}; expected an "
            "integer array of shape (2, E)"
        )
        raise InputError(msg)
    if array.size and (array.min() < 0 or array.max() >= n_nodes):
        msg = (
            f"{side} edges index spots {array.min()}..{array.max()}, outside 0..{n_nodes - 1}"
        )
        raise InputError(msg)
    return array.astype(np.int64)


def _edge_ids(edges: np.ndarray, n_nodes: int) -> np.ndarray:
    """Return the sorted unique ids ``source * n_nodes + target`` of the edges."""
    return np.unique(edges[0] * n_nodes + edges[1])


def _graph_stats(edges: np.ndarray, ids: np.ndarray, n_nodes: int) -> dict[str, Any]:
    sources, targets = ids // n_nodes, ids % n_nodes
    degree = np.bincount(sources, minlength=n_nodes)
    reverse = targets * n_nodes + sources
    return {
        "n_edges": int(edges.shape[1]),
        "n_duplicated_edges": int(edges.shape[1] - ids.size),
        "n_self_loops": int((sources == targets).sum()),
        "degree_mean": float(degree.mean()),
        "degree_min": int(degree.min()),
        "degree_max": int(degree.max()),
        "fraction_reverse_missing": (
            float(np.mean(~np.isin(reverse, ids))) if ids.size else 0.0
        ),
    }


def _farthest_neighbour(edges: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Return each spot's longest outgoing edge length (NaN for spots without edges)."""
    longest = np.full(points.shape[0], -np.inf)
    lengths = np.hypot(*(points[edges[0]] - points[edges[1]]).T)
    np.maximum.at(longest, edges[0], lengths)
    longest[np.isneginf(longest)] = np.nan
    return longest


def _not_knn_nodes(
    ids: np.ndarray, points: np.ndarray, *, tie: np.ndarray, n_closer: np.ndarray, k: int,
    rtol: float,
) -> np.ndarray:
    """Flag spots whose edges cannot contain a k-nearest-neighbour choice of theirs.

    A spot's own k choices all lie within its tie distance, and every spot strictly
    closer than that distance must be among them.
    """
    n_obs = points.shape[0]
    sources, targets = ids // n_obs, ids % n_obs
    keep = sources != targets
    sources, targets = sources[keep], targets[keep]
    length = np.hypot(*(points[sources] - points[targets]).T)
    within = length <= tie[sources] * (1 + rtol)
    closer = length < tie[sources] * (1 - rtol)
    n_within = np.bincount(sources[within], minlength=n_obs)
    n_closer_present = np.bincount(sources[closer], minlength=n_obs)
    return (n_within < k) | (n_closer_present < n_closer)


def _same_distance(length: np.ndarray, tie: np.ndarray, rtol: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(length - tie) <= rtol * np.maximum(length, tie)


def _edge_evidence(
    only_first: np.ndarray,
    only_second: np.ndarray,
    *,
    n_nodes: int,
    keys: np.ndarray | None,
    spatial: Any,
) -> list[dict[str, Any]]:
    """Return up to 100 differing edges, sorted by source then target."""
    ids = np.concatenate([only_first, only_second])
    side = np.r_[np.zeros(only_first.size, dtype=bool), np.ones(only_second.size, dtype=bool)]
    order = np.argsort(ids, kind="stable")[:MAX_EVIDENCE_ROWS]
    points = None if spatial is None else np.asarray(spatial, dtype=np.float64)
    rows = []
    for index in order:
        source, target = divmod(int(ids[index]), n_nodes)
        row = {
            "key": key_of(keys, source),
            "target": key_of(keys, target),
            "side": "candidate only" if side[index] else "reference only",
        }
        if points is not None:
            row["distance_px"] = float(np.hypot(*(points[source] - points[target])))
        rows.append(row)
    return rows
