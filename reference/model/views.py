"""Augmented views of the spatial graph: image-guided edge dropping and gene-column masking.

Every uniform draw comes from torch's default CPU generator, in the order
STAIG's training loop uses (see :func:`draw_views`), so a CPU run seeded like
STAIG replays STAIG's views draw for draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DRAW_DTYPE = torch.float32
"""dtype of the uniform draws: torch's default float dtype, which STAIG's draws use."""


@dataclass(frozen=True)
class UndirectedEdges:
    """Each undirected edge of the spatial graph once, with its drop probability.

    Attributes
    ----------
    pairs
        ``(2, n_undirected)`` int64 on the CPU: ``(i, j)`` with ``i < j``, in
        row-major order of the adjacency matrix (sorted by ``i``, then ``j``).
    drop_prob
        ``(n_undirected,)`` float64 on the CPU: the probability stored for
        ``(i, j)`` in row ``i``, the lower index.
    """

    pairs: torch.Tensor
    drop_prob: torch.Tensor

    @property
    def n_undirected(self) -> int:
        """Number of undirected edges, which is the number of uniforms one edge view draws."""
        return int(self.pairs.shape[1])


@dataclass(frozen=True)
class Views:
    """The two augmented views of one training epoch.

    Attributes
    ----------
    edges_1, edges_2
        ``(2, 2 * n_kept)`` int64 on the CPU: the kept ``(i, j)`` pairs
        followed by the same pairs reversed.
    feature_drop_1, feature_drop_2
        ``(n_vars,)`` bool on the CPU: gene columns set to zero in each view.
    """

    edges_1: torch.Tensor
    edges_2: torch.Tensor
    feature_drop_1: torch.Tensor
    feature_drop_2: torch.Tensor


def undirected_edges(edges: torch.Tensor, edge_prob: torch.Tensor) -> UndirectedEdges:
    """Keep the edges ``(i, j)`` with ``i < j`` of a symmetric, sorted edge list.

    Parameters
    ----------
    edges
        ``(2, n_edges)`` int64, both directions of every edge, sorted by
        (source, target).
    edge_prob
        ``(n_edges,)`` float64 drop probability per directed edge, aligned with ``edges``.

    Returns
    -------
    UndirectedEdges
        Because ``edges`` is sorted, the selected pairs keep the row-major
        order of the adjacency matrix.
    """
    upper = edges[0] < edges[1]
    return UndirectedEdges(
        pairs=edges[:, upper].to(torch.int64).cpu(),
        drop_prob=edge_prob[upper].to(torch.float64).cpu(),
    )


def drop_edges(undirected: UndirectedEdges) -> torch.Tensor:
    """Draw one edge view: keep each undirected edge when its uniform ``u >= p``.

    Draws ``n_undirected`` float32 uniforms from the default CPU generator.
    The comparison promotes ``u`` to float64, which is exact.

    Returns
    -------
    torch.Tensor
        ``(2, 2 * n_kept)`` int64: kept ``(i, j)`` pairs, then the same pairs reversed.
    """
    uniforms = torch.rand(undirected.n_undirected, dtype=DRAW_DTYPE, device="cpu")
    keep = uniforms >= undirected.drop_prob
    row = undirected.pairs[0, keep]
    col = undirected.pairs[1, keep]
    return torch.stack([torch.cat([row, col]), torch.cat([col, row])])


def feature_drop_mask(n_vars: int, rate: float) -> torch.Tensor:
    """Draw which gene columns one view sets to zero: column ``g`` when ``u_g < rate``.

    Draws ``n_vars`` float32 uniforms from the default CPU generator. torch
    compares a float32 tensor with a Python float in float32, so ``rate`` is
    rounded to float32, as in STAIG.

    Returns
    -------
    torch.Tensor
        ``(n_vars,)`` bool on the CPU.
    """
    return torch.rand(n_vars, dtype=DRAW_DTYPE, device="cpu") < rate


def drop_features(features: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
    """Return a copy of ``features`` ``(n_obs, n_vars)`` with the ``drop`` columns set to 0."""
    return features.masked_fill(drop.to(features.device)[None, :], 0.0)


def draw_views(
    undirected: UndirectedEdges,
    *,
    n_vars: int,
    drop_feature_rate_1: float,
    drop_feature_rate_2: float,
) -> Views:
    """Draw both views of one epoch in STAIG's order.

    The order is: view-1 edges (``n_undirected`` uniforms), view-2 edges
    (``n_undirected``), view-1 gene columns (``n_vars``), view-2 gene columns
    (``n_vars``), all from the default CPU generator.
    """
    edges_1 = drop_edges(undirected)
    edges_2 = drop_edges(undirected)
    feature_drop_1 = feature_drop_mask(n_vars, drop_feature_rate_1)
    feature_drop_2 = feature_drop_mask(n_vars, drop_feature_rate_2)
    return Views(
        edges_1=edges_1,
        edges_2=edges_2,
        feature_drop_1=feature_drop_1,
        feature_drop_2=feature_drop_2,
    )
