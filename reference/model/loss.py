"""STAIG's neighbour contrastive loss with pseudo-label masking of the negatives.

With ``e(a, b) = exp(cos(a, b) / tau)``, neighbours ``N(i)`` from the
undropped spatial graph (self-loops removed) and ``m_ij = 1`` when the
pseudo-labels of spots ``i`` and ``j`` differ, the loss of anchor ``i`` in
view 1 is ``-log(pos_i / neg_i / (2 |N(i)| + 1))`` with::

    pos_i = e(z1_i, z2_i) + sum_{j in N(i)} e(z1_i, z1_j) + sum_{j in N(i)} e(z1_i, z2_j)
    neg_i = sum_j m_ij e(z1_i, z1_j) + sum_j m_ij e(z1_i, z2_j) - e(z1_i, z1_i)

STAIG (``nei_con_loss_bias`` in ``staig/net.py``) subtracts the self term
although ``m_ii = 0`` already removed it, and the reference keeps that. The total
is the mean over spots of the view-1 and view-2 anchor losses averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class NeighbourGraph:
    """Positive pairs of the loss: the undropped spatial graph without self-loops.

    Attributes
    ----------
    source, target
        ``(n_edges,)`` int64: directed edges ``source -> target``, sorted by source.
    n_neighbours
        ``(n_obs,)`` float64: ``|N(i)|``, the number of distinct neighbours.
    """

    source: torch.Tensor
    target: torch.Tensor
    n_neighbours: torch.Tensor

    @property
    def n_obs(self) -> int:
        """Number of spots."""
        return int(self.n_neighbours.shape[0])

    def to(self, device: torch.device | str) -> NeighbourGraph:
        """Return the graph on ``device``."""
        return NeighbourGraph(
            source=self.source.to(device),
            target=self.target.to(device),
            n_neighbours=self.n_neighbours.to(device),
        )


def neighbour_graph(edges: torch.Tensor, *, n_obs: int) -> NeighbourGraph:
    """Build the positive pairs from a duplicate-free ``(2, n_edges)`` edge list.

    Self-loops are removed, as STAIG removes the adjacency's diagonal.
    """
    not_self = edges[0] != edges[1]
    source = edges[0, not_self].to(torch.int64)
    target = edges[1, not_self].to(torch.int64)
    n_neighbours = torch.bincount(source, minlength=n_obs).to(torch.float64)
    return NeighbourGraph(source=source, target=target, n_neighbours=n_neighbours)


def different_labels(pseudo_labels: torch.Tensor) -> torch.Tensor:
    """Return the negative mask ``m`` ``(n_obs, n_obs)`` bool: pseudo-labels of i and j differ."""
    return pseudo_labels[:, None] != pseudo_labels[None, :]


def exp_cosine(a: torch.Tensor, b: torch.Tensor, *, tau: float) -> torch.Tensor:
    """Return ``exp(cos(a_i, b_j) / tau)`` for all pairs: ``(n_a, n_b)``.

    Rows are L2-normalised as ``torch.nn.functional.normalize`` does (norm
    clamped below at 1e-12), then multiplied, as in STAIG.
    """
    return torch.exp(torch.mm(F.normalize(a), F.normalize(b).t()) / tau)


def anchor_losses(
    anchor: torch.Tensor,
    other: torch.Tensor,
    *,
    graph: NeighbourGraph,
    negative_mask: torch.Tensor,
    tau: float,
) -> torch.Tensor:
    """Return the loss of every spot as an anchor in the view of ``anchor``: ``(n_obs,)``.

    Parameters
    ----------
    anchor, other
        ``(n_obs, n_hidden)`` projected embeddings of the anchor's view and of the other view.
    graph
        Positive pairs, on the embeddings' device.
    negative_mask
        ``(n_obs, n_obs)`` bool, true where pseudo-labels differ.
    tau
        Temperature.
    """
    # Memory: two (n_obs, n_obs) float64 matrices per call stay alive for the
    # backward pass (8 * n_obs**2 bytes each: 106 MB at n_obs = 3639), and up
    # to two more exist while each is built and masked.
    intra = exp_cosine(anchor, anchor, tau=tau)
    inter = exp_cosine(anchor, other, tau=tau)

    source, target = graph.source, graph.target
    zeros = torch.zeros(graph.n_obs, dtype=intra.dtype, device=intra.device)
    intra_neighbours = zeros.index_add(0, source, intra[source, target])
    inter_neighbours = zeros.index_add(0, source, inter[source, target])
    positive = inter.diagonal() + intra_neighbours + inter_neighbours

    same_label = ~negative_mask
    negative = (
        intra.masked_fill(same_label, 0.0).sum(1)
        + inter.masked_fill(same_label, 0.0).sum(1)
        - intra.diagonal()
    )

    n_positive = 2.0 * graph.n_neighbours + 1.0
    return -torch.log(positive / negative / n_positive)


def neighbour_contrastive_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    graph: NeighbourGraph,
    pseudo_labels: torch.Tensor,
    tau: float,
) -> torch.Tensor:
    """Return the symmetric loss: mean over spots of the two views' anchor losses averaged.

    Parameters
    ----------
    z1, z2
        ``(n_obs, n_hidden)`` projected embeddings of view 1 and view 2.
    graph
        Positive pairs from the undropped graph, on the embeddings' device.
    pseudo_labels
        ``(n_obs,)`` integer pseudo-labels, on the embeddings' device.
    tau
        Temperature (STAIG's config key ``tau``, 35 for slice 151673).

    Notes
    -----
    Dense pairwise matrices are what the loss sums over, so memory grows
    with ``n_obs**2``: about four ``(n_obs, n_obs)`` float64 matrices kept for
    the backward pass (``4 * 8 * n_obs**2`` bytes, 424 MB at 3639 spots), plus
    the bool mask (13 MB) and transient products.
    """
    negative_mask = different_labels(pseudo_labels)
    loss_1 = anchor_losses(z1, z2, graph=graph, negative_mask=negative_mask, tau=tau)
    loss_2 = anchor_losses(z2, z1, graph=graph, negative_mask=negative_mask, tau=tau)
    return ((loss_1 + loss_2) * 0.5).mean()
